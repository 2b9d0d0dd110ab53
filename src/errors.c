/* errors.c — the error classes: tables {name=, message=} whose metatable is
 * their class aio.<name>; tostring gives "<name>: <message>". Also the opts-key check
 * and the allocation that raises Lua's memory error. */
#include <stdarg.h>
#include <string.h>
#include <stdlib.h>
#include "errors.h"

#define ERRORS_KEY "luaio.errors"

static const char *const error_names[] = {
  "CancelledError", "TimeoutError", "InvalidStateError", "QueueEmpty", "QueueFull",
  "QueueShutDown", "IncompleteReadError", "LimitOverrunError", "BrokenBarrierError",
  "ExceptionGroup", "RuntimeError", "ValueError", "OSError", "SSLError", NULL
};

static int error_tostring(lua_State *L) {
  lua_getfield(L, 1, "name");
  lua_getfield(L, 1, "message");
  const char *name = lua_tostring(L, -2);
  if (!name) name = "Error";
  lua_pushfstring(L, "%s: %s", name, lua_isnil(L, -1) ? "" : luaL_tolstring(L, -1, NULL));
  return 1;
}

/* aio.<Name>(message [, fields]) builds an instance; fields are copied in. */
static int error_call(lua_State *L) {
  lua_settop(L, 3);
  lua_createtable(L, 0, 4);
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3)) { lua_pushvalue(L, -2); lua_insert(L, -2); lua_rawset(L, -4); }
  }
  lua_getfield(L, 1, "name");
  lua_setfield(L, -2, "name");
  /* every error has a message, "" when none was given (as str() of a bare exception) */
  if (lua_isnil(L, 2)) lua_pushliteral(L, "");
  else lua_pushvalue(L, 2);
  lua_setfield(L, -2, "message");
  lua_pushvalue(L, 1);
  lua_setmetatable(L, -2);
  return 1;
}

void luaio_errors_open(lua_State *L) {
  /* module table on top */
  lua_newtable(L); /* registry table name -> class */
  for (int i = 0; error_names[i]; i++) {
    lua_createtable(L, 0, 4);
    lua_pushstring(L, error_names[i]);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, error_names[i]);
    lua_setfield(L, -2, "__name");
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_createtable(L, 0, 1); /* the class is callable */
    lua_pushcfunction(L, error_call);
    lua_setfield(L, -2, "__call");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, error_names[i]);
    lua_setfield(L, -3, error_names[i]);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, ERRORS_KEY);
}

void luaio_push_error(lua_State *L, const char *name, const char *msg) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, name);
  lua_setfield(L, -2, "name");
  lua_pushstring(L, msg ? msg : "");
  lua_setfield(L, -2, "message");
  lua_getfield(L, LUA_REGISTRYINDEX, ERRORS_KEY);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  lua_setmetatable(L, -2);
}

int luaio_raise(lua_State *L, const char *name, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const char *msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  luaio_push_error(L, name, msg);
  return lua_error(L);
}

int luaio_is_error(lua_State *L, int idx, const char *name) {
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  lua_getfield(L, LUA_REGISTRYINDEX, ERRORS_KEY);
  lua_getfield(L, -1, name);
  int r = lua_rawequal(L, -1, -3);
  lua_pop(L, 3);
  return r;
}

/* A typo in an opts table never passes silently. */
void luaio_check_opts(lua_State *L, int idx, const char *fname, const char *const *keys) {
  if (lua_isnoneornil(L, idx)) return;
  luaio_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -1);
      for (int i = 0; keys[i]; i++)
        if (strcmp(k, keys[i]) == 0) { ok = 1; break; }
    }
    if (!ok) {
      const char *k = luaL_tolstring(L, -1, NULL);
      luaio_argerror_in(L, idx, fname, lua_pushfstring(L, "unknown option '%s'", k));
    }
  }
}

void *luaio_realloc(lua_State *L, void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q && n) luaL_error(L, "not enough memory");
  return q;
}
