/* signals.h — interrupts (SIGINT) and dump requests (SIGUSR1) that arrive from a signal
 * handler or another thread: a flag, a debug hook for a task busy in Lua code, and an
 * async wake-up for the loop. */
#ifndef LUAIO_SIGNALS_H
#define LUAIO_SIGNALS_H

#include "runtime.h"

void luaio_signals_init(luaio_runtime *rt);
/* Delivers what is pending: the dump, then the interrupt (cancels its target). */
void luaio_signals_deliver(luaio_runtime *rt);
#define luaio_signals_pending(rt) ((rt)->dump_pending || (rt)->interrupt_pending)
void luaio_signals_interrupt(luaio_runtime *rt);
void luaio_signals_request_dump(luaio_runtime *rt);
/* The task an interrupt cancels is the value on top (popped); default the main task. */
void luaio_signals_set_target(lua_State *L, luaio_runtime *rt);
/* At close: a runtime opened later on L starts with no target. */
void luaio_signals_forget(lua_State *L);

#endif
