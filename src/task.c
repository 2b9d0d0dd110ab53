/* task.c — Task: a future that owns one coroutine, the resume protocol (park, wake,
 * step), cancellation through the wait kinds the parts register, and the task-level
 * functions (spawn, run, current_task ...). */
#include <string.h>
#include "task.h"
#include "loop.h"
#include "report.h"
#include "handle.h"
#include "debug.h"
#include "resources.h"

#define CANCEL_MSG "cancel_msg"
#define CANCEL_DEPTH_MAX 200

/* registry light keys: the shared coroutine body, the main task of aio.run, and the Lua
 * layer's coroutine object -> Task hook */
static const char key_task_main = 'M', key_main_task = 'm';
const char luaio_hook_coro_task = 'C';

void luaio_push_main_task(lua_State *L) { lua_rawgetp(L, LUA_REGISTRYINDEX, &key_main_task); }

/* ---- wait kinds ---- */
void luaio_wait_kind_register(luaio_runtime *rt, const luaio_wait_kind *k) {
  for (int i = 1; i < rt->nwait_kinds; i++)
    if (rt->wait_kinds[i] == k) return;
  if (rt->nwait_kinds == 0) rt->nwait_kinds = 1; /* index 0: parked on nothing */
  if (rt->nwait_kinds == LUAIO_WAIT_KINDS_MAX) return; /* parks then show "something" */
  rt->wait_kinds[rt->nwait_kinds++] = k;
}

/* A few registered kinds, and a park mostly repeats the kind of the one before (a queue
 * ping-pong, a loop of sleeps): the last index found is tried first. */
static unsigned char wait_kind_index(luaio_runtime *rt, const luaio_wait_kind *k) {
  if (rt->wait_kinds[rt->last_wait_kind] == k) return rt->last_wait_kind;
  for (int i = 1; i < rt->nwait_kinds; i++)
    if (rt->wait_kinds[i] == k) return rt->last_wait_kind = (unsigned char)i;
  return 0;
}

const luaio_wait_kind *luaio_task_wait_kind(luaio_task *t) {
  return t->state == T_WAITING && t->wait_kind ? t->fut.rt->wait_kinds[t->wait_kind] : NULL;
}

/* The object sits in the suspended C function's frame, at wait_idx. */
void luaio_task_push_waited(lua_State *L, luaio_task *t) {
  if (t->state == T_WAITING && t->co && t->wait_idx > 0 && lua_status(t->co) == LUA_YIELD &&
      lua_checkstack(t->co, 1)) {
    lua_pushvalue(t->co, t->wait_idx);
    lua_xmove(t->co, L, 1);
  } else {
    lua_pushnil(L);
  }
}

int luaio_push_task(lua_State *L, luaio_task *t) {
  if (t->ref == LUA_NOREF) { lua_pushnil(L); return 0; }
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->fut.rt->anchors);
  lua_rawgeti(L, -1, t->ref);
  lua_remove(L, -2);
  return 1;
}

void luaio_push_task_name(lua_State *L, luaio_task *t) {
  if (!luaio_push_task(L, t)) { /* finished meanwhile */
    lua_pop(L, 1);
  } else if (lua_getfield(L, -1, "get_name") == LUA_TFUNCTION) {
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) return;
    lua_pop(L, 1);
  } else {
    lua_pop(L, 2);
  }
  lua_pushfstring(L, "Task-%d", t->id);
}

luaio_task *luaio_totask(lua_State *L, int idx) {
  luaio_future *f = luaio_testfuture(L, idx);
  if (!f || !f->is_task) luaio_typeerror(L, idx, "Task");
  return (luaio_task *)f;
}

/* extras table of the task on top of L's stack (created on demand), replacing it */
static void task_extras(lua_State *L) {
  if (lua_getiuservalue(L, -1, 2) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, -3, 2);
  }
  lua_remove(L, -2);
}

/* ---- suspension protocol ---- */
luaio_task *luaio_check_task(lua_State *L, const char *fname) {
  luaio_task *t = luaio_rt(L)->current;
  if (!t || t->co != L) {
    if (t) luaL_error(L, "luaio.%s: called from a coroutine that is not a task (run it with aio.spawn)", fname);
    luaL_error(L, "luaio.%s: must be called from inside a task (see luaio.run)", fname);
  }
  if (!lua_isyieldable(L))
    luaL_error(L, "luaio.%s: cannot suspend here (attempt to yield across a C-call boundary, "
               "e.g. inside a metamethod or a table.sort comparator)", fname);
  return t;
}

/* Pushes CancelledError carrying the message of the last cancel(msg). */
static void push_cancelled_error(lua_State *L, luaio_task *t) {
  int top = lua_gettop(L);
  const char *msg = NULL;
  if (luaio_push_task(L, t)) {
    task_extras(L);
    lua_getfield(L, -1, CANCEL_MSG);
    msg = lua_tostring(L, -1);
  }
  luaio_push_error(L, "CancelledError", msg);
  lua_replace(L, top + 1);
  lua_settop(L, top + 1);
}

int luaio_raise_cancelled(lua_State *L, luaio_task *t) {
  push_cancelled_error(L, t);
  return lua_error(L);
}

luaio_task *luaio_check_suspend(lua_State *L, const char *fname) {
  luaio_task *t = luaio_check_task(L, fname);
  if (t->must_cancel) {
    t->must_cancel = 0;
    luaio_raise_cancelled(L, t);
  }
  return t;
}

int luaio_take_wake_cancel(luaio_task *t) {
  int c = t->wake_cancel;
  t->wake_cancel = 0;
  return c;
}

void luaio_raise_if_cancelled(lua_State *L, luaio_task *t) {
  if (luaio_take_wake_cancel(t)) luaio_raise_cancelled(L, t);
}

int luaio_park(lua_State *L, luaio_task *t, const luaio_wait_kind *kind, int idx, lua_KFunction k) {
  t->state = T_WAITING;
  t->in_cancel = 0;
  t->wait_kind = wait_kind_index(t->fut.rt, kind);
  t->wait_idx = idx;
  if (kind->completes_soon) { t->soon = 1; t->fut.rt->nsoon++; }
  return lua_yieldk(L, 0, idx, k);
}

int luaio_requeue(lua_State *L, luaio_task *t, lua_KFunction k) {
  t->state = T_READY;
  t->wait_kind = 0;
  luaio_ready_push(t->fut.rt, &t->node);
  return lua_yieldk(L, 0, 0, k);
}

void luaio_wake(luaio_runtime *rt, luaio_task *t) {
  if (t->state != T_WAITING) return;
  luaio_list_unlink(&t->node);
  luaio_timer_remove(rt, &t->timer);
  if (t->soon) { t->soon = 0; rt->nsoon--; }
  t->state = T_READY;
  luaio_ready_push(rt, &t->node);
}

void luaio_task_set_chain(lua_State *L, luaio_task *t, int eidx, int tbidx) {
  eidx = lua_absindex(L, eidx);
  tbidx = lua_absindex(L, tbidx);
  if (!luaio_push_task(L, t)) { lua_pop(L, 1); return; }
  task_extras(L);
  lua_pushvalue(L, eidx);
  lua_setfield(L, -2, "chain_err");
  lua_pushvalue(L, tbidx);
  lua_setfield(L, -2, "chain_tb");
  lua_pop(L, 1);
}

/* Message handler of every task body: records the traceback where the error happened
 * (with the awaited task's, when this error was re-raised from it) and returns the
 * error value unchanged. */
static int task_msgh(lua_State *co) {
  luaio_task *t = luaio_rt(co)->current;
  if (!t || luaio_is_error(co, 1, "CancelledError")) return 1;
  luaL_traceback(co, co, NULL, 1);
  luaio_push_task(co, t);
  task_extras(co);
  lua_getfield(co, -1, "chain_err");
  if (!lua_isnil(co, -1) && lua_rawequal(co, -1, 1)) {
    lua_getfield(co, -2, "chain_tb");
    lua_pushfstring(co, "%s\n(raised in an awaited task)\n%s", lua_tostring(co, 2), lua_tostring(co, -1));
    lua_replace(co, 2);
    lua_pop(co, 1);
  }
  lua_pop(co, 1);
  lua_pushvalue(co, 2);
  lua_setfield(co, -2, "traceback");
  lua_settop(co, 1);
  return 1;
}

/* The coroutine body: the task's function under a yieldable protected call, so errors
 * and cancellations unwind (closing <close> variables, which may suspend) inside it. */
static int task_main_k(lua_State *co, int status, lua_KContext ctx) {
  (void)ctx;
  lua_remove(co, 1); /* task_msgh */
  if (status == LUA_OK || status == LUA_YIELD) return lua_gettop(co); /* the results */
  luaio_rt(co)->current->body_failed = 1;
  return 1; /* the error */
}

static int task_main(lua_State *co) {
  int nargs = lua_gettop(co) - 1;
  lua_pushvalue(co, lua_upvalueindex(2)); /* task_msgh */
  lua_insert(co, 1);
  return task_main_k(co, lua_pcallk(co, nargs, LUA_MULTRET, 1, 0, task_main_k), 0);
}

/* ---- creation, steps, completion ---- */
void luaio_task_push_new(lua_State *L, luaio_runtime *rt, int nargs) {
  luaL_checkstack(L, 4, NULL);
  luaio_reserve(L, rt);
  luaio_task *t = lua_newuserdatauv(L, sizeof *t, 2);
  memset(t, 0, sizeof *t);
  t->fut.rt = rt;
  t->fut.is_task = 1;
  luaio_list_init(&t->fut.waiters);
  t->node.kind = NODE_TASK;
  t->timer.idx = -1;
  t->id = ++rt->next_id;
  t->parent_id = rt->current ? rt->current->id : 0;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &luaio_key_task);
  lua_setmetatable(L, -2);
  lua_State *co = lua_newthread(L);
  t->co = co;
  lua_setiuservalue(L, -2, 1); /* until the results replace it */
  if (luaio_debug_on(rt)) luaio_debug_record_created(L, -1); /* dump_tasks shows it */
  lua_insert(L, -(nargs + 2)); /* task, fn, args... */
  lua_checkstack(co, nargs + 2);
  lua_rawgetp(co, LUA_REGISTRYINDEX, &key_task_main);
  lua_xmove(L, co, nargs + 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_pushvalue(L, -2);
  t->ref = luaL_ref(L, -2);
  lua_pop(L, 1);
  rt->ntasks++;
  t->state = T_NEW;
  luaio_ready_push(rt, &t->node);
}

static void task_finish(luaio_runtime *rt, lua_State *L, luaio_task *t, int status, int nres) {
  lua_State *co = t->co;
  luaL_checkstack(L, nres + 6, "too many results");
  luaio_push_task(L, t);
  int tidx = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  luaL_unref(L, -1, t->ref);
  lua_pop(L, 1);
  t->ref = LUA_NOREF;
  t->state = T_DONE;
  t->co = NULL;
  rt->ntasks--;
  luaio_unreserve(rt);
  if (status == LUA_OK && !t->body_failed) {
    lua_xmove(co, L, nres);
    luaio_future_set(L, tidx, tidx + 1, nres);
  } else {
    if (status != LUA_OK) { /* an error escaped the protected body (e.g. in its handler) */
      luaL_traceback(L, co, NULL, 0);
      lua_pushvalue(L, tidx);
      task_extras(L);
      lua_insert(L, -2);
      lua_setfield(L, -2, "traceback");
      lua_pop(L, 1);
    }
    lua_xmove(co, L, 1);
    if (luaio_is_error(L, -1, "CancelledError")) {
      lua_setiuservalue(L, tidx, 1);
      t->fut.state = FUT_CANCELLED;
      luaio_future_complete(L, tidx);
    } else {
      /* call graphs: the traceback names who awaited it (cost only on failure) */
      if (!luaio_list_empty(&t->fut.waiters)) luaio_debug_note_awaiters(L, tidx, t);
      luaio_future_fail_with(L, tidx, -1, 0);
    }
  }
  lua_settop(L, tidx - 1);
}

void luaio_task_step(luaio_runtime *rt, lua_State *L, luaio_task *t) {
  lua_State *co = t->co;
  int nargs;
  if (t->state == T_NEW) {
    if (t->must_cancel) { /* cancelled before it started: the body never runs */
      lua_settop(co, 0);
      push_cancelled_error(co, t);
      t->body_failed = 1;
      task_finish(rt, L, t, LUA_OK, 1);
      return;
    }
    nargs = lua_gettop(co) - 1;
  } else if (t->state == T_READY) {
    nargs = t->nargs;
  } else {
    return;
  }
  t->nargs = 0;
  t->state = T_RUNNING;
  t->bare_yield = 0;
  luaio_task *prev = rt->current;
  rt->current = t;
  int nres;
  int status = lua_resume(co, L, nargs, &nres);
  rt->current = prev;
  if (status == LUA_YIELD) {
    if (t->state == T_RUNNING) { /* a plain coroutine.yield(): acts as sleep(0) */
      lua_pop(co, nres);
      t->bare_yield = 1;
      t->state = T_READY;
      luaio_ready_push(rt, &t->node);
    }
    return;
  }
  task_finish(rt, L, t, status, nres);
}

static void deliver_cancel(lua_State *L, luaio_task *t, int msgidx);

/* A cancel postponed to a later round (see deliver_cancel): (task, message or nil). */
static int deferred_cancel(lua_State *L) {
  luaio_task *t = lua_touserdata(L, 1);
  if (t->state != T_DONE) deliver_cancel(L, t, lua_isnil(L, 2) ? 0 : 2);
  return 0;
}

/* The request reaches the task in whatever state it is in. A waiting task's wait kind may
 * take it first (cancel what it awaits). While that runs, a cycle of awaits (A awaits B
 * awaits A, or a gather of the task itself) comes back here on the default path, not
 * forever. A chain of awaits nests one cancel per task: past CANCEL_DEPTH_MAX the rest of
 * the chain is cancelled from the next round, so no chain exhausts the C or Lua stack. */
static void deliver_cancel(lua_State *L, luaio_task *t, int msgidx) {
  luaio_runtime *rt = t->fut.rt;
  switch (t->state) {
  case T_NEW:
  case T_RUNNING:
    t->must_cancel = 1;
    break;
  case T_READY:
    if (t->bare_yield) t->must_cancel = 1;
    else t->wake_cancel = 1;
    break;
  case T_WAITING: {
    const luaio_wait_kind *k = luaio_task_wait_kind(t);
    if (k && k->cancel && !t->in_cancel && lua_checkstack(L, 8)) {
      if (rt->cancel_depth >= CANCEL_DEPTH_MAX) {
        lua_pushlightuserdata(L, rt);
        lua_pushcclosure(L, deferred_cancel, 1);
        int fidx = lua_gettop(L);
        luaio_push_task(L, t);
        if (msgidx) lua_pushvalue(L, msgidx);
        else lua_pushnil(L);
        luaio_handle_push_new(L, rt, fidx, 2);
        luaio_ready_push(rt, &((luaio_handle *)lua_touserdata(L, -1))->node);
        lua_settop(L, fidx - 1);
        return;
      }
      luaio_task_push_waited(L, t);
      t->in_cancel = 1;
      rt->cancel_depth++;
      int took = k->cancel(L, t, lua_gettop(L), msgidx);
      rt->cancel_depth--;
      t->in_cancel = 0;
      lua_pop(L, 1);
      if (took) return;
    }
    luaio_wake(rt, t);
    t->wake_cancel = 1;
    break;
  }
  }
}

int luaio_task_cancel(lua_State *L, luaio_task *t, int msgidx) {
  if (t->state == T_DONE) return 0;
  msgidx = msgidx ? lua_absindex(L, msgidx) : 0;
  t->num_cancels++;
  /* a cancellation already on its way keeps its message (as asyncio) */
  int on_its_way = t->must_cancel || t->wake_cancel;
  if (!on_its_way && msgidx && !lua_isnil(L, msgidx) && luaio_push_task(L, t)) {
    task_extras(L);
    lua_pushvalue(L, msgidx);
    lua_setfield(L, -2, CANCEL_MSG);
    lua_pop(L, 1);
  }
  deliver_cancel(L, t, msgidx);
  return 1;
}

/* ---- Task methods (Future's are in the same metatable) ---- */
static int t_get_name(lua_State *L) {
  luaio_task *t = luaio_totask(L, 1);
  lua_settop(L, 1);
  task_extras(L);
  if (lua_getfield(L, -1, "name") == LUA_TNIL) lua_pushfstring(L, "Task-%d", t->id);
  return 1;
}

static int t_set_name(lua_State *L) {
  luaio_totask(L, 1);
  luaio_checkany(L, 2);
  luaL_tolstring(L, 2, NULL);
  lua_pushvalue(L, 1);
  task_extras(L);
  lua_insert(L, -2);
  lua_setfield(L, -2, "name");
  return 0;
}

static int t_cancelling(lua_State *L) {
  lua_pushinteger(L, luaio_totask(L, 1)->num_cancels);
  return 1;
}

static int t_uncancel(lua_State *L) {
  luaio_task *t = luaio_totask(L, 1);
  if (t->num_cancels > 0 && --t->num_cancels == 0) t->must_cancel = 0;
  lua_pushinteger(L, t->num_cancels);
  return 1;
}

/* The live task's current stack, or the failure's traceback. */
static int t_traceback(lua_State *L) {
  luaio_task *t = luaio_totask(L, 1);
  if (t->co) {
    luaL_traceback(L, t->co, NULL, 0);
    return 1;
  }
  lua_settop(L, 1);
  luaio_push_traceback(L, 1);
  if (lua_isnil(L, -1)) lua_pushliteral(L, "");
  return 1;
}

static const char *const state_names[] = {"pending", "ready", "running", "waiting", "done"};

static int t_tostring(lua_State *L) {
  luaio_task *t = luaio_totask(L, 1);
  lua_settop(L, 1);
  t_get_name(L);
  const char *st = state_names[t->state];
  if (t->state == T_DONE)
    st = t->fut.state == FUT_OK ? "finished" : t->fut.state == FUT_ERR ? "failed" : "cancelled";
  lua_pushfstring(L, "Task<%s %s>", lua_tostring(L, -1), st);
  return 1;
}

static const luaL_Reg task_methods[] = {
  {"get_name", t_get_name}, {"set_name", t_set_name}, {"cancelling", t_cancelling},
  {"uncancel", t_uncancel}, {"traceback", t_traceback}, {"__tostring", t_tostring},
  {NULL, NULL}
};

/* ---- module functions ---- */
static void check_callable(lua_State *L, int idx) {
  if (lua_isfunction(L, idx)) return;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) { lua_pop(L, 1); return; }
  luaio_typeerror(L, idx, "function");
}

static int l_spawn(lua_State *L) {
  check_callable(L, 1);
  luaio_task_push_new(L, luaio_rt(L), lua_gettop(L) - 1);
  return 1;
}

static int l_current_task(lua_State *L) {
  luaio_task *t = luaio_rt(L)->current;
  if (!t) lua_pushnil(L);
  else luaio_push_task(L, t);
  return 1;
}

/* Pushes a list of the live tasks. */
static int l_all_tasks(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  lua_createtable(L, rt->ntasks, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    luaio_task *t = luaL_testudata(L, -1, LUAIO_TASK);
    if (t && t->state != T_DONE) lua_rawseti(L, -4, ++n);
    else lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 1;
}

/* Cancels every live task and runs the loop until they have all finished (or nothing
 * can progress any more). */
void luaio_shutdown_tasks(luaio_runtime *rt, lua_State *L) {
  int top = lua_gettop(L);
  l_all_tasks(L);
  int n = (int)lua_rawlen(L, -1);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, top + 1, i);
    luaio_task_cancel(L, lua_touserdata(L, -1), 0);
    lua_pop(L, 1);
  }
  lua_settop(L, top);
  if (rt->ntasks) luaio_run_loop(rt, L, NULL);
}

void luaio_forget_tasks(luaio_runtime *rt, lua_State *L) {
  lua_pushnil(L); /* a runtime opened later on L must not find this one's main task */
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_main_task);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    luaio_task *t = luaL_testudata(L, -1, LUAIO_TASK);
    if (t && t->state != T_DONE) {
      luaio_list_unlink(&t->node);
      luaio_timer_remove(rt, &t->timer);
      t->wait_kind = 0;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Runs the main task (argument 1) until it ends, then, when argument 2 says so, cancels
 * and drains what is left (aio.run; a Runner keeps the rest for its next run or close).
 * Returns whether it got stuck, what it was waiting on and, when stuck, where (its
 * suspended stack, taken before the cancellation unwinds it). */
static int run_main_p(lua_State *L) {
  luaio_task *t = lua_touserdata(L, 1);
  int drain = lua_toboolean(L, 2);
  luaio_runtime *rt = luaio_rt(L);
  int stuck = luaio_run_loop(rt, L, t);
  lua_pushboolean(L, stuck);
  const luaio_wait_kind *k = luaio_task_wait_kind(t);
  lua_pushstring(L, k ? k->name : "something");
  if (stuck && t->co) luaL_traceback(L, t->co, NULL, 0);
  else lua_pushnil(L);
  if (stuck) luaio_task_cancel(L, t, 0);
  if (drain) {
    luaio_shutdown_tasks(rt, L);
    luaio_resources_report(rt, L); /* aio.run closes its loop: debug mode lists leaks */
  } else if (stuck) luaio_run_loop(rt, L, t); /* the cancellation unwinds the main task */
  return 3;
}

static int refuse_in_loop(lua_State *L, luaio_runtime *rt, const char *fname) {
  if (!rt->runL) return 0;
  return luaio_raise(L, "RuntimeError", "luaio.%s: cannot be called from a running event "
                     "loop (use aio.spawn, or call it from a task)", fname);
}

/* core.run(drain, fn, ...): runs fn as the main task until it ends; the Lua layer handles
 * coroutine objects, the in-task case and aio.Runner. */
static int l_run(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  refuse_in_loop(L, rt, "run");
  int drain = lua_toboolean(L, 1);
  lua_remove(L, 1);
  check_callable(L, 1);
  luaio_task_push_new(L, rt, lua_gettop(L) - 1);
  luaio_task *t = lua_touserdata(L, -1);
  int tidx = lua_gettop(L);
  lua_pushvalue(L, tidx);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_main_task);
  /* an error escaping the loop (out of memory) must leave the runtime usable */
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, run_main_p, 1);
  lua_pushlightuserdata(L, t);
  lua_pushboolean(L, drain);
  if (lua_pcall(L, 2, 3, 0) != LUA_OK) {
    rt->runL = NULL;
    rt->current = NULL;
    return lua_error(L);
  }
  int stuck = lua_toboolean(L, -3);
  const char *waits = lua_tostring(L, -2);
  /* debug mode: coroutine objects forgotten during the run are collected, and reported
   * below with the rest (their finalizers queue them) */
  if (luaio_debug_on(rt)) lua_gc(L, LUA_GCCOLLECT);
  if (stuck || t->fut.state == FUT_PENDING) {
    t->fut.unretrieved = 0;
    luaio_report_unretrieved(rt, L);
    lua_pushfstring(L, "deadlock: the main task waits on %s that nothing can complete (no "
                    "ready task, timer, open handle or pending request)", waits);
    luaio_push_error(L, "RuntimeError", lua_tostring(L, -1));
    lua_pushvalue(L, -3); /* where the main task was stuck, or nil */
    lua_setfield(L, -2, "traceback");
    return lua_error(L);
  }
  t->fut.unretrieved = 0;
  luaio_report_unretrieved(rt, L);
  return luaio_future_push_results(L, tidx);
}

static int shutdown_p(lua_State *L) {
  luaio_shutdown_tasks(luaio_rt(L), L);
  luaio_resources_report(luaio_rt(L), L); /* Runner:close closes the loop: leaks */
  return 0;
}

/* core.shutdown(): cancels every task left and drains them (aio.Runner's close). */
static int l_shutdown(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  refuse_in_loop(L, rt, "Runner.close");
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, shutdown_p, 1);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
    rt->runL = NULL;
    rt->current = NULL;
    return lua_error(L);
  }
  luaio_report_unretrieved(rt, L);
  return 0;
}

/* core.chain(err, traceback): the current task is about to re-raise err, which failed
 * elsewhere with that traceback (a shielded task, a job): its own traceback will carry it
 * as for a directly awaited task's error. */
static int l_chain(lua_State *L) {
  luaio_task *t = luaio_rt(L)->current;
  if (t && lua_type(L, 2) == LUA_TSTRING) luaio_task_set_chain(L, t, 1, 2);
  return 0;
}

static int l_main_task(lua_State *L) {
  luaio_push_main_task(L);
  return 1;
}

static int l_running(lua_State *L) {
  lua_pushboolean(L, luaio_rt(L)->runL != NULL);
  return 1;
}

static int l_in_task(lua_State *L) {
  luaio_task *t = luaio_rt(L)->current;
  lua_pushboolean(L, t && t->co == L);
  return 1;
}

/* ---- coroutine objects (aio.async): a table whose metatable the Lua layer fills ---- */
int luaio_is_coro(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, LUAIO_CORO);
  int r = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return r;
}

void luaio_task_open(lua_State *L, luaio_runtime *rt) {
  luaL_getmetatable(L, LUAIO_TASK);
  luaio_register(L, task_methods, rt);
  lua_pop(L, 1);
  /* the coroutine body, shared by every task */
  lua_pushlightuserdata(L, rt);
  lua_pushlightuserdata(L, rt);
  lua_pushcclosure(L, task_msgh, 1);
  lua_pushcclosure(L, task_main, 2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_task_main);
  luaL_newmetatable(L, LUAIO_CORO);
  lua_setfield(L, -2, "_Coroutine");
  static const luaL_Reg funcs[] = {
    {"spawn", l_spawn}, {"current_task", l_current_task}, {"all_tasks", l_all_tasks},
    {"_run", l_run}, {"_shutdown", l_shutdown}, {"_running", l_running}, {"_chain", l_chain},
    {"_in_task", l_in_task}, {"_main_task", l_main_task}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
