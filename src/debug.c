/* debug.c — debug mode's switches (aio.Runner{debug = true}, LUAIO_DEBUG=1 in the
 * environment) and the creation sites that tasks, coroutine objects and resources record
 * while it is on. */
#include <stdlib.h>
#include <string.h>
#include "debug.h"

#define SLOW_DEFAULT_NS 100000000u /* 0.1 s, as asyncio's slow_callback_duration */

void luaio_debug_push_site(lua_State *L, int level) {
  lua_Debug ar;
  for (; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline <= 0 || strncmp(ar.source, "=[luaio.", 8) == 0) continue;
    lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
    return;
  }
  lua_pushnil(L);
}

/* aio._debug([on [, slow_seconds]]) -> was_on, slow_seconds: sets debug mode when given
 * (aio.Runner applies its options through it and restores them on close). */
static int l_debug(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  int was = rt->debug;
  double slow = (double)rt->slow_ns / 1e9;
  if (!lua_isnone(L, 1)) rt->debug = lua_toboolean(L, 1);
  if (lua_isnumber(L, 2)) {
    double s = lua_tonumber(L, 2);
    rt->slow_ns = s > 0 && s < 1e9 ? (uint64_t)(s * 1e9) : 0;
  }
  lua_pushboolean(L, was);
  lua_pushnumber(L, slow);
  return 2;
}

void luaio_debug_open(lua_State *L, luaio_runtime *rt) {
  const char *env = getenv("LUAIO_DEBUG");
  rt->debug = env && *env && strcmp(env, "0") != 0;
  rt->slow_ns = SLOW_DEFAULT_NS;
  static const luaL_Reg funcs[] = {{"_debug", l_debug}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
}
