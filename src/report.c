/* report.c — one hook for every error nobody retrieved: failed tasks and futures (when
 * aio.run returns, a host step ends, or the finalizer finds them), failed callbacks and
 * done callbacks. The exception handler gets a context table; by default it is printed on
 * stderr (or given to the host's error function). */
#include <stdio.h>
#include "report.h"
#include "future.h"

static void default_report(luaio_runtime *rt, lua_State *L, int ctx) {
  int base = lua_gettop(L);
  lua_getfield(L, ctx, "message");
  lua_getfield(L, ctx, "exception");
  lua_getfield(L, ctx, "traceback");
  const char *msg = lua_tostring(L, base + 1);
  const char *exc = lua_isnil(L, base + 2) ? NULL : luaL_tolstring(L, base + 2, NULL);
  const char *tb = lua_tostring(L, base + 3);
  if (!msg) msg = "error";
  if (rt->cerr) {
    rt->cerr(rt->cerr_ud, exc ? lua_pushfstring(L, "%s: %s", msg, exc) : msg, tb);
  } else {
    fprintf(stderr, "luaio: %s\n", msg);
    if (exc) fprintf(stderr, "  %s\n", exc);
    if (tb) fprintf(stderr, "%s\n", tb);
    fflush(stderr);
  }
  lua_settop(L, base);
}

static int traceback_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

static int default_report_p(lua_State *L) {
  default_report(lua_touserdata(L, 1), L, 2);
  return 0;
}

/* Never raises: a failing handler, or an error value whose __tostring fails, is itself
 * reported plainly on stderr. */
void luaio_report(luaio_runtime *rt, lua_State *L, int ctx) {
  ctx = lua_absindex(L, ctx);
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) return;
  if (rt->handler_ref != LUA_NOREF) {
    lua_pushcfunction(L, traceback_handler);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->handler_ref);
    lua_pushvalue(L, ctx);
    if (lua_pcall(L, 1, 0, top + 1) == LUA_OK) { lua_settop(L, top); return; }
    fprintf(stderr, "luaio: the exception handler failed: %s\n",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
    lua_settop(L, top);
  }
  lua_pushcfunction(L, default_report_p);
  lua_pushlightuserdata(L, rt);
  lua_pushvalue(L, ctx);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "luaio: an error could not be reported: %s\n",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
    fflush(stderr);
  }
  lua_settop(L, top);
}

/* Reports each failed future of the table at tbl (as key of a set or value of a list)
 * whose error nobody retrieved. */
static void report_table(luaio_runtime *rt, lua_State *L, int tbl) {
  lua_pushnil(L);
  while (lua_next(L, tbl)) {
    int vi = lua_gettop(L);
    if (lua_istable(L, vi)) { /* a context queued ready-made (luaio_report_defer_ctx) */
      luaio_report(rt, L, vi);
      lua_settop(L, vi - 1);
      continue;
    }
    int fi = luaio_testfuture(L, vi) ? vi : vi - 1;
    luaio_future *f = luaio_testfuture(L, fi);
    if (f && f->unretrieved) {
      f->unretrieved = 0;
      lua_createtable(L, 0, 4);
      lua_pushstring(L, f->is_task ? "Task exception was never retrieved"
                                   : "Future exception was never retrieved");
      lua_setfield(L, -2, "message");
      lua_pushvalue(L, fi);
      lua_setfield(L, -2, f->is_task ? "task" : "future");
      luaio_future_push_error(L, fi);
      lua_setfield(L, -2, "exception");
      luaio_push_traceback(L, fi);
      lua_setfield(L, -2, "traceback");
      if (f->is_task) {
        lua_getfield(L, fi, "get_name");
        lua_pushvalue(L, fi);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
          lua_pushfstring(L, "Task exception was never retrieved (task '%s')",
                          lua_tostring(L, -1));
          lua_setfield(L, -3, "message");
        }
        lua_pop(L, 1);
      }
      luaio_report(rt, L, -1);
    }
    lua_settop(L, vi - 1); /* the key stays for lua_next */
  }
}

static void reset_table(lua_State *L, int *ref, int weak) {
  lua_newtable(L);
  if (weak) {
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  }
  if (*ref == LUA_NOREF || *ref == LUA_REFNIL) *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else lua_rawseti(L, LUA_REGISTRYINDEX, *ref);
}

/* Failed futures collected unretrieved: their finalizer queued them for the loop. */
void luaio_report_collected(luaio_runtime *rt, lua_State *L) {
  if (!rt->ndeferred || rt->deferred == LUA_NOREF) return;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->deferred);
  rt->ndeferred = 0;
  reset_table(L, &rt->deferred, 0);
  report_table(rt, L, top + 1);
  lua_settop(L, top);
}

/* Reports every failed future whose error nobody retrieved, then forgets them. */
void luaio_report_unretrieved(luaio_runtime *rt, lua_State *L) {
  if (rt->failed == LUA_NOREF) return;
  int top = lua_gettop(L);
  luaio_report_collected(rt, L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->failed);
  lua_pushnil(L);
  if (!lua_next(L, -2)) { lua_settop(L, top); return; } /* none: no new table either */
  lua_settop(L, top + 1);
  reset_table(L, &rt->failed, 1);
  report_table(rt, L, top + 1);
  lua_settop(L, top);
}

void luaio_report_track(lua_State *L, int fidx) {
  luaio_future *f = lua_touserdata(L, fidx);
  f->unretrieved = 1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->rt->failed);
  lua_pushvalue(L, fidx);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* from a finalizer: no handler runs there */
void luaio_report_defer(lua_State *L, int fidx) {
  luaio_future *f = lua_touserdata(L, fidx);
  luaio_runtime *rt = f->rt;
  if (rt->closing || rt->deferred == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->deferred);
  lua_pushvalue(L, fidx);
  lua_rawseti(L, -2, ++rt->ndeferred);
  lua_pop(L, 1);
}

void luaio_report_defer_ctx(lua_State *L, luaio_runtime *rt, int ctx) {
  ctx = lua_absindex(L, ctx);
  if (rt->closing || rt->deferred == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->deferred);
  lua_pushvalue(L, ctx);
  lua_rawseti(L, -2, ++rt->ndeferred);
  lua_pop(L, 1);
}

void luaio_report_c_error(luaio_runtime *rt, const char *msg) {
  if (!msg) msg = "(error object is not a string)";
  if (rt->cerr) rt->cerr(rt->cerr_ud, msg, NULL);
  else { fprintf(stderr, "luaio: %s\n", msg); fflush(stderr); }
}

void luaio_report_init(lua_State *L, luaio_runtime *rt) {
  reset_table(L, &rt->failed, 1);
  reset_table(L, &rt->deferred, 0);
}

void luaio_report_free(lua_State *L, luaio_runtime *rt) {
  luaL_unref(L, LUA_REGISTRYINDEX, rt->handler_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->failed);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->deferred);
  rt->handler_ref = rt->failed = rt->deferred = LUA_NOREF;
}

/* ---- aio.set_exception_handler / get_exception_handler / call_exception_handler ---- */
static void check_callable(lua_State *L, int idx) {
  if (lua_isfunction(L, idx)) return;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) { lua_pop(L, 1); return; }
  luaio_typeerror(L, idx, "function");
}

static int l_set_exception_handler(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  if (!lua_isnil(L, 1)) check_callable(L, 1);
  lua_settop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->handler_ref);
  rt->handler_ref = lua_isnil(L, 1) ? LUA_NOREF : luaL_ref(L, LUA_REGISTRYINDEX);
  return 0;
}

static int l_get_exception_handler(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  if (rt->handler_ref == LUA_NOREF) lua_pushnil(L);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, rt->handler_ref);
  return 1;
}

static int l_call_exception_handler(lua_State *L) {
  luaio_checktype(L, 1, LUA_TTABLE);
  luaio_report(luaio_rt(L), L, 1);
  return 0;
}

static int l_report_unretrieved(lua_State *L) {
  luaio_report_unretrieved(luaio_rt(L), L);
  return 0;
}

void luaio_report_open(lua_State *L, luaio_runtime *rt) {
  static const luaL_Reg funcs[] = {
    {"set_exception_handler", l_set_exception_handler},
    {"get_exception_handler", l_get_exception_handler},
    {"call_exception_handler", l_call_exception_handler},
    {"_report_unretrieved", l_report_unretrieved}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
