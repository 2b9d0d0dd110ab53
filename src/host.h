/* host.h — the luaio binary's shared plumbing (host.c): main.c and repl.c both run chunks
 * as the main task and rely on the same signal handlers. */
#ifndef LUAIO_HOST_H
#define LUAIO_HOST_H

#include <signal.h>
#include <lua.h>
#include "luaio.h"

/* Runs the function below nargs arguments as the main task, printing a failure;
 * returns 0, 1 (error) or 130 (interrupted). */
int luaio_main_run(lua_State *L, int nargs, int nresults);
/* Set by the SIGINT handler; cleared at each luaio_main_run. */
extern volatile sig_atomic_t luaio_main_interrupted;
/* SIGINT cancels the running chunk; SIGUSR1 prints aio.dump_tasks() to stderr
 * (luaio_request_dump); SIGPIPE is ignored. */
void luaio_main_install_signals(lua_State *L);
/* Before lua_close: the handlers reach no runtime any more. */
void luaio_main_forget_signals(void);

#endif
