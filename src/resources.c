/* resources.c — open resources: what aio.open_resources lists and debug mode reports
 * when the loop closes, as asyncio's "unclosed transport" ResourceWarning.
 *
 * A part registers a resource when it opens it: one store in rt->resources, a table with
 * weak keys (resource -> seq * 16 + kind index), so the list never keeps a resource alive
 * and a collected one drops out by itself. Closing costs nothing: the list asks the
 * kind's is_open, and drops an entry that says closed. Handles of call_soon, call_later
 * and call_at are not registered (call_soon is on hot paths): they are in rt->anchors
 * while scheduled, with their creation order in the handle. Sites ("file:line") are
 * recorded only in debug mode, in a second weak-keyed table. */
#include <stdlib.h>
#include <string.h>
#include "resources.h"
#include "debug.h"
#include "handle.h"
#include "report.h"

#define KINDS LUAIO_RESOURCE_KINDS_MAX

static const luaio_resource_kind handle_kind = {"handle", NULL};

void luaio_resource_kind_register(luaio_runtime *rt, const luaio_resource_kind *k) {
  for (int i = 0; i < rt->nresource_kinds; i++)
    if (rt->resource_kinds[i] == k) return;
  if (rt->nresource_kinds < KINDS) rt->resource_kinds[rt->nresource_kinds++] = k;
}

static int kind_index(luaio_runtime *rt, const luaio_resource_kind *k) {
  for (int i = 0; i < rt->nresource_kinds; i++)
    if (rt->resource_kinds[i] == k) return i;
  return -1;
}

/* sites[obj] = the script's line calling the opener, or the site of the object at from */
static void record_site(lua_State *L, luaio_runtime *rt, int idx, int from) {
  luaL_checkstack(L, 4, NULL);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->resource_sites);
  lua_pushvalue(L, idx);
  if (from) {
    lua_pushvalue(L, from);
    lua_rawget(L, -3);
  } else {
    luaio_debug_push_site(L, 1);
  }
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

void luaio_resource_open(lua_State *L, luaio_runtime *rt, int idx, const luaio_resource_kind *k,
                         int from) {
  int ki = kind_index(rt, k);
  if (ki < 0 || rt->resources == LUA_NOREF) return;
  idx = lua_absindex(L, idx);
  if (from) from = lua_absindex(L, from);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->resources);
  lua_pushvalue(L, idx);
  lua_pushinteger(L, (lua_Integer)(++rt->resource_seq * KINDS + (uint64_t)ki));
  lua_rawset(L, -3);
  lua_pop(L, 1);
  if (luaio_debug_on(rt)) record_site(L, rt, idx, from);
}

uint64_t luaio_resource_seq(lua_State *L, luaio_runtime *rt, int idx) {
  if (luaio_debug_on(rt) && rt->resource_sites != LUA_NOREF) record_site(L, rt, lua_absindex(L, idx), 0);
  return ++rt->resource_seq;
}

/* ---- the list ---- */
typedef struct entry { uint64_t seq; int slot; } entry;

static int by_seq(const void *a, const void *b) {
  uint64_t x = ((const entry *)a)->seq, y = ((const entry *)b)->seq;
  return x < y ? -1 : x > y;
}

/* tmp[slot] = {kind, site, object}; the C array gets (seq, slot). A resource with an
 * owner (a Server's listening sockets) is listed as its owner, once (`seen`). */
static void add(lua_State *L, luaio_runtime *rt, int tmp, int seen, int obj, const char *kind,
                uint64_t seq, entry **es, int *n, int *cap) {
  int site_of = obj;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->resource_owners);
  lua_pushvalue(L, obj);
  lua_rawget(L, -2);
  lua_remove(L, -2);
  if (!lua_isnil(L, -1)) {
    lua_pushvalue(L, -1);
    if (lua_rawget(L, seen) != LUA_TNIL) { lua_pop(L, 2); return; }
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    obj = lua_gettop(L); /* the owner, listed in place of the resource */
  } else {
    lua_pop(L, 1);
  }
  if (*n == *cap) {
    int ncap = *cap ? *cap * 2 : 16;
    /* a userdata, so a memory error frees it: the old one becomes garbage */
    entry *ne = lua_newuserdatauv(L, sizeof *ne * (size_t)ncap, 0);
    if (*n) memcpy(ne, *es, sizeof *ne * (size_t)*n);
    lua_replace(L, tmp + 1);
    *es = ne;
    *cap = ncap;
  }
  lua_createtable(L, 0, 3);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->resource_sites);
  lua_pushvalue(L, site_of);
  lua_rawget(L, -2);
  lua_setfield(L, -3, "site");
  lua_pop(L, 1);
  lua_pushvalue(L, obj);
  lua_setfield(L, -2, "object");
  (*es)[*n].seq = seq;
  (*es)[*n].slot = *n + 1;
  lua_rawseti(L, tmp, ++*n);
  if (obj != site_of) lua_pop(L, 1); /* the owner */
}

/* Pushes the list of open resources created after `after`, in creation order, above a
 * scratch value (two slots); returns its length. */
static int push_list(lua_State *L, luaio_runtime *rt, uint64_t after) {
  luaL_checkstack(L, 12, NULL);
  lua_newtable(L);
  int tmp = lua_gettop(L);
  lua_pushnil(L); /* tmp + 1: the entry array's userdata */
  lua_newtable(L); /* tmp + 2: owners listed already */
  int seen = tmp + 2;
  entry *es = NULL;
  int n = 0, cap = 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->resources);
  int res = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, res)) {
    lua_Integer code = lua_tointeger(L, -1);
    uint64_t seq = (uint64_t)code / KINDS;
    const luaio_resource_kind *k = rt->resource_kinds[(uint64_t)code % KINDS];
    lua_pop(L, 1);
    if (!k->is_open(L, lua_gettop(L))) { /* closed: forget it (allowed while traversing) */
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, res);
    } else if (seq > after) {
      add(L, rt, tmp, seen, lua_gettop(L), k->name, seq, &es, &n, &cap);
    }
  }
  lua_pop(L, 1);
  /* handles still scheduled by call_soon / call_later / call_at */
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  int anchors = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, anchors)) {
    luaio_handle *h = luaL_testudata(L, -1, LUAIO_HANDLE);
    if (h && h->seq > after && !h->cancelled && !h->ran)
      add(L, rt, tmp, seen, lua_gettop(L), handle_kind.name, h->seq, &es, &n, &cap);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (n) qsort(es, (size_t)n, sizeof *es, by_seq);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, tmp, es[i].slot);
    lua_rawseti(L, -2, i + 1);
  }
  lua_remove(L, seen);
  /* leave: [seqs userdata (or nil)] [list] */
  lua_replace(L, tmp);
  lua_insert(L, tmp);  /* swap: the userdata at tmp, the list on top */
  lua_settop(L, tmp + 1);
  return n;
}

/* aio._resource_owner(resource, owner): list the resource as its owner (a Server for
 * each of its listening sockets) */
static int l_resource_owner(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  if (rt->resource_owners == LUA_NOREF) return 0;
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->resource_owners);
  lua_pushvalue(L, 1);
  lua_pushvalue(L, 2);
  lua_rawset(L, -3);
  return 0;
}

static int l_open_resources(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  if (rt->resources == LUA_NOREF) { lua_newtable(L); return 1; }
  push_list(L, rt, 0);
  return 1; /* the list, on top */
}

static int report_p(lua_State *L) {
  luaio_runtime *rt = lua_touserdata(L, 1);
  int n = push_list(L, rt, rt->resource_reported);
  int list = lua_gettop(L);
  rt->resource_reported = rt->resource_seq;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    int e = lua_gettop(L);
    lua_createtable(L, 0, 4);
    lua_getfield(L, e, "kind");
    const char *kind = lua_tostring(L, -1);
    lua_setfield(L, -2, "kind");
    lua_getfield(L, e, "object");
    lua_setfield(L, -2, "resource");
    lua_getfield(L, e, "site");
    const char *site = lua_tostring(L, -1);
    lua_setfield(L, -2, "site");
    lua_getfield(L, e, "object");
    const char *what = luaL_tolstring(L, -1, NULL);
    if (site) lua_pushfstring(L, "unclosed %s %s created at %s", kind, what, site);
    else lua_pushfstring(L, "unclosed %s %s (created before debug mode was on)", kind, what);
    lua_setfield(L, e + 1, "message");
    lua_settop(L, e + 1);
    luaio_report(rt, L, -1);
    lua_settop(L, list);
  }
  return 0;
}

void luaio_resources_report(luaio_runtime *rt, lua_State *L) {
  if (!luaio_debug_on(rt) || rt->resources == LUA_NOREF) return;
  if (rt->resource_reported >= rt->resource_seq) return; /* nothing opened since */
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 4)) return;
  lua_pushcfunction(L, report_p);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) luaio_report_c_error(rt, lua_tostring(L, -1));
  lua_settop(L, top);
}

static void new_weak_table(lua_State *L, int *ref) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  *ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

void luaio_resources_open(lua_State *L, luaio_runtime *rt) {
  new_weak_table(L, &rt->resources);
  new_weak_table(L, &rt->resource_sites);
  new_weak_table(L, &rt->resource_owners);
  static const luaL_Reg funcs[] = {{"open_resources", l_open_resources},
                                   {"_resource_owner", l_resource_owner}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
}
