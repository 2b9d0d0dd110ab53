/* thread.h — aio.to_thread(fn, ...): fn runs on a libuv worker thread in a Lua state of
 * its own; arguments and results cross as a serialized copy. */
#ifndef LUAIO_THREAD_H
#define LUAIO_THREAD_H

#include "runtime.h"

void luaio_thread_open(lua_State *L, luaio_runtime *rt);

#endif
