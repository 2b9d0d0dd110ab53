/* stream.c — StreamReader / StreamWriter (issue 5). */
#include "runtime.h"

void luaio_stream_open(lua_State *L, luaio_runtime *rt) {
  (void)L;
  (void)rt;
}
