/* signal_handlers.h — aio.add_signal_handler, aio.remove_signal_handler, aio.wait_signal
 * on libuv's uv_signal_t (the handler runs through the loop, never inside the OS signal
 * handler), and the signal names both this part and process.c accept. */
#ifndef LUAIO_SIGNAL_HANDLERS_H
#define LUAIO_SIGNAL_HANDLERS_H

#include "runtime.h"

/* The signal at arg: a name ("SIGTERM") or a number. Raises an argument error naming the
 * function for an unknown name or number; with `catchable`, also for SIGKILL and SIGSTOP.
 * `allow_zero`: 0 is accepted (kill(2)'s existence check). */
int luaio_check_signal(lua_State *L, int arg, int catchable, int allow_zero);
/* "SIGTERM" for SIGTERM, NULL for a number without a name. */
const char *luaio_signal_name(int signum);

void luaio_signal_handlers_open(lua_State *L, luaio_runtime *rt);

#endif
