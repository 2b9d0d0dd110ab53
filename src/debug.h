/* debug.h — debug mode (aio.Runner{debug = true} or LUAIO_DEBUG=1): its switches and
 * where a call came from, which tasks, coroutine objects and resources record in it; the
 * reports built on them (slow steps, never-awaited coroutine objects) and call graphs
 * (who awaits whom: aio.call_graph, "awaited by" in error reports, dumps). */
#ifndef LUAIO_DEBUG_H
#define LUAIO_DEBUG_H

#include "runtime.h"
#include "list.h"

struct luaio_task;

/* Pushes "file:line" of the first frame at `level` or above (of L's stack) that is not
 * the Lua layer's own ("[luaio.*]" chunks) nor a C function, or nil when there is none. */
void luaio_debug_push_site(lua_State *L, int level);
/* Whether debug mode is on (a compare: callers test it before recording anything). */
static inline int luaio_debug_on(const luaio_runtime *rt) { return rt->debug; }
/* Reads LUAIO_DEBUG, registers aio._debug(on [, slow_seconds]) for aio.Runner, the
 * call graph functions and the Lua layer's never-awaited report. */
void luaio_debug_open(lua_State *L, luaio_runtime *rt);

/* Debug mode's dispatch of a ready node (loop.c calls it instead of its own when
 * rt->debug): runs it, timing it with the real clock; a step or callback longer than
 * rt->slow_ns is reported through the exception handler. */
void luaio_debug_dispatch(luaio_runtime *rt, lua_State *L, luaio_node *n);
/* Debug mode: records where the task at tidx (just made) was created. */
void luaio_debug_record_created(lua_State *L, int tidx);
/* Pushes where task t was created ("file:line"), or nil when debug mode was off. */
void luaio_debug_push_created(lua_State *L, struct luaio_task *t);
/* The i-th task (from 0) awaiting t now — awaiting it directly, through a watch that
 * names its awaiter (a gather), or through a link the Lua layer made (aio._awaited_by:
 * shield, TaskGroup, a job's waiters) — or NULL. */
struct luaio_task *luaio_task_awaiter(lua_State *L, struct luaio_task *t, int i);
/* The task at tidx is failing (its error not yet set) and someone awaits it: appends to
 * its traceback "awaited by <name>" and the stack where each awaiter is suspended (an
 * awaiter that fails in turn re-raises it with its own traceback and awaiters: the chain
 * reads outwards). */
void luaio_debug_note_awaiters(lua_State *L, int tidx, struct luaio_task *t);

#endif
