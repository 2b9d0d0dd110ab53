/* future.c — Future: result/error slots, an ordered list of waiters (tasks, done-callback
 * handles, C watches) woken through the loop, and the methods Future and Task share. */
#include <string.h>
#include "future.h"
#include "task.h"
#include "handle.h"
#include "loop.h"
#include "report.h"

const char luaio_key_future = 'F', luaio_key_task = 'T';

/* A Future or a Task, else NULL (metatables compared through registry address keys). */
luaio_future *luaio_testfuture(lua_State *L, int idx) {
  void *p = lua_touserdata(L, idx);
  if (!p || !lua_getmetatable(L, idx)) return NULL;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &luaio_key_future);
  if (!lua_rawequal(L, -1, -2)) {
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &luaio_key_task);
    if (!lua_rawequal(L, -1, -2)) p = NULL;
  }
  lua_pop(L, 2);
  return p;
}

luaio_future *luaio_tofuture(lua_State *L, int idx) {
  luaio_future *f = luaio_testfuture(L, idx);
  if (!f) luaio_typeerror(L, idx, "Future");
  return f;
}

luaio_future *luaio_future_push_new(lua_State *L, luaio_runtime *rt) {
  luaio_future *f = lua_newuserdatauv(L, sizeof *f, 2);
  memset(f, 0, sizeof *f);
  f->rt = rt;
  luaio_list_init(&f->waiters);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &luaio_key_future);
  lua_setmetatable(L, -2);
  return f;
}

/* The extras table (uservalue 2), created on demand; pushes it, or nil if absent. */
static int push_extras(lua_State *L, int fidx, int create) {
  if (lua_getiuservalue(L, fidx, 2) == LUA_TTABLE || !create) return lua_type(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, fidx, 2);
  return LUA_TTABLE;
}

/* Every waiter is handed on through the ready queue; watches are C bookkeeping. */
void luaio_future_complete(lua_State *L, int fidx) {
  luaio_future *f = lua_touserdata(L, fidx);
  luaio_runtime *rt = f->rt;
  while (!luaio_list_empty(&f->waiters)) {
    luaio_node *n = f->waiters.next;
    luaio_list_unlink(n);
    if (n->kind == NODE_TASK) luaio_wake(rt, luaio_container(n, luaio_task, node));
    else if (n->kind == NODE_HANDLE) luaio_ready_push(rt, n);
    else {
      luaio_watch *w = luaio_container(n, luaio_watch, node);
      w->fire(L, w, fidx);
    }
  }
}

int luaio_future_set(lua_State *L, int fidx, int first, int n) {
  luaio_future *f = lua_touserdata(L, fidx); /* the caller checked it */
  if (f->state != FUT_PENDING) return 0;
  fidx = lua_absindex(L, fidx);
  first = lua_absindex(L, first);
  if (n == 1) {
    lua_pushvalue(L, first);
  } else {
    lua_createtable(L, n, 1);
    for (int i = 0; i < n; i++) { lua_pushvalue(L, first + i); lua_rawseti(L, -2, i + 1); }
    lua_pushinteger(L, n);
    lua_setfield(L, -2, "n");
  }
  lua_setiuservalue(L, fidx, 1);
  f->nres = n;
  f->state = FUT_OK;
  luaio_future_complete(L, fidx);
  return 1;
}

int luaio_future_fail_with(lua_State *L, int fidx, int eidx, int tbidx) {
  luaio_future *f = lua_touserdata(L, fidx); /* the caller checked it */
  if (f->state != FUT_PENDING) return 0;
  fidx = lua_absindex(L, fidx);
  lua_pushvalue(L, eidx);
  lua_setiuservalue(L, fidx, 1);
  if (tbidx && !lua_isnil(L, tbidx)) {
    tbidx = lua_absindex(L, tbidx);
    push_extras(L, fidx, 1);
    lua_pushvalue(L, tbidx);
    lua_setfield(L, -2, "traceback");
    lua_pop(L, 1);
  }
  f->state = FUT_ERR;
  luaio_report_track(L, fidx);
  luaio_future_complete(L, fidx);
  return 1;
}

int luaio_future_cancel(lua_State *L, int fidx, int msgidx) {
  luaio_future *f = lua_touserdata(L, fidx); /* the caller checked it */
  if (f->state != FUT_PENDING) return 0;
  fidx = lua_absindex(L, fidx);
  luaio_push_error(L, "CancelledError", msgidx && !lua_isnil(L, msgidx) ? lua_tostring(L, msgidx) : NULL);
  lua_setiuservalue(L, fidx, 1);
  f->state = FUT_CANCELLED;
  luaio_future_complete(L, fidx);
  return 1;
}

void luaio_future_push_error(lua_State *L, int fidx) {
  luaio_future *f = lua_touserdata(L, fidx); /* the caller checked it */
  if (f->state == FUT_ERR || f->state == FUT_CANCELLED) lua_getiuservalue(L, fidx, 1);
  else lua_pushnil(L);
}

void luaio_push_traceback(lua_State *L, int fidx) {
  if (push_extras(L, fidx, 0) != LUA_TTABLE) return;
  lua_getfield(L, -1, "traceback");
  lua_remove(L, -2);
}

/* Pushes the results; re-raises the error unchanged; CancelledError if cancelled. */
int luaio_future_push_results(lua_State *L, int fidx) {
  luaio_future *f = lua_touserdata(L, fidx); /* the caller checked it */
  switch (f->state) {
  case FUT_OK:
    lua_getiuservalue(L, fidx, 1);
    if (f->nres == 1) return 1;
    luaL_checkstack(L, f->nres, "too many results");
    for (int i = 1; i <= f->nres; i++) lua_rawgeti(L, -i, i);
    lua_remove(L, -f->nres - 1);
    return f->nres;
  case FUT_ERR:
    f->unretrieved = 0;
    lua_getiuservalue(L, fidx, 1);
    return lua_error(L);
  case FUT_CANCELLED:
    lua_getiuservalue(L, fidx, 1);
    return lua_error(L);
  default:
    return luaio_raise(L, "InvalidStateError", "result is not set yet");
  }
}

/* ---- methods shared by Future and Task ---- */
static int f_done(lua_State *L) {
  lua_pushboolean(L, luaio_tofuture(L, 1)->state != FUT_PENDING);
  return 1;
}

static int f_cancelled(lua_State *L) {
  lua_pushboolean(L, luaio_tofuture(L, 1)->state == FUT_CANCELLED);
  return 1;
}

static int f_result(lua_State *L) {
  luaio_tofuture(L, 1);
  lua_settop(L, 1);
  return luaio_future_push_results(L, 1);
}

static int f_exception(lua_State *L) {
  luaio_future *f = luaio_tofuture(L, 1);
  if (f->state == FUT_PENDING) return luaio_raise(L, "InvalidStateError", "exception is not set yet");
  if (f->state == FUT_CANCELLED) { lua_getiuservalue(L, 1, 1); return lua_error(L); }
  f->unretrieved = 0;
  luaio_future_push_error(L, 1);
  return 1;
}

static int f_set_result(lua_State *L) {
  luaio_future *f = luaio_tofuture(L, 1);
  if (f->is_task) return luaio_raise(L, "RuntimeError", "Task does not support set_result()");
  if (f->state != FUT_PENDING) return luaio_raise(L, "InvalidStateError", "invalid state: future is already done");
  luaio_future_set(L, 1, 2, lua_gettop(L) - 1);
  return 0;
}

static int f_set_exception(lua_State *L) {
  luaio_future *f = luaio_tofuture(L, 1);
  if (f->is_task) return luaio_raise(L, "RuntimeError", "Task does not support set_exception()");
  luaio_checkany(L, 2);
  if (lua_isnil(L, 2)) luaio_argerror(L, 2, "error value expected, got nil");
  if (f->state != FUT_PENDING) return luaio_raise(L, "InvalidStateError", "invalid state: future is already done");
  lua_settop(L, 2);
  luaio_future_fail_with(L, 1, 2, 0);
  return 0;
}

static int f_cancel(lua_State *L) {
  luaio_future *f = luaio_tofuture(L, 1);
  if (!lua_isnoneornil(L, 2)) luaio_checkstring(L, 2);
  lua_settop(L, 2);
  if (f->is_task) lua_pushboolean(L, luaio_task_cancel(L, (luaio_task *)f, 2));
  else lua_pushboolean(L, luaio_future_cancel(L, 1, 2));
  return 1;
}

static int f_add_done_callback(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  luaio_future *f = luaio_tofuture(L, 1);
  luaio_checktype(L, 2, LUA_TFUNCTION);
  lua_settop(L, 2);
  lua_pushvalue(L, 1);
  luaio_handle_push_new(L, rt, 2, 1); /* handle calling fn(fut) */
  luaio_handle *h = lua_touserdata(L, -1);
  if (f->state == FUT_PENDING) luaio_list_append(&f->waiters, &h->node);
  else luaio_ready_push(rt, &h->node);
  return 0;
}

static int f_remove_done_callback(lua_State *L) {
  luaio_future *f = luaio_tofuture(L, 1);
  luaio_checktype(L, 2, LUA_TFUNCTION);
  int removed = 0;
  luaio_node *n = f->waiters.next;
  lua_rawgeti(L, LUA_REGISTRYINDEX, f->rt->anchors);
  while (n != &f->waiters) {
    luaio_node *next = n->next;
    if (n->kind == NODE_HANDLE) {
      luaio_handle *h = luaio_container(n, luaio_handle, node);
      lua_rawgeti(L, -1, h->ref);
      lua_getiuservalue(L, -1, 1);
      if (lua_rawequal(L, -1, 2)) {
        luaio_list_unlink(n);
        h->cancelled = 1;
        luaio_handle_release(L, f->rt, h);
        removed++;
      }
      lua_pop(L, 2);
    }
    n = next;
  }
  lua_pushinteger(L, removed);
  return 1;
}

/* Awaiting: not a suspension point when already done. */
static int await_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_task *t = luaio_rt(L)->current;
  if (luaio_take_wake_cancel(t)) {
    luaio_list_unlink(&t->node);
    return luaio_raise_cancelled(L, t);
  }
  return luaio_await_results(L, t, (int)ctx);
}

/* Cancelling a task that awaits a future cancels that future (as asyncio); the task then
 * wakes when it completes. Returns 1 when the future took the request. */
static int await_cancel(lua_State *L, luaio_task *t, int obj, int msgidx) {
  (void)t;
  luaio_future *f = luaio_testfuture(L, obj);
  if (!f) return 0;
  return f->is_task ? luaio_task_cancel(L, (luaio_task *)f, msgidx) : luaio_future_cancel(L, obj, msgidx);
}

/* "Task-3 "name"" for a task, "a Future" otherwise */
static void await_describe(lua_State *L, luaio_task *t, int obj) {
  (void)t;
  luaio_future *f = luaio_testfuture(L, obj);
  if (f && f->is_task) {
    luaio_push_task_name(L, (luaio_task *)f);
    lua_pushfstring(L, "Task-%d \"%s\"", ((luaio_task *)f)->id, lua_tostring(L, -1));
    lua_remove(L, -2);
  } else {
    lua_pushliteral(L, "a Future");
  }
}

static const luaio_wait_kind await_wait = {"a Future", await_cancel, await_describe, 0};

/* Results of an awaited future; a re-raised task error keeps the failed task's
 * traceback so the awaiting chain can be printed. */
int luaio_await_results(lua_State *L, luaio_task *t, int fidx) {
  luaio_future *f = luaio_tofuture(L, fidx);
  if (f->state == FUT_ERR && t) {
    luaio_push_traceback(L, fidx);
    if (!lua_isnil(L, -1)) {
      lua_getiuservalue(L, fidx, 1);
      luaio_task_set_chain(L, t, -1, -2);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  return luaio_future_push_results(L, fidx);
}

int luaio_await_future(lua_State *L, int fidx, const char *fname) {
  luaio_future *f = luaio_tofuture(L, fidx);
  /* a task is needed even when the future is done, but a done future is not a suspension
   * point: a pending cancellation waits for the next real one */
  luaio_task *t = luaio_check_task(L, fname);
  if (f->state != FUT_PENDING) return luaio_await_results(L, t, fidx);
  if (t->must_cancel) {
    t->must_cancel = 0;
    luaio_raise_cancelled(L, t);
  }
  fidx = lua_absindex(L, fidx);
  if (&t->fut == f) return luaio_raise(L, "RuntimeError", "a task cannot await itself");
  luaio_list_append(&f->waiters, &t->node);
  return luaio_park(L, t, &await_wait, fidx, await_k);
}

static int f_await(lua_State *L) {
  luaio_tofuture(L, 1);
  lua_settop(L, 1);
  return luaio_await_future(L, 1, "await");
}

static int f_tostring(lua_State *L) {
  luaio_future *f = luaio_tofuture(L, 1);
  static const char *const names[] = {"pending", "finished", "finished with error", "cancelled"};
  lua_pushfstring(L, "Future<%s>: %p", names[f->state], (void *)f);
  return 1;
}

/* Detach what still waits: handles lose their anchor, watches their link. */
static int f_gc(lua_State *L) {
  luaio_future *f = luaio_testfuture(L, 1);
  if (!f) return 0;
  luaio_runtime *rt = f->rt;
  if (f->waiters.next) {
    while (!luaio_list_empty(&f->waiters)) {
      luaio_node *n = f->waiters.next;
      luaio_list_unlink(n);
      if (n->kind == NODE_HANDLE && !rt->closing)
        luaio_handle_release(L, rt, luaio_container(n, luaio_handle, node));
    }
  }
  /* reported later, from the loop: a finalizer is no place to run a handler */
  if (f->unretrieved) luaio_report_defer(L, 1);
  return 0;
}

static const luaL_Reg future_methods[] = {
  {"done", f_done}, {"cancelled", f_cancelled}, {"result", f_result},
  {"exception", f_exception}, {"set_result", f_set_result},
  {"set_exception", f_set_exception}, {"cancel", f_cancel},
  {"add_done_callback", f_add_done_callback},
  {"remove_done_callback", f_remove_done_callback}, {"await", f_await},
  {"__tostring", f_tostring}, {"__gc", f_gc}, {NULL, NULL}
};

static int l_future(lua_State *L) {
  luaio_future_push_new(L, luaio_rt(L));
  return 1;
}

static int l_await(lua_State *L) {
  if (luaio_testfuture(L, 1)) {
    lua_settop(L, 1);
    return luaio_await_future(L, 1, "await");
  }
  return luaio_argerror_in(L, 1, "await", lua_pushfstring(L, "Future, Task or coroutine object "
                           "expected, got %s", luaL_typename(L, 1)));
}

void luaio_future_open(lua_State *L, luaio_runtime *rt) {
  luaio_new_class(L, LUAIO_FUTURE, future_methods, rt);
  luaio_new_class(L, LUAIO_TASK, future_methods, rt); /* task.c adds its own */
  luaL_getmetatable(L, LUAIO_FUTURE);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &luaio_key_future);
  luaL_getmetatable(L, LUAIO_TASK);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &luaio_key_task);
  static const luaL_Reg funcs[] = {{"Future", l_future}, {"_await_future", l_await}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
  luaio_wait_kind_register(rt, &await_wait);
}
