/* dump.c — aio.dump_tasks (issue 6). */
#include "runtime.h"

void luaio_dump_open(lua_State *L, luaio_runtime *rt) {
  (void)L;
  (void)rt;
}
