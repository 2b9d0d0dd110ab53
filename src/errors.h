/* errors.h — the bottom layer every other file builds on: error objects (errors.c),
 * argument checks whose errors name the function as scripts call it (args.c), and the
 * out-of-memory rule: an allocation that fails raises Lua's memory error. */
#ifndef LUAIO_ERRORS_H
#define LUAIO_ERRORS_H

#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>

/* ---- error objects: tables {name=, message=} whose metatable is aio.<name> ---- */
void luaio_errors_open(lua_State *L); /* adds the classes to the module table on top */
void luaio_push_error(lua_State *L, const char *name, const char *msg);
int luaio_raise(lua_State *L, const char *name, const char *fmt, ...);
int luaio_is_error(lua_State *L, int idx, const char *name);
/* an opts table at idx (or nil) whose keys must all be in `keys` (NULL-terminated) */
void luaio_check_opts(lua_State *L, int idx, const char *fname, const char *const *keys);

/* realloc(p, n), raising Lua's "not enough memory" error when it fails. Only where a Lua
 * error may be raised: a libuv callback turns a failed allocation into its operation's
 * error instead (ENOBUFS / ENOMEM). */
void *luaio_realloc(lua_State *L, void *p, size_t n);

/* ---- argument checks (args.c): Lua's luaL_check* family, but "bad argument #1 to 'sleep'"
 * names the function as registered also when it is called through pcall (where Lua
 * itself would say '?'). ---- */
void luaio_name_functions(lua_State *L, const luaL_Reg *funcs);
int luaio_argerror(lua_State *L, int arg, const char *extramsg);
/* for a check made on a function's behalf: names `fname` itself */
int luaio_argerror_in(lua_State *L, int arg, const char *fname, const char *extramsg);
int luaio_typeerror(lua_State *L, int arg, const char *tname);
lua_Number luaio_checknumber(lua_State *L, int arg);
lua_Integer luaio_checkinteger(lua_State *L, int arg);
lua_Integer luaio_optinteger(lua_State *L, int arg, lua_Integer def);
const char *luaio_checklstring(lua_State *L, int arg, size_t *len);
const char *luaio_optlstring(lua_State *L, int arg, const char *def, size_t *len);
void luaio_checktype(lua_State *L, int arg, int t);
void luaio_checkany(lua_State *L, int arg);
void *luaio_checkudata(lua_State *L, int arg, const char *tname);
#define luaio_checkstring(L, n) (luaio_checklstring(L, (n), NULL))
#define luaio_optstring(L, n, d) (luaio_optlstring(L, (n), (d), NULL))
#define luaio_argcheck(L, cond, arg, msg) ((void)((cond) || luaio_argerror(L, (arg), (msg))))

#endif
