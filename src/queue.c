/* queue.c — Queue, LifoQueue, PriorityQueue (issue 3). */
#include "runtime.h"

void luaio_queue_open(lua_State *L, luaio_runtime *rt) {
  (void)L;
  (void)rt;
}
