/* module.h — the module: assembles aio from the core and the parts, loads the Lua layer,
 * and tears the runtime down. Only api.c builds on it. */
#ifndef LUAIO_MODULE_H
#define LUAIO_MODULE_H

#include "runtime.h"

luaio_runtime *luaio_module_get(lua_State *L);
/* Creates the runtime of L and its module; NULL with a message on the stack. */
luaio_runtime *luaio_module_open(lua_State *L, uv_loop_t *loop);
void luaio_module_push(lua_State *L); /* the module table */
void luaio_module_close(luaio_runtime *rt);
/* The submodules' entries for stock lua5.4's require (api.c). */
int luaopen_luaio_redis(lua_State *L);
int luaopen_luaio_jobs(lua_State *L);

#endif
