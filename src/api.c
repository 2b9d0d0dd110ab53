/* api.c — the embedding API (luaio.h): a host opens luaio into its lua_State, spawns
 * tasks, looks at their outcome, drives the loop (to completion, per frame, or inside its
 * own uv_run), settles futures from C, delivers interrupts and closes it all. Each entry
 * is a thin layer over the module, the loop, the tasks and the signals. */
#include <stdlib.h>
#include <string.h>
#include "luaio.h"
#include "module.h"
#include "loop.h"
#include "timer.h"
#include "future.h"
#include "task.h"
#include "report.h"
#include "signals.h"

/* ---- opening and closing ---- */
luaio_runtime *luaio_get(lua_State *L) { return luaio_module_get(L); }

luaio_runtime *luaio_open(lua_State *L, uv_loop_t *loop) {
  luaio_runtime *rt = luaio_get(L);
  return rt ? rt : luaio_module_open(L, loop);
}

int luaopen_luaio(lua_State *L) {
  if (!luaio_open(L, NULL)) return lua_error(L);
  luaio_module_push(L);
  return 1;
}

/* require "luaio.redis" / "luaio.jobs" under stock lua5.4: Lua's all-in-one C loader
 * finds these entries in luaio.so. Each requires luaio and returns the submodule its Lua
 * file left in the private table (under the binary package.preload answers first). */
static int open_submodule(lua_State *L, const char *name) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "luaio");
  lua_call(L, 1, 1);
  luaio_runtime *rt = luaio_get(L);
  if (!rt || rt->priv == LUA_NOREF) return luaL_error(L, "luaio is not open in this state");
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->priv);
  lua_getfield(L, -1, name);
  return 1;
}

int luaopen_luaio_redis(lua_State *L) { return open_submodule(L, "redis"); }
int luaopen_luaio_jobs(lua_State *L) { return open_submodule(L, "jobs"); }

void luaio_close(luaio_runtime *rt) {
  if (!rt || !rt->loop || rt->closing) return;
  luaio_detach(rt);
  luaio_module_close(rt);
}

uv_loop_t *luaio_loop(luaio_runtime *rt) { return rt->loop; }
lua_State *luaio_state(luaio_runtime *rt) { return rt->L; }
lua_State *luaio_callback_state(luaio_runtime *rt) { return rt->runL ? rt->runL : rt->L; }

void luaio_set_error_handler(luaio_runtime *rt, luaio_error_fn fn, void *ud) {
  if (!rt) return;
  rt->cerr = fn;
  rt->cerr_ud = ud;
}

void luaio_spawn(lua_State *L, int nargs) {
  luaio_runtime *rt = luaio_get(L);
  if (!rt) luaL_error(L, "luaio_spawn: luaio is not open in this state");
  luaio_task_push_new(L, rt, nargs);
  if (rt->attached) luaio_attach(rt); /* the host's uv_run must not block now */
}

/* ---- driving the loop from the host ---- */
int luaio_set_clock(luaio_runtime *rt, int clock, double autojump) {
  if (!rt || !rt->loop || !(autojump >= 0)) return -1;
  return luaio_clock_set(rt, clock, autojump < 1e9 ? (uint64_t)(autojump * 1e9) : (uint64_t)1e18);
}

void luaio_advance_clock(luaio_runtime *rt, double seconds) {
  if (rt && rt->loop && seconds > 0)
    luaio_clock_advance(rt, seconds < 1e9 ? (uint64_t)(seconds * 1e9) : (uint64_t)1e18);
}

int luaio_step(luaio_runtime *rt, double budget, int *ready) {
  if (ready) *ready = 0;
  if (luaio_drive(rt, LUAIO_DRIVE_STEP, budget, NULL) < 0) return -1;
  if (ready) *ready = rt->ring_count > 0;
  return rt->ntasks;
}

int luaio_run_until_idle(luaio_runtime *rt) {
  return luaio_drive(rt, LUAIO_DRIVE_IDLE, 0, NULL) < 0 ? -1 : LUA_OK;
}

int luaio_task_wait(lua_State *L, int idx) {
  luaio_runtime *rt = luaio_get(L);
  luaio_future *f = luaio_testfuture(L, idx);
  if (!rt || !f) return -1;
  if (f->state == FUT_PENDING) {
    lua_pushvalue(L, idx); /* keeps it alive while the loop runs */
    int r = luaio_drive(rt, LUAIO_DRIVE_UNTIL, 0, f);
    lua_pop(L, 1);
    if (r < 0) return -1;
  }
  return f->state; /* LUAIO_PENDING .. LUAIO_CANCELLED are the future states */
}

int luaio_backend_fd(luaio_runtime *rt) { return rt && rt->loop ? uv_backend_fd(rt->loop) : -1; }

int luaio_backend_timeout(luaio_runtime *rt) {
  return rt && rt->loop ? luaio_poll_timeout(rt) : -1;
}

/* ---- attached mode: the host's uv_run drives luaio ----
 * A prepare handle (unreferenced: it never keeps the loop alive by itself) runs due timers
 * and ready tasks once per loop iteration, right before libuv polls. Then the idle handle
 * is active while tasks are ready (the poll does not block) and the wake timer is armed
 * for luaio's next deadline (the poll wakes in time, and sleeping tasks keep uv_run going). */
static void host_idle_cb(uv_idle_t *h) { (void)h; }
static void host_wake_cb(uv_timer_t *h) { (void)h; }

static void attach_arm(luaio_runtime *rt) {
  if (rt->ring_count) uv_idle_start(&rt->host_idle, host_idle_cb);
  else uv_idle_stop(&rt->host_idle);
  int64_t ms = luaio_timers_next_ms(rt);
  if (ms >= 0) {
    uv_update_time(rt->loop);
    uv_timer_start(&rt->wake, host_wake_cb, (uint64_t)ms, 0);
  } else {
    uv_timer_stop(&rt->wake);
  }
}

static void host_prep_cb(uv_prepare_t *p) {
  luaio_runtime *rt = p->data;
  if (rt->runL) { uv_idle_stop(&rt->host_idle); return; } /* luaio drives the loop itself */
  luaio_drive(rt, LUAIO_DRIVE_ATTACHED, 0, NULL);
  if (rt->attached && rt->loop) attach_arm(rt);
}

int luaio_attach(luaio_runtime *rt) {
  if (!rt || !rt->loop) return -1;
  if (!rt->attached) {
    rt->host_prep.data = rt;
    uv_prepare_start(&rt->host_prep, host_prep_cb);
    uv_unref((uv_handle_t *)&rt->host_prep);
    rt->attached = 1;
  }
  if (!rt->runL) attach_arm(rt);
  return 0;
}

void luaio_detach(luaio_runtime *rt) {
  if (!rt || !rt->loop || !rt->attached) return;
  rt->attached = 0;
  uv_prepare_stop(&rt->host_prep);
  uv_idle_stop(&rt->host_idle);
  if (!rt->runL) uv_timer_stop(&rt->wake);
}

/* ---- interrupts and dumps ---- */
void luaio_interrupt(luaio_runtime *rt) { luaio_signals_interrupt(rt); }

void luaio_request_dump(luaio_runtime *rt) {
  if (rt) luaio_signals_request_dump(rt);
}

void luaio_set_interrupt_target(lua_State *L) { luaio_signals_set_target(L, luaio_get(L)); }

void luaio_report_errors(luaio_runtime *rt) {
  if (rt && rt->loop) luaio_report_unretrieved(rt, luaio_callback_state(rt));
}

/* ---- tasks and futures seen from C ---- */
/* the public status codes are the future states */
static const int c_status[] = {LUAIO_PENDING, LUAIO_OK, LUAIO_FAILED, LUAIO_CANCELLED};
_Static_assert(FUT_PENDING == 0 && FUT_OK == 1 && FUT_ERR == 2 && FUT_CANCELLED == 3,
               "luaio_task_status maps future states by index");

int luaio_task_status(lua_State *L, int idx) {
  luaio_future *f = luaio_testfuture(L, idx);
  return f ? c_status[f->state] : -1;
}

int luaio_task_result(lua_State *L, int idx, int *nresults) {
  luaio_future *f = luaio_testfuture(L, idx);
  if (nresults) *nresults = 0;
  if (!f) return -1;
  idx = lua_absindex(L, idx);
  switch (f->state) {
  case FUT_OK: {
    int n = f->nres;
    luaL_checkstack(L, n + 1, "too many results");
    lua_getiuservalue(L, idx, 1);
    if (n != 1) {
      int t = lua_gettop(L);
      for (int i = 1; i <= n; i++) lua_rawgeti(L, t, i);
      lua_remove(L, t);
    }
    if (nresults) *nresults = n;
    break;
  }
  case FUT_ERR:
    f->unretrieved = 0; /* the host has seen it: not reported as lost */
    /* fall through */
  case FUT_CANCELLED:
    lua_getiuservalue(L, idx, 1);
    if (nresults) *nresults = 1;
    break;
  }
  return c_status[f->state];
}

int luaio_cancel(lua_State *L, int idx) {
  luaio_future *f = luaio_testfuture(L, idx);
  if (!f || f->state != FUT_PENDING || !luaio_get(L)) return 0;
  int r;
  if (f->is_task) {
    r = luaio_task_cancel(L, (luaio_task *)f, 0);
  } else {
    idx = lua_absindex(L, idx);
    r = luaio_future_cancel(L, idx, 0);
  }
  if (r && f->rt->attached) luaio_attach(f->rt);
  return r;
}

int luaio_run(lua_State *L, int nargs, int nresults, char **traceback) {
  if (traceback) *traceback = NULL;
  int base = lua_gettop(L) - nargs; /* the function's slot */
  luaio_module_push(L);
  lua_getfield(L, -1, "run");
  lua_remove(L, -2);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs + 1, nresults, 0);
  if (status != LUA_OK && traceback) {
    luaio_push_main_task(L);
    luaio_future *f = luaio_testfuture(L, -1);
    if (f && f->state == FUT_ERR) luaio_push_traceback(L, lua_gettop(L));
    else if (lua_istable(L, -2)) { /* a deadlock's: where the main task was stuck */
      lua_pushliteral(L, "traceback");
      lua_rawget(L, -3);
    } else lua_pushnil(L);
    const char *tb = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (tb) { /* the host's to free; NULL if even that cannot be had */
      *traceback = malloc(strlen(tb) + 1);
      if (*traceback) strcpy(*traceback, tb);
    }
    lua_pop(L, 2);
  }
  return status;
}

/* ---- host futures ---- */
int luaio_future_new(lua_State *L) {
  luaio_future_push_new(L, luaio_get(L));
  lua_pushvalue(L, -1);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int settle(lua_State *L, int ref, int nvalues, int fail) {
  luaio_runtime *rt = luaio_get(L);
  if (!rt) { /* closed: the future and its waiters are gone with the runtime */
    lua_pop(L, nvalues);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return -1;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, -(nvalues + 1));
  int fidx = lua_gettop(L) - nvalues;
  int done = 0;
  if (luaio_testfuture(L, fidx))
    done = fail ? luaio_future_fail_with(L, fidx, fidx + 1, 0) : luaio_future_set(L, fidx, fidx + 1, nvalues);
  lua_settop(L, fidx - 1);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  if (rt->attached) luaio_attach(rt); /* re-armed once the waiters are ready to run */
  return done ? 0 : -1;
}

int luaio_future_resolve(lua_State *L, int ref, int nvalues) { return settle(L, ref, nvalues, 0); }
int luaio_future_fail(lua_State *L, int ref) { return settle(L, ref, 1, 1); }
void luaio_future_release(lua_State *L, int ref) { luaL_unref(L, LUA_REGISTRYINDEX, ref); }
