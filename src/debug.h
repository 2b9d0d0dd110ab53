/* debug.h — debug mode (aio.Runner{debug = true} or LUAIO_DEBUG=1): its switches and
 * where a call came from, which tasks, coroutine objects and resources record in it. */
#ifndef LUAIO_DEBUG_H
#define LUAIO_DEBUG_H

#include "runtime.h"

/* Pushes "file:line" of the first frame at `level` or above (of L's stack) that is not
 * the Lua layer's own ("[luaio.*]" chunks) nor a C function, or nil when there is none. */
void luaio_debug_push_site(lua_State *L, int level);
/* Whether debug mode is on (a compare: callers test it before recording anything). */
static inline int luaio_debug_on(const luaio_runtime *rt) { return rt->debug; }
/* Reads LUAIO_DEBUG, registers aio._debug(on [, slow_seconds]) for aio.Runner. */
void luaio_debug_open(lua_State *L, luaio_runtime *rt);

#endif
