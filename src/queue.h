/* queue.h — Queue, LifoQueue, PriorityQueue. */
#ifndef LUAIO_QUEUE_H
#define LUAIO_QUEUE_H

#include "runtime.h"

void luaio_queue_open(lua_State *L, luaio_runtime *rt);

#endif
