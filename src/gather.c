/* gather.c — aio.gather in C: one watch per child (no callback, no ready-queue hop per
 * child), the parent woken once when all are done or on the first failure. */
#include <stdlib.h>
#include <string.h>
#include "gather.h"
#include "task.h"

#define LUAIO_GATHER "luaio.Gather"

typedef struct gather {
  luaio_task *parent;  /* NULL once the parent has left the gather */
  luaio_watch *watches;
  int n, pending;
  int first_fail;      /* index of the first child that failed, in time order */
  unsigned char return_exceptions, cancel_requested;
  /* uservalue 1: the list of children futures */
} gather;

static void gather_detach(gather *g) {
  if (!g->watches) return;
  for (int i = 0; i < g->n; i++) luaio_list_unlink(&g->watches[i].node);
  free(g->watches);
  g->watches = NULL;
  g->parent = NULL;
}

static int gather_gc(lua_State *L) {
  gather_detach(lua_touserdata(L, 1));
  return 0;
}

static void gather_fire(lua_State *L, luaio_watch *w, int fidx) {
  luaio_future *f = lua_touserdata(L, fidx);
  gather *g = w->ctx;
  g->pending--;
  f->unretrieved = 0; /* gather looks at every child's outcome */
  int failed = f->state != FUT_OK;
  if (failed && !g->first_fail) g->first_fail = (int)(w - g->watches) + 1;
  if (!g->parent) return;
  /* as asyncio: the first child to fail (or end cancelled) decides, also while the
   * gather is being cancelled (a child may answer its cancellation with an error) */
  if (g->pending == 0 || (failed && !g->return_exceptions))
    luaio_wake(f->rt, g->parent);
}

/* call graphs: a child of a gather is awaited by the gathering task while it waits */
static luaio_task *gather_awaiter(luaio_watch *w) { return ((gather *)w->ctx)->parent; }

/* Cancelling the gathering task cancels the children; it then waits for them. */
static int gather_cancel(lua_State *L, luaio_task *t, int obj, int msgidx) {
  (void)t;
  gather *g = luaL_testudata(L, obj, LUAIO_GATHER);
  if (!g) return 0;
  lua_getiuservalue(L, obj, 1);
  int list = lua_gettop(L), any = 0;
  for (int i = 1; i <= g->n && lua_checkstack(L, 4); i++) {
    lua_rawgeti(L, list, i);
    luaio_future *f = lua_touserdata(L, -1);
    if (f->state == FUT_PENDING)
      any |= f->is_task ? luaio_task_cancel(L, (luaio_task *)f, msgidx)
                        : luaio_future_cancel(L, lua_gettop(L), msgidx);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (any) g->cancel_requested = 1;
  return any;
}

/* "a gather of 3 (2 pending: Task-4, Task-5)" */
static void gather_describe(lua_State *L, luaio_task *t, int obj) {
  (void)t;
  int n = 0, pending = 0, base = lua_gettop(L);
  if (luaL_testudata(L, obj, LUAIO_GATHER) && lua_getiuservalue(L, obj, 1) == LUA_TTABLE) {
    int list = lua_gettop(L);
    n = (int)lua_rawlen(L, list);
    for (int i = 1; i <= n; i++) {
      lua_rawgeti(L, list, i);
      luaio_future *f = luaio_testfuture(L, -1);
      lua_pop(L, 1);
      if (!f || f->state != FUT_PENDING) continue;
      if (pending++ < 8) {
        if (f->is_task) lua_pushfstring(L, "%sTask-%d", pending > 1 ? ", " : ": ", ((luaio_task *)f)->id);
        else lua_pushfstring(L, "%sa Future", pending > 1 ? ", " : ": ");
        lua_insert(L, list); /* keep the list on top */
        list++;
      }
    }
    lua_pop(L, 1);
  } else if (lua_gettop(L) > base) {
    lua_pop(L, 1);
  }
  if (pending > 8) lua_pushliteral(L, ", ...");
  lua_concat(L, lua_gettop(L) - base);
  lua_pushfstring(L, "a gather of %d (%d pending%s)", n, pending, lua_tostring(L, -1));
  lua_remove(L, -2);
}

/* waiting for the children; once they were cancelled, waiting for them to finish (a
 * second cancel then wakes the gathering task at once) */
static const luaio_wait_kind gather_wait = {"a gather", gather_cancel, gather_describe, 0};
static const luaio_wait_kind gather_drain = {"a gather", NULL, gather_describe, 0};

/* The result list {r1, ..., n = N}: first results, or error values when asked. */
static int gather_results(lua_State *L, int list, int n) {
  lua_createtable(L, n, 1);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    int fi = lua_gettop(L);
    luaio_future *f = lua_touserdata(L, fi);
    if (f->state == FUT_OK) {
      int nr = luaio_future_push_results(L, fi);
      if (nr == 0) lua_pushnil(L);
      else if (nr > 1) lua_pop(L, nr - 1);
    } else {
      f->unretrieved = 0;
      luaio_future_push_error(L, fi);
    }
    lua_rawseti(L, fi - 1, i);
    lua_settop(L, fi - 1);
  }
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
  return 1;
}

static int gather_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_task *t = luaio_rt(L)->current;
  gather *g = lua_touserdata(L, (int)ctx);
  lua_getiuservalue(L, (int)ctx, 1);
  int list = lua_gettop(L);
  if (luaio_take_wake_cancel(t)) {
    gather_detach(g);
    return luaio_raise_cancelled(L, t);
  }
  if (g->first_fail && !g->return_exceptions) {
    g->parent = NULL; /* the other children keep running; their watches stay */
    lua_rawgeti(L, list, g->first_fail);
    return luaio_await_results(L, t, lua_gettop(L));
  }
  if (g->cancel_requested) {
    if (g->pending > 0) { /* still waiting for the cancelled children */
      lua_pop(L, 1);
      return luaio_park(L, t, &gather_drain, (int)ctx, gather_k);
    }
    gather_detach(g);
    return luaio_raise_cancelled(L, t);
  }
  gather_detach(g);
  return gather_results(L, list, g->n);
}

/* Turns argument `i` into a future: tasks and futures as they are, coroutine objects
 * and functions as new tasks. */
static void to_future(lua_State *L, luaio_runtime *rt, int i, int argn) {
  lua_pushvalue(L, i);
  if (luaio_testfuture(L, -1)) return;
  if (lua_isfunction(L, -1)) { luaio_task_push_new(L, rt, 0); return; }
  if (luaio_is_coro(L, -1)) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &luaio_hook_coro_task); /* the Lua layer's */
    lua_insert(L, -2);
    lua_call(L, 1, 1);
    return;
  }
  luaio_argerror_in(L, argn, "gather", lua_pushfstring(L, "Future, Task, coroutine object or "
                    "function expected, got %s", luaL_typename(L, -1)));
}

static int l_gather(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  int nargs = lua_gettop(L), list_form = 0, return_exceptions = 0;
  if (nargs >= 1 && lua_type(L, 1) == LUA_TTABLE && !lua_getmetatable(L, 1)) {
    static const char *const keys[] = {"return_exceptions", NULL};
    if (nargs > 2) luaio_argerror(L, 3, "no value expected after the options table");
    luaio_check_opts(L, 2, "gather", keys);
    if (lua_istable(L, 2)) {
      lua_getfield(L, 2, "return_exceptions");
      return_exceptions = lua_toboolean(L, -1);
      lua_pop(L, 1);
    }
    list_form = 1;
  }
  luaio_check_task(L, "gather");
  int n = list_form ? (int)luaL_len(L, 1) : nargs;
  lua_createtable(L, n, 0);
  int list = lua_gettop(L);
  for (int i = 1; i <= n; i++) {
    if (list_form) {
      lua_rawgeti(L, 1, i);
      to_future(L, rt, lua_gettop(L), i);
      lua_remove(L, -2);
    } else {
      to_future(L, rt, i, i);
    }
    lua_rawseti(L, list, i);
  }
  gather *g = lua_newuserdatauv(L, sizeof *g, 1);
  memset(g, 0, sizeof *g);
  luaL_setmetatable(L, LUAIO_GATHER);
  lua_pushvalue(L, list);
  lua_setiuservalue(L, -2, 1);
  int gidx = lua_gettop(L);
  g->n = n;
  g->return_exceptions = (unsigned char)return_exceptions;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    luaio_future *f = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (f->state == FUT_PENDING) g->pending++;
    else if (f->state != FUT_OK && !g->first_fail) g->first_fail = i;
  }
  if (g->pending == 0 || (g->first_fail && !return_exceptions)) {
    if (g->first_fail && !return_exceptions) {
      lua_rawgeti(L, list, g->first_fail);
      return luaio_future_push_results(L, lua_gettop(L));
    }
    return gather_results(L, list, n);
  }
  luaio_task *t = luaio_check_suspend(L, "gather");
  g->watches = luaio_realloc(L, NULL, (size_t)n * sizeof *g->watches);
  memset(g->watches, 0, (size_t)n * sizeof *g->watches);
  g->parent = t;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, list, i);
    luaio_future *f = lua_touserdata(L, -1);
    lua_pop(L, 1);
    luaio_watch *w = &g->watches[i - 1];
    w->node.kind = NODE_WATCH;
    w->fire = gather_fire;
    w->ctx = g;
    w->awaiter = gather_awaiter;
    if (f->state == FUT_PENDING) luaio_list_append(&f->waiters, &w->node);
  }
  return luaio_park(L, t, &gather_wait, gidx, gather_k);
}

void luaio_gather_open(lua_State *L, luaio_runtime *rt) {
  static const luaL_Reg meta[] = {{"__gc", gather_gc}, {NULL, NULL}};
  luaio_new_class(L, LUAIO_GATHER, meta, rt);
  static const luaL_Reg funcs[] = {{"gather", l_gather}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
  luaio_wait_kind_register(rt, &gather_wait);
  luaio_wait_kind_register(rt, &gather_drain);
}
