/* handle.c — plain callbacks on the loop: call_soon / call_later / call_at and a future's
 * done callbacks, as cancellable Handles anchored until they run. */
#include <string.h>
#include "handle.h"
#include "loop.h"
#include "report.h"
#include "resources.h"

static luaio_handle *tohandle(lua_State *L, int idx) {
  return luaio_checkudata(L, idx, LUAIO_HANDLE);
}

void luaio_handle_release(lua_State *L, luaio_runtime *rt, luaio_handle *h) {
  if (h->ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  luaL_unref(L, -1, h->ref);
  lua_pop(L, 1);
  h->ref = LUA_NOREF;
  luaio_unreserve(rt);
}

void luaio_handle_push_new(lua_State *L, luaio_runtime *rt, int fidx, int nargs) {
  fidx = lua_absindex(L, fidx);
  luaio_reserve(L, rt);
  if (nargs > 1) {
    lua_createtable(L, nargs, 1);
    lua_insert(L, -(nargs + 1));
    for (int i = nargs; i >= 1; i--) lua_rawseti(L, -(i + 1), i);
    lua_pushinteger(L, nargs);
    lua_setfield(L, -2, "n");
  }
  luaio_handle *h = lua_newuserdatauv(L, sizeof *h, 2);
  memset(h, 0, sizeof *h);
  h->node.kind = NODE_HANDLE;
  h->timer.idx = -1;
  h->nargs = nargs > 1 ? -1 : nargs;
  luaL_setmetatable(L, LUAIO_HANDLE);
  if (nargs > 0) {
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, 2);
  }
  lua_pushvalue(L, fidx);
  lua_setiuservalue(L, -2, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_pushvalue(L, -2);
  h->ref = luaL_ref(L, -2);
  lua_pop(L, 1);
}

static int handle_msgh(lua_State *L) {
  luaL_traceback(L, L, NULL, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "luaio.callback_traceback");
  return 1;
}

/* Runs a callback under a protected call; a failure goes to the exception handler and
 * never ends the process. */
void luaio_handle_run(luaio_runtime *rt, lua_State *L, luaio_handle *h) {
  int top = lua_gettop(L);
  luaL_checkstack(L, 8, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_rawgeti(L, -1, h->ref);
  luaio_handle_release(L, rt, h);
  int hidx = lua_gettop(L);
  if (h->cancelled || h->ran) { lua_settop(L, top); return; }
  h->ran = 1;
  lua_pushcfunction(L, handle_msgh);
  lua_getiuservalue(L, hidx, 1);
  int nargs = 0;
  if (h->nargs == 1) {
    lua_getiuservalue(L, hidx, 2);
    nargs = 1;
  } else if (h->nargs < 0) {
    lua_getiuservalue(L, hidx, 2);
    int aidx = lua_gettop(L);
    lua_getfield(L, aidx, "n");
    nargs = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, nargs, "too many arguments");
    for (int i = 1; i <= nargs; i++) lua_rawgeti(L, aidx, i);
    lua_remove(L, aidx);
  }
  if (lua_pcall(L, nargs, 0, hidx + 1) != LUA_OK) {
    int eidx = lua_gettop(L);
    lua_getfield(L, LUA_REGISTRYINDEX, "luaio.callback_traceback");
    lua_createtable(L, 0, 4);
    lua_pushliteral(L, "Exception in callback");
    lua_setfield(L, -2, "message");
    lua_pushvalue(L, eidx);
    lua_setfield(L, -2, "exception");
    lua_pushvalue(L, eidx + 1);
    lua_setfield(L, -2, "traceback");
    lua_pushvalue(L, hidx);
    lua_setfield(L, -2, "handle");
    luaio_report(rt, L, -1);
  }
  lua_settop(L, top);
}

/* resource: a handle of the script's (aio.open_resources lists it while scheduled); the
 * Lua layer's own timeouts use the _call_* variants, which are not */
static int schedule(lua_State *L, int fidx, uint64_t when, int timed, int resource) {
  luaio_runtime *rt = luaio_rt(L);
  luaio_checktype(L, fidx, LUA_TFUNCTION);
  if (timed) luaio_timers_make_room(L, rt); /* before the handle: arming it cannot fail */
  luaio_handle_push_new(L, rt, fidx, lua_gettop(L) - fidx);
  luaio_handle *h = lua_touserdata(L, -1);
  h->timed = (unsigned char)timed;
  if (resource) h->seq = luaio_resource_seq(L, rt, -1); /* a counter; a site in debug mode */
  if (timed) luaio_timer_add(L, rt, &h->timer, when);
  else luaio_ready_push(rt, &h->node);
  return 1;
}

static int call_soon(lua_State *L, int resource) { return schedule(L, 1, 0, 0, resource); }

static int call_later(lua_State *L, int resource) {
  return schedule(L, 2, luaio_deadline_after(luaio_rt(L), luaio_check_seconds(L, 1)), 1, resource);
}

static int call_at(lua_State *L, int resource) {
  double when = luaio_check_seconds(L, 1);
  luaio_runtime *rt = luaio_rt(L);
  return schedule(L, 2, luaio_deadline_after(rt, when - (double)luaio_loop_now(rt) / 1e9), 1,
                  resource);
}

static int l_call_soon(lua_State *L) { return call_soon(L, 1); }
static int l_call_later(lua_State *L) { return call_later(L, 1); }
static int l_call_at(lua_State *L) { return call_at(L, 1); }
static int l_call_soon_internal(lua_State *L) { return call_soon(L, 0); }
static int l_call_later_internal(lua_State *L) { return call_later(L, 0); }
static int l_call_at_internal(lua_State *L) { return call_at(L, 0); }

static int h_cancel(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  luaio_handle *h = tohandle(L, 1);
  if (h->cancelled || h->ran) return 0;
  h->cancelled = 1;
  if (h->timer.idx >= 0) { luaio_timer_remove(rt, &h->timer); luaio_handle_release(L, rt, h); }
  else if (h->node.next) { luaio_list_unlink(&h->node); luaio_handle_release(L, rt, h); }
  /* a handle already in the ready queue is skipped (and released) when its turn comes */
  return 0;
}

static int h_cancelled(lua_State *L) {
  luaio_handle *h = tohandle(L, 1);
  lua_pushboolean(L, h->cancelled);
  return 1;
}

static int h_when(lua_State *L) {
  luaio_handle *h = tohandle(L, 1);
  if (h->timed) lua_pushnumber(L, (double)h->timer.when / 1e9);
  else lua_pushnil(L);
  return 1;
}

static int h_tostring(lua_State *L) {
  lua_pushfstring(L, "Handle: %p", lua_touserdata(L, 1));
  return 1;
}

static const luaL_Reg handle_methods[] = {
  {"cancel", h_cancel}, {"cancelled", h_cancelled}, {"when", h_when},
  {"__tostring", h_tostring}, {NULL, NULL}
};

void luaio_handle_open(lua_State *L, luaio_runtime *rt) {
  luaio_new_class(L, LUAIO_HANDLE, handle_methods, rt);
  static const luaL_Reg funcs[] = {
    {"call_soon", l_call_soon}, {"call_later", l_call_later}, {"call_at", l_call_at},
    {"_call_soon", l_call_soon_internal}, {"_call_later", l_call_later_internal},
    {"_call_at", l_call_at_internal}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
