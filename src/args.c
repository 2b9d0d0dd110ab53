/* args.c — argument checks whose errors name the function as it was registered
 * ("bad argument #1 to 'sleep'"), also when it is called through pcall, where Lua itself
 * would say 'luaio.sleep' or '?'. Every C function of the library checks through these. */
#include <string.h>
#include "errors.h"

const char luaio_key_names = 'N';

/* Records the names of the functions just set from `funcs` in the table on top. */
void luaio_name_functions(lua_State *L, const luaL_Reg *funcs) {
  int tbl = lua_gettop(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &luaio_key_names) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &luaio_key_names);
  }
  for (; funcs->name; funcs++) {
    if (!funcs->func || strncmp(funcs->name, "__", 2) == 0) continue;
    lua_getfield(L, tbl, funcs->name);
    lua_pushstring(L, funcs->name);
    lua_rawset(L, -3);
  }
  lua_settop(L, tbl);
}

int luaio_argerror(lua_State *L, int arg, const char *extramsg) {
  lua_Debug ar;
  if (!lua_getstack(L, 0, &ar)) return luaL_argerror(L, arg, extramsg);
  lua_getinfo(L, "nf", &ar);
  if (ar.namewhat && strcmp(ar.namewhat, "method") == 0) {
    lua_pop(L, 1);
    return luaL_argerror(L, arg, extramsg);
  }
  const char *name = ar.name;
  if (!name) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &luaio_key_names) == LUA_TTABLE) {
      lua_pushvalue(L, -2);
      lua_rawget(L, -2);
      name = lua_tostring(L, -1);
    }
    if (!name) return luaL_argerror(L, arg, extramsg);
  }
  return luaio_argerror_in(L, arg, name, extramsg);
}

/* Lua's luaL_where(L, 1), but the Lua layer's own frames ("[luaio.core]" ...) are skipped:
 * the error points at the script's line that called the library, not at a wrapper. */
static void push_where(lua_State *L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); level++) {
    lua_getinfo(L, "Sl", &ar);
    if (strncmp(ar.source, "=[luaio.", 8) == 0) continue;
    if (ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
    break;
  }
  lua_pushliteral(L, "");
}

int luaio_argerror_in(lua_State *L, int arg, const char *fname, const char *extramsg) {
  push_where(L);
  lua_pushfstring(L, "bad argument #%d to '%s' (%s)", arg, fname, extramsg);
  lua_concat(L, 2);
  return lua_error(L);
}

int luaio_typeerror(lua_State *L, int arg, const char *tname) {
  const char *typearg;
  if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING) typearg = lua_tostring(L, -1);
  else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA) typearg = "light userdata";
  else typearg = luaL_typename(L, arg);
  return luaio_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s", tname, typearg));
}

static void tag_error(lua_State *L, int arg, int tag) {
  luaio_typeerror(L, arg, lua_typename(L, tag));
}

lua_Number luaio_checknumber(lua_State *L, int arg) {
  int isnum;
  lua_Number d = lua_tonumberx(L, arg, &isnum);
  if (!isnum) tag_error(L, arg, LUA_TNUMBER);
  return d;
}

lua_Integer luaio_checkinteger(lua_State *L, int arg) {
  int isnum;
  lua_Integer d = lua_tointegerx(L, arg, &isnum);
  if (!isnum) {
    if (lua_isnumber(L, arg)) luaio_argerror(L, arg, "number has no integer representation");
    else tag_error(L, arg, LUA_TNUMBER);
  }
  return d;
}

lua_Integer luaio_optinteger(lua_State *L, int arg, lua_Integer def) {
  return lua_isnoneornil(L, arg) ? def : luaio_checkinteger(L, arg);
}

const char *luaio_checklstring(lua_State *L, int arg, size_t *len) {
  const char *s = lua_tolstring(L, arg, len);
  if (!s) tag_error(L, arg, LUA_TSTRING);
  return s;
}

const char *luaio_optlstring(lua_State *L, int arg, const char *def, size_t *len) {
  if (lua_isnoneornil(L, arg)) {
    if (len) *len = def ? strlen(def) : 0;
    return def;
  }
  return luaio_checklstring(L, arg, len);
}

void luaio_checktype(lua_State *L, int arg, int t) {
  if (lua_type(L, arg) != t) tag_error(L, arg, t);
}

void luaio_checkany(lua_State *L, int arg) {
  if (lua_type(L, arg) == LUA_TNONE) luaio_argerror(L, arg, "value expected");
}

void *luaio_checkudata(lua_State *L, int arg, const char *tname) {
  void *p = luaL_testudata(L, arg, tname);
  if (!p) luaio_typeerror(L, arg, tname);
  return p;
}
