/* dump.h — aio.dump_tasks: every live task as a tree, with what it waits on. */
#ifndef LUAIO_DUMP_H
#define LUAIO_DUMP_H

#include "runtime.h"

void luaio_dump_open(lua_State *L, luaio_runtime *rt);

#endif
