/* jobs.c — luaio.jobs as a C submodule for stock lua5.4 (package.cpath's all-in-one loader
 * finds luaopen_luaio_jobs in luaio.so): opens luaio, then returns what jobs.lua left in
 * the private table. Under the luaio binary, package.preload["luaio.jobs"] (set by
 * jobs.lua when the module opens) answers first. */
#include "jobs.h"

int luaopen_luaio_jobs(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaio");
  lua_call(L, 1, 1);
  luaio_runtime *rt = luaio_rt_of(L);
  if (!rt || rt->priv == LUA_NOREF) return luaL_error(L, "luaio is not open in this state");
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->priv);
  lua_getfield(L, -1, "jobs");
  return 1;
}
