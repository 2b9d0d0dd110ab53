/* gather.h — aio.gather in C: one watch per child, the parent woken once. */
#ifndef LUAIO_GATHER_H
#define LUAIO_GATHER_H

#include "runtime.h"

void luaio_gather_open(lua_State *L, luaio_runtime *rt);

#endif
