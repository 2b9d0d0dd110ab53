/* test_api_contract.c — an independent acceptance test of the embedding C API and
 * the contract written in src/luaio.h, written from the documentation only: opening (own
 * loop / host loop / require), spawning from C with arguments and reading results and
 * errors, luaio_task_* on Tasks and Futures, stepping with and without a budget, running to
 * completion, backend fd/timeout, host futures (also after the awaiting task was
 * cancelled), the C error handler, luaio_run, attaching to a host's uv_run, interrupts,
 * shutdown with pending tasks, two runtimes side by side, and documented bad input. */
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <lualib.h>
#include <lauxlib.h>
#include "luaio.h"
#include "harness.h"

/* ---------------------------------------------------------------- helpers */

typedef struct reports {
  int n;
  char msg[4][512];
  int tb[4];
} reports;

static void on_error(void *ud, const char *message, const char *traceback) {
  reports *r = ud;
  if (r->n < 4) {
    snprintf(r->msg[r->n], sizeof r->msg[r->n], "%s", message ? message : "(NULL)");
    r->tb[r->n] = traceback != NULL;
  }
  r->n++;
}

static lua_State *fresh(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  return L;
}

/* Runs `src` (a chunk) and leaves its single return value on the stack (nil on error). */
static int push_value(lua_State *L, const char *src) {
  if (luaL_loadstring(L, src) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
    printf("# chunk error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushnil(L);
    return 0;
  }
  return 1;
}

/* Evaluates an expression/statement list; returns 1 when it ran without error. */
static int run_lua(lua_State *L, const char *src) {
  if (luaL_dostring(L, src) != LUA_OK) {
    printf("# lua error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

/* Reads a global string (copied into buf) — typically a log written by tasks. */
static const char *global_str(lua_State *L, const char *name, char *buf, size_t sz) {
  lua_getglobal(L, name);
  const char *s = lua_tostring(L, -1);
  snprintf(buf, sz, "%s", s ? s : "(nil)");
  lua_pop(L, 1);
  return buf;
}

static lua_Integer global_int(lua_State *L, const char *name) {
  lua_getglobal(L, name);
  lua_Integer v = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* Spawns `fn_src` (a chunk returning a function) with no arguments; leaves the Task on top. */
static void spawn0(lua_State *L, const char *fn_src) {
  push_value(L, fn_src);
  luaio_spawn(L, 0);
}

/* C functions exposed to scripts, to try the driving calls from inside the loop. */
static int l_step(lua_State *L) {
  lua_pushinteger(L, luaio_step(luaio_get(L), 0, NULL));
  return 1;
}
static int l_run_until_idle(lua_State *L) {
  lua_pushinteger(L, luaio_run_until_idle(luaio_get(L)));
  return 1;
}
static int l_wait(lua_State *L) {
  lua_pushinteger(L, luaio_task_wait(L, 1));
  return 1;
}
static int l_interrupt(lua_State *L) {
  luaio_interrupt(luaio_get(L));
  return 0;
}
static void expose_c(lua_State *L) {
  lua_register(L, "c_step", l_step);
  lua_register(L, "c_run_until_idle", l_run_until_idle);
  lua_register(L, "c_wait", l_wait);
  lua_register(L, "c_interrupt", l_interrupt);
}

/* ---------------------------------------------------------------- opening */

static void open_own_loop(tap_state *T) {
  lua_State *L = fresh();
  CHECK(T, luaio_get(L) == NULL);
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, rt != NULL);
  CHECK(T, lua_gettop(L) == 0);
  CHECK(T, luaio_get(L) == rt);
  CHECK(T, luaio_state(rt) == L);
  uv_loop_t *loop = luaio_loop(rt);
  CHECK(T, loop != NULL && loop != uv_default_loop());
  /* opened once per state */
  CHECK(T, luaio_open(L, NULL) == rt);
  CHECK(T, luaio_loop(rt) == loop);
  /* registered in package.loaded["luaio"], what require returns */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "luaio");
  CHECK(T, lua_istable(L, -1));
  const void *mod = lua_topointer(L, -1);
  lua_settop(L, 0);
  push_value(L, "return require 'luaio'");
  CHECK(T, lua_topointer(L, -1) == mod);
  lua_settop(L, 0);
  /* any thread of L */
  lua_State *co = lua_newthread(L);
  lua_setglobal(L, "CO"); /* anchored: used again after close */
  CHECK(T, luaio_get(co) == rt);
  lua_settop(L, 0);
  /* and from inside a task */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() return aio.current_task() ~= nil, type(aio.sleep) end");
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_OK && n == 2);
  CHECK(T, lua_toboolean(L, -2));
  CHECK_STR(T, lua_tostring(L, -1), "function");
  lua_settop(L, 0);
  luaio_close(rt);
  CHECK(T, luaio_get(L) == NULL);
  CHECK(T, luaio_get(co) == NULL);
  lua_close(L);
}

static void open_via_luaopen(tap_state *T) {
  lua_State *L = fresh();
  /* the module entry, as `require` with a preloaded C module */
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(L, luaopen_luaio);
  lua_setfield(L, -2, "luaio");
  lua_pop(L, 1);
  CHECK(T, luaio_get(L) == NULL);
  CHECK(T, run_lua(L, "AIO = require 'luaio'"));
  luaio_runtime *rt = luaio_get(L);
  CHECK(T, rt != NULL);
  CHECK(T, rt && luaio_loop(rt) != NULL);
  CHECK(T, luaio_open(L, NULL) == rt); /* already open: returned as is */
  CHECK(T, run_lua(L, "R = AIO.run(function(a, b) AIO.sleep(0.001) return a .. b end, 'x', 'y')"));
  char buf[64];
  CHECK_STR(T, global_str(L, "R", buf, sizeof buf), "xy");
  luaio_close(rt);
  CHECK(T, luaio_get(L) == NULL);
  lua_close(L);
}

static void host_timer_cb(uv_timer_t *t) { (*(int *)t->data)++; }

static void open_host_loop(tap_state *T) {
  uv_loop_t loop;
  CHECK(T, uv_loop_init(&loop) == 0);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, &loop);
  CHECK(T, rt != NULL);
  CHECK(T, luaio_loop(rt) == &loop);
  /* the host's own handle on its loop is left alone by luaio */
  int fired = 0;
  uv_timer_t host_timer;
  uv_timer_init(&loop, &host_timer);
  host_timer.data = &fired;
  uv_timer_start(&host_timer, host_timer_cb, 1, 0);
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.sleep(0.003) return 'on host loop' end");
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_OK && n == 1);
  CHECK_STR(T, lua_tostring(L, -1), "on host loop");
  lua_settop(L, 0);
  luaio_close(rt);
  CHECK(T, luaio_get(L) == NULL);
  /* borrowed loop is reusable, luaio's handles are gone, the host's still works */
  uv_timer_start(&host_timer, host_timer_cb, 1, 0);
  int before = fired;
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, fired == before + 1);
  uv_close((uv_handle_t *)&host_timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, uv_loop_close(&loop) == 0);
  /* reopen on the same state after close: a fresh runtime */
  luaio_runtime *rt2 = luaio_open(L, NULL);
  CHECK(T, rt2 != NULL && luaio_get(L) == rt2);
  CHECK(T, rt2 && luaio_loop(rt2) != &loop);
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(0) return 7 end");
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK && lua_tointeger(L, -1) == 7);
  lua_settop(L, 0);
  luaio_close(rt2);
  lua_close(L);
}

/* ---------------------------------------------------------------- spawn / status / result */

static void spawn_with_args_and_results(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  lua_pushstring(L, "below"); /* something of the host's below the function */
  push_value(L, "local aio = require 'luaio'\n"
                "return function(a, b, c) STARTED = true; aio.sleep(0)\n"
                "  return a + b, c, nil, select('#', a, b, c) end");
  lua_pushinteger(L, 40);
  lua_pushinteger(L, 2);
  lua_pushstring(L, "s");
  luaio_spawn(L, 3);
  /* the function and args are popped, the Task pushed */
  CHECK(T, lua_gettop(L) == 2);
  CHECK_STR(T, lua_tostring(L, 1), "below");
  CHECK(T, luaio_task_status(L, -1) == LUAIO_PENDING);
  CHECK(T, luaio_task_status(L, 2) == LUAIO_PENDING); /* absolute index too */
  /* it does not start inside luaio_spawn */
  lua_getglobal(L, "STARTED");
  CHECK(T, lua_isnil(L, -1));
  lua_pop(L, 1);
  /* the pushed value is a Task object with the methods of §3 */
  lua_getfield(L, -1, "get_name");
  CHECK(T, lua_isfunction(L, -1));
  lua_pop(L, 1);
  /* pending: result pushes nothing */
  int n = 99;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_PENDING);
  CHECK(T, n == 0);
  CHECK(T, lua_gettop(L) == 2);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_PENDING); /* nresults may be NULL */
  /* wait drives it to completion */
  CHECK(T, luaio_task_wait(L, 2) == LUAIO_OK);
  lua_getglobal(L, "STARTED");
  CHECK(T, lua_toboolean(L, -1));
  lua_pop(L, 1);
  CHECK(T, luaio_task_status(L, 2) == LUAIO_OK);
  n = 0;
  CHECK(T, luaio_task_result(L, 2, &n) == LUAIO_OK);
  CHECK(T, n == 4);
  CHECK(T, lua_gettop(L) == 2 + 4);
  CHECK(T, lua_tointeger(L, 3) == 42);
  CHECK_STR(T, lua_tostring(L, 4), "s");
  CHECK(T, lua_isnil(L, 5));
  CHECK(T, lua_tointeger(L, 6) == 3);
  lua_settop(L, 2);
  /* result can be read again */
  CHECK(T, luaio_task_result(L, 2, NULL) == LUAIO_OK && lua_tointeger(L, 3) == 42);
  lua_settop(L, 0);
  /* zero results */
  spawn0(L, "return function() end");
  n = 5;
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_OK && n == 0 && lua_gettop(L) == 1);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void spawn_failure_readable_and_retrieved(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  /* a table error value comes back unchanged (the same table) */
  push_value(L, "ERR = {code = 42}; return ERR");
  push_value(L, "local aio = require 'luaio'\n"
                "return function(e) aio.sleep(0) error(e) end");
  lua_pushvalue(L, 1);
  luaio_spawn(L, 1);
  CHECK(T, lua_gettop(L) == 2);
  CHECK(T, luaio_task_wait(L, 2) == LUAIO_FAILED);
  CHECK(T, luaio_task_status(L, 2) == LUAIO_FAILED);
  int n = 0;
  CHECK(T, luaio_task_result(L, 2, &n) == LUAIO_FAILED);
  CHECK(T, n == 1 && lua_gettop(L) == 3);
  CHECK(T, lua_rawequal(L, 1, 3));
  lua_settop(L, 0);
  /* a string error keeps its message */
  spawn0(L, "return function() error('kaboom', 0) end");
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_FAILED);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_FAILED);
  CHECK_STR(T, lua_tostring(L, -1), "kaboom");
  lua_settop(L, 0);
  /* retrieved by the host: never reported, not at idle, not when collected */
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  lua_gc(L, LUA_GCCOLLECT, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, r.n == 0);
  luaio_close(rt);
  CHECK(T, r.n == 0);
  lua_close(L);
}

static void status_on_futures_and_non_tasks(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  /* a Lua Future */
  push_value(L, "local aio = require 'luaio'; F = aio.Future(); return F");
  CHECK(T, luaio_task_status(L, -1) == LUAIO_PENDING);
  CHECK(T, run_lua(L, "F:set_result('a', 'b')"));
  CHECK(T, luaio_task_status(L, -1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_OK && n == 2);
  CHECK_STR(T, lua_tostring(L, -2), "a");
  CHECK_STR(T, lua_tostring(L, -1), "b");
  lua_settop(L, 0);
  push_value(L, "local aio = require 'luaio'; local f = aio.Future(); f:cancel('why'); return f");
  CHECK(T, luaio_task_status(L, -1) == LUAIO_CANCELLED);
  n = 0;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_CANCELLED && n == 1);
  lua_getfield(L, -1, "name");
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 0);
  push_value(L, "local aio = require 'luaio'; local f = aio.Future(); f:set_exception('bad'); return f");
  CHECK(T, luaio_task_status(L, -1) == LUAIO_FAILED);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_FAILED);
  CHECK_STR(T, lua_tostring(L, -1), "bad");
  lua_settop(L, 0);
  /* not a Task/Future: -1, nothing pushed */
  lua_pushinteger(L, 3);
  lua_newtable(L);
  lua_pushnil(L);
  lua_pushstring(L, "task");
  push_value(L, "return setmetatable({}, {__index = function() return function() end end})");
  for (int i = 1; i <= 5; i++) {
    n = 7;
    CHECK(T, luaio_task_status(L, i) == -1);
    CHECK(T, luaio_task_result(L, i, &n) == -1 && n == 0);
    CHECK(T, lua_gettop(L) == 5);
    CHECK(T, luaio_task_wait(L, i) == -1);
    CHECK(T, luaio_cancel(L, i) == 0);
    CHECK(T, lua_gettop(L) == 5);
  }
  /* an index with nothing at it */
  CHECK(T, luaio_task_status(L, 6) == -1);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void wait_runs_others_and_detects_deadlock(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  run_lua(L, "LOG = ''");
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() for i = 1, 3 do LOG = LOG .. 'o' .. i; aio.sleep(0.001) end end");
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.sleep(0.010) LOG = LOG .. 'w'; return 'w' end");
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  char buf[64];
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "o1o2o3w");
  CHECK(T, luaio_task_status(L, 1) == LUAIO_OK);
  lua_settop(L, 0);
  /* a task awaiting a Future nothing can resolve: PENDING instead of hanging */
  push_value(L, "local aio = require 'luaio'; F = aio.Future(); return F");
  push_value(L, "return function(f) return f:await() end");
  lua_pushvalue(L, 1);
  luaio_spawn(L, 1);
  CHECK(T, luaio_task_wait(L, 2) == LUAIO_PENDING);
  CHECK(T, luaio_task_status(L, 2) == LUAIO_PENDING);
  /* waiting on the Future itself deadlocks too */
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_PENDING);
  /* resolved, the same wait now completes */
  CHECK(T, run_lua(L, "F:set_result('late')"));
  CHECK(T, luaio_task_wait(L, 2) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, 2, NULL) == LUAIO_OK);
  CHECK_STR(T, lua_tostring(L, -1), "late");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void cancel_from_c(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  run_lua(L, "CLEANUP = 0");
  spawn0(L, "local aio = require 'luaio'\n"
            "return function()\n"
            "  local ok, e = pcall(aio.sleep, 100)\n"
            "  CLEANUP = CLEANUP + 1\n"
            "  error(e, 0)\n"
            "end");
  CHECK(T, luaio_step(rt, 0, NULL) == 1); /* now asleep */
  CHECK(T, luaio_cancel(L, -1) == 1);
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_CANCELLED);
  CHECK(T, global_int(L, "CLEANUP") == 1);
  int n = 0;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_CANCELLED && n == 1);
  lua_getfield(L, -1, "name");
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 1);
  /* done: a cancel is not accepted any more */
  CHECK(T, luaio_cancel(L, 1) == 0);
  lua_settop(L, 0);
  /* cancelled before it started */
  spawn0(L, "return function() STARTED2 = true end");
  CHECK(T, luaio_cancel(L, -1) == 1);
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_CANCELLED);
  lua_getglobal(L, "STARTED2");
  CHECK(T, lua_isnil(L, -1));
  lua_settop(L, 0);
  /* a task that catches the cancellation and returns normally ends OK */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() local ok = pcall(aio.sleep, 100) return ok and 'slept' or 'caught' end");
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  CHECK(T, luaio_cancel(L, -1) == 1);
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK);
  CHECK_STR(T, lua_tostring(L, -1), "caught");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---------------------------------------------------------------- stepping */

static void step_returns_and_ready(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  int ready = 42;
  /* nothing to do */
  CHECK(T, luaio_step(rt, 0, &ready) == 0);
  CHECK(T, ready == 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  run_lua(L, "LOG = ''");
  for (int i = 0; i < 2; i++) {
    push_value(L, "local aio = require 'luaio'\n"
                  "return function(k) LOG = LOG .. k .. '1'; aio.sleep(0); LOG = LOG .. k .. '2'\n"
                  "  aio.sleep(0); LOG = LOG .. k .. '3' end");
    lua_pushstring(L, i == 0 ? "a" : "b");
    luaio_spawn(L, 1);
  }
  lua_settop(L, 0);
  char buf[64];
  /* each step runs every ready task once; what they make ready waits for the next step */
  ready = 0;
  CHECK(T, luaio_step(rt, 0, &ready) == 2);
  CHECK(T, ready == 1);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1");
  ready = 0;
  CHECK(T, luaio_step(rt, 0, &ready) == 2);
  CHECK(T, ready == 1);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1a2b2");
  ready = 1;
  CHECK(T, luaio_step(rt, 0, &ready) == 0);
  CHECK(T, ready == 0);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1a2b2a3b3");
  /* a task spawned by a task starts on a later step, not in the step that spawned it */
  run_lua(L, "LOG = ''");
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.spawn(function() LOG = LOG .. 'child' end); LOG = LOG .. 'parent' end");
  lua_settop(L, 0);
  ready = 0;
  CHECK(T, luaio_step(rt, 0, &ready) == 1); /* the child is alive, the parent is done */
  CHECK(T, ready == 1);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "parent");
  CHECK(T, luaio_step(rt, 0, &ready) == 0);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "parentchild");
  /* a sleeping task: live, not ready, and the step does not block */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(30) end");
  CHECK(T, luaio_step(rt, 0, &ready) == 1);
  uint64_t t0 = uv_hrtime();
  ready = 1;
  CHECK(T, luaio_step(rt, 0, &ready) == 1);
  CHECK(T, ready == 0);
  CHECK(T, luaio_step(rt, 0.5, &ready) == 1);
  CHECK(T, uv_hrtime() - t0 < 200000000ull); /* far below the sleep and the budget */
  CHECK(T, luaio_cancel(L, -1) == 1);
  CHECK(T, luaio_step(rt, 0, &ready) == 0);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_CANCELLED);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void step_fires_due_timers(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() local t = aio.time(); aio.sleep(0.02); return aio.time() - t end");
  uint64_t t0 = uv_hrtime();
  int steps = 0, live = 1;
  while (live > 0 && uv_hrtime() - t0 < 2000000000ull) { /* steps never block: spin */
    live = luaio_step(rt, 0, NULL);
    steps++;
  }
  CHECK(T, steps > 1);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  CHECK(T, live == 0);
  CHECK(T, ms >= 19);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK && lua_tonumber(L, -1) >= 0.019);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static const char *BUSY_TASK =
    "return function(k)\n"
    "  local function busy() local c = os.clock() + 0.003; while os.clock() < c do end end\n"
    "  busy(); LOG = LOG .. k .. '1'\n"
    "  require('luaio').sleep(0)\n"
    "  busy(); LOG = LOG .. k .. '2'\n"
    "end";

static void step_with_budget(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  char buf[64];
  /* no budget (0): every ready task runs in one step */
  run_lua(L, "LOG = ''");
  for (int i = 0; i < 3; i++) {
    push_value(L, BUSY_TASK);
    lua_pushstring(L, (const char[]){(char)('a' + i), 0});
    luaio_spawn(L, 1);
  }
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 3);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1c1");
  CHECK(T, luaio_step(rt, -1, NULL) == 0); /* negative: no budget either */
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1c1a2b2c2");
  /* a budget far below one slice: one task per step, leftovers first next step, in order */
  run_lua(L, "LOG = ''");
  for (int i = 0; i < 3; i++) {
    push_value(L, BUSY_TASK);
    lua_pushstring(L, (const char[]){(char)('a' + i), 0});
    luaio_spawn(L, 1);
  }
  lua_settop(L, 0);
  int ready = 0, live;
  live = luaio_step(rt, 0.0005, &ready);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1");
  CHECK(T, live == 3 && ready == 1);
  live = luaio_step(rt, 0.0005, &ready);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1");
  CHECK(T, live == 3 && ready == 1);
  live = luaio_step(rt, 0.0005, &ready);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1c1");
  live = luaio_step(rt, 0.0005, &ready);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1c1a2");
  CHECK(T, live == 2 && ready == 1);
  live = luaio_step(rt, 0.0005, &ready);
  live = luaio_step(rt, 0.0005, &ready);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1c1a2b2c2");
  CHECK(T, live == 0 && ready == 0);
  /* a generous budget lets all of them run */
  run_lua(L, "LOG = ''");
  for (int i = 0; i < 3; i++) {
    push_value(L, BUSY_TASK);
    lua_pushstring(L, (const char[]){(char)('a' + i), 0});
    luaio_spawn(L, 1);
  }
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 5.0, NULL) == 3);
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "a1b1c1");
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  luaio_close(rt);
  lua_close(L);
}

static void run_until_idle_contract(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK); /* nothing to do */
  run_lua(L, "N = 0");
  for (int i = 0; i < 3; i++)
    spawn0(L, "local aio = require 'luaio'\n"
              "return function() aio.sleep(0.002); aio.spawn(function() aio.sleep(0.001) N = N + 1 end)\n"
              "  N = N + 1 end");
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, global_int(L, "N") == 6); /* tasks spawned meanwhile finished too */
  for (int i = 1; i <= 3; i++) CHECK(T, luaio_task_status(L, i) == LUAIO_OK);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  lua_settop(L, 0);
  /* a task waiting on a host future is left waiting, the others finish */
  int ref = luaio_future_new(L);
  CHECK(T, lua_gettop(L) == 1);
  push_value(L, "return function(f) return 'got', f:await() end");
  lua_pushvalue(L, 1);
  luaio_spawn(L, 1);                              /* [fut, task] */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(0.002) return 1 end");
  uint64_t t0 = uv_hrtime();
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, uv_hrtime() - t0 < 500000000ull);
  CHECK(T, luaio_task_status(L, 2) == LUAIO_PENDING);
  CHECK(T, luaio_task_status(L, 3) == LUAIO_OK);
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  lua_pushinteger(L, 5);
  CHECK(T, luaio_future_resolve(L, ref, 1) == 0);
  CHECK(T, lua_gettop(L) == 3);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, 2, &n) == LUAIO_OK && n == 2);
  CHECK_STR(T, lua_tostring(L, -2), "got");
  CHECK(T, lua_tointeger(L, -1) == 5);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void driving_calls_refuse_inside_loop(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  expose_c(L);
  spawn0(L, "local aio = require 'luaio'\n"
            "return function()\n"
            "  local other = aio.spawn(function() aio.sleep(0) return 1 end)\n"
            "  local r = {c_step(), c_run_until_idle(), c_wait(other)}\n"
            "  local cb = {}\n"
            "  aio.call_soon(function() cb[1] = c_step(); cb[2] = c_run_until_idle(); cb[3] = c_wait(other) end)\n"
            "  aio.sleep(0.001)\n"
            "  return r[1], r[2], r[3], cb[1], cb[2], cb[3], other:await()\n"
            "end");
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_OK && n == 7);
  for (int i = 0; i < 6; i++) CHECK(T, lua_tointeger(L, -7 + i) == -1);
  CHECK(T, lua_tointeger(L, -1) == 1);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---------------------------------------------------------------- backend fd / timeout */

static void backend_fd_and_timeout(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  int fd = luaio_backend_fd(rt);
  CHECK(T, fd >= 0); /* Linux: epoll */
  CHECK(T, fd == uv_backend_fd(luaio_loop(rt)));
  CHECK(T, luaio_backend_timeout(rt) == -1); /* nothing to wait for */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.sleep(0.04) return 'woke' end");
  CHECK(T, luaio_backend_timeout(rt) == 0); /* work is ready */
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  int to = luaio_backend_timeout(rt);
  CHECK(T, to > 0 && to <= 40);
  /* sleep on the fd for at most the timeout, then step, until done */
  uint64_t t0 = uv_hrtime();
  int live = 1, rounds = 0;
  while (live > 0 && rounds < 100) {
    to = luaio_backend_timeout(rt);
    CHECK(T, to >= 0);
    struct pollfd p = {.fd = luaio_backend_fd(rt), .events = POLLIN};
    poll(&p, 1, to < 0 ? 100 : to);
    live = luaio_step(rt, 0, NULL);
    rounds++;
  }
  CHECK(T, live == 0);
  CHECK(T, rounds < 20); /* it slept rather than spun */
  CHECK(T, (uv_hrtime() - t0) / 1000000 >= 30);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK);
  CHECK_STR(T, lua_tostring(L, -1), "woke");
  lua_settop(L, 0);
  CHECK(T, luaio_backend_timeout(rt) == -1);
  /* a plain call_later timer counts as something to wait for */
  CHECK(T, run_lua(L, "local aio = require 'luaio'; H = aio.call_later(5, function() end)"));
  to = luaio_backend_timeout(rt);
  CHECK(T, to > 1000 && to <= 5000);
  CHECK(T, run_lua(L, "H:cancel()"));
  luaio_step(rt, 0, NULL);
  CHECK(T, luaio_backend_timeout(rt) == -1);
  /* a task waiting only on a host future: nothing for the loop to wait for */
  int ref = luaio_future_new(L);
  push_value(L, "return function(f) return f:await() end");
  lua_pushvalue(L, -2);
  luaio_spawn(L, 1);
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  CHECK(T, luaio_backend_timeout(rt) == -1);
  lua_pushboolean(L, 1);
  CHECK(T, luaio_future_resolve(L, ref, 1) == 0);
  CHECK(T, luaio_backend_timeout(rt) == 0); /* the waiting task is ready */
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_OK);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---------------------------------------------------------------- host futures */

static void host_future_resolve(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  lua_pushstring(L, "keep");
  int ref = luaio_future_new(L);
  CHECK(T, lua_gettop(L) == 2);
  CHECK(T, luaio_task_status(L, 2) == LUAIO_PENDING); /* a pending Future */
  /* two scripts await it, by aio.await and by :await() */
  push_value(L, "local aio = require 'luaio'\nreturn function(f) return aio.await(f) end");
  lua_pushvalue(L, 2);
  luaio_spawn(L, 1);                                  /* 3 */
  push_value(L, "return function(f) local a, b, c = f:await() return c, b, a end");
  lua_pushvalue(L, 2);
  luaio_spawn(L, 1);                                  /* 4 */
  CHECK(T, luaio_step(rt, 0, NULL) == 2);
  CHECK(T, luaio_step(rt, 0, NULL) == 2); /* still waiting */
  CHECK(T, luaio_task_status(L, 3) == LUAIO_PENDING);
  lua_pushstring(L, "frame");
  lua_pushinteger(L, 60);
  lua_pushnil(L);
  CHECK(T, luaio_future_resolve(L, ref, 3) == 0);
  CHECK(T, lua_gettop(L) == 4);
  CHECK(T, luaio_task_status(L, 2) == LUAIO_OK);
  /* waiting tasks resume on the next step, not inside resolve */
  CHECK(T, luaio_task_status(L, 3) == LUAIO_PENDING);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  int n = 0;
  CHECK(T, luaio_task_result(L, 3, &n) == LUAIO_OK && n == 3);
  CHECK_STR(T, lua_tostring(L, -3), "frame");
  CHECK(T, lua_tointeger(L, -2) == 60);
  CHECK(T, lua_isnil(L, -1));
  lua_settop(L, 4);
  CHECK(T, luaio_task_result(L, 4, &n) == LUAIO_OK && n == 3);
  CHECK(T, lua_isnil(L, -3) && lua_tointeger(L, -2) == 60);
  CHECK_STR(T, lua_tostring(L, -1), "frame");
  lua_settop(L, 4);
  /* the future itself holds the values */
  CHECK(T, luaio_task_result(L, 2, &n) == LUAIO_OK && n == 3);
  lua_settop(L, 0);
  /* resolved with no values, before anyone awaits it */
  ref = luaio_future_new(L);
  CHECK(T, luaio_future_resolve(L, ref, 0) == 0);
  CHECK(T, lua_gettop(L) == 1);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_OK);
  push_value(L, "return function(f) return select('#', f:await()) end");
  lua_pushvalue(L, 1);
  luaio_spawn(L, 1);
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK && lua_tointeger(L, -1) == 0);
  lua_settop(L, 0);
  /* many refs are independent */
  int refs[8];
  for (int i = 0; i < 8; i++) refs[i] = luaio_future_new(L);
  for (int i = 7; i >= 0; i--) {
    lua_pushinteger(L, i);
    CHECK(T, luaio_future_resolve(L, refs[i], 1) == 0);
  }
  for (int i = 0; i < 8; i++) {
    CHECK(T, luaio_task_result(L, i + 1, NULL) == LUAIO_OK);
    CHECK(T, lua_tointeger(L, -1) == i);
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void host_future_fail(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  int ref = luaio_future_new(L);                     /* 1 */
  push_value(L, "return function(f) local ok, e = pcall(f.await, f) return ok, e end");
  lua_pushvalue(L, 1);
  luaio_spawn(L, 1);                                 /* 2 */
  push_value(L, "return function(f) return f:await() end");
  lua_pushvalue(L, 1);
  luaio_spawn(L, 1);                                 /* 3 */
  CHECK(T, luaio_step(rt, 0, NULL) == 2);
  push_value(L, "return {asset = 'missing.png'}");   /* 4 */
  lua_pushvalue(L, 4);
  CHECK(T, luaio_future_fail(L, ref) == 0);
  CHECK(T, lua_gettop(L) == 4);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_FAILED);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  int n = 0;
  CHECK(T, luaio_task_result(L, 2, &n) == LUAIO_OK && n == 2);
  CHECK(T, lua_toboolean(L, -2) == 0);
  CHECK(T, lua_rawequal(L, -1, 4)); /* the error value unchanged */
  lua_settop(L, 4);
  CHECK(T, luaio_task_wait(L, 3) == LUAIO_FAILED);
  CHECK(T, luaio_task_result(L, 3, &n) == LUAIO_FAILED && n == 1);
  CHECK(T, lua_rawequal(L, -1, 4));
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void host_future_after_awaiter_cancelled(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  for (int pass = 0; pass < 2; pass++) {
    int ref = luaio_future_new(L);                   /* 1 */
    push_value(L, "return function(f) return f:await() end");
    lua_pushvalue(L, 1);
    luaio_spawn(L, 1);                               /* 2 */
    CHECK(T, luaio_step(rt, 0, NULL) == 1);
    CHECK(T, luaio_cancel(L, 2) == 1);
    CHECK(T, luaio_task_wait(L, 2) == LUAIO_CANCELLED);
    /* the awaited future was cancelled with it */
    CHECK(T, luaio_task_status(L, 1) == LUAIO_CANCELLED);
    lua_pushstring(L, "too late");
    lua_pushinteger(L, 1);
    if (pass == 0) {
      CHECK(T, luaio_future_resolve(L, ref, 2) == -1);
      CHECK(T, lua_gettop(L) == 2); /* popped anyway */
    } else {
      lua_pop(L, 1);
      CHECK(T, luaio_future_fail(L, ref) == -1);
      CHECK(T, lua_gettop(L) == 2);
    }
    CHECK(T, luaio_task_status(L, 1) == LUAIO_CANCELLED);
    lua_settop(L, 0);
  }
  /* a future already done through Lua: resolve/fail refuse, values popped */
  int ref = luaio_future_new(L);
  lua_getfield(L, 1, "set_result");
  lua_pushvalue(L, 1);
  lua_pushstring(L, "first");
  CHECK(T, lua_pcall(L, 2, 0, 0) == LUA_OK);
  lua_pushstring(L, "second");
  CHECK(T, luaio_future_resolve(L, ref, 1) == -1);
  CHECK(T, lua_gettop(L) == 1);
  CHECK(T, luaio_task_result(L, 1, NULL) == LUAIO_OK);
  CHECK_STR(T, lua_tostring(L, -1), "first");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void host_future_release(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  /* released unresolved: the future stays pending and is collectable; no leak */
  int ref = luaio_future_new(L);
  luaio_future_release(L, ref);
  CHECK(T, lua_gettop(L) == 1);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_PENDING);
  /* scripts can still resolve it themselves */
  lua_getfield(L, 1, "set_result");
  lua_pushvalue(L, 1);
  lua_pushinteger(L, 9);
  CHECK(T, lua_pcall(L, 2, 0, 0) == LUA_OK);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_OK);
  lua_settop(L, 0);
  /* forgotten futures: released and dropped, gone after a collection */
  for (int i = 0; i < 50; i++) {
    ref = luaio_future_new(L);
    luaio_future_release(L, ref);
    lua_pop(L, 1);
  }
  lua_gc(L, LUA_GCCOLLECT, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  /* unreleased refs at close are freed by luaio_close (valgrind checks) */
  for (int i = 0; i < 3; i++) luaio_future_new(L);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---------------------------------------------------------------- error handler */

static void error_handler_contract(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  /* an unretrieved task error, reported by the end of the step it failed in */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.current_task():set_name('loader') error('no such asset', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, r.n == 1);
  CHECK(T, strstr(r.msg[0], "never retrieved") != NULL);
  CHECK(T, strstr(r.msg[0], "loader") != NULL);
  CHECK(T, strstr(r.msg[0], "no such asset") != NULL);
  /* a failed callback */
  CHECK(T, run_lua(L, "require('luaio').call_soon(function() error('cb broke', 0) end)"));
  luaio_step(rt, 0, NULL);
  luaio_step(rt, 0, NULL);
  CHECK(T, r.n == 2);
  CHECK(T, r.n >= 2 && strstr(r.msg[1], "cb broke") != NULL);
  /* reported at most once, even after a collection */
  lua_gc(L, LUA_GCCOLLECT, 0);
  luaio_step(rt, 0, NULL);
  CHECK(T, r.n == 2);
  /* a Lua handler takes precedence */
  CHECK(T, run_lua(L, "LUA_SEEN = 0; require('luaio').set_exception_handler(function(ctx)\n"
                      "  LUA_SEEN = LUA_SEEN + 1; LUA_MSG = tostring(ctx.exception) end)"));
  spawn0(L, "return function() error('to lua', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, global_int(L, "LUA_SEEN") == 1);
  CHECK(T, r.n == 2);
  /* nil restores the default, which now is the C handler */
  CHECK(T, run_lua(L, "require('luaio').set_exception_handler(nil)"));
  spawn0(L, "return function() error('back to C', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, r.n == 3);
  CHECK(T, r.n >= 3 && strstr(r.msg[2], "back to C") != NULL);
  /* reported at the latest at close (a task that fails while close cancels it) */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() pcall(aio.sleep, 100) error('at shutdown', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 1); /* asleep */
  CHECK(T, r.n == 3);
  luaio_close(rt);
  CHECK(T, r.n == 4);
  CHECK(T, r.n >= 4 && strstr(r.msg[3], "at shutdown") != NULL);
  lua_close(L);
}

static void error_handler_replace_and_default(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports a = {0}, b = {0};
  luaio_set_error_handler(rt, on_error, &a);
  luaio_set_error_handler(rt, on_error, &b); /* replaces, new ud */
  spawn0(L, "return function() error('x', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, a.n == 0 && b.n == 1);
  /* the Lua-side getter still says "default" while only a C handler is set */
  CHECK(T, run_lua(L, "GOT = require('luaio').get_exception_handler()"));
  lua_getglobal(L, "GOT");
  CHECK(T, lua_isnil(L, -1));
  lua_settop(L, 0);
  luaio_set_error_handler(rt, NULL, NULL); /* back to stderr; must not call the old one */
  CHECK(T, run_lua(L, "require('luaio').set_exception_handler(function() end)"));
  spawn0(L, "return function() error('quiet', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, b.n == 1);
  luaio_close(rt);
  lua_close(L);
}

/* ---------------------------------------------------------------- luaio_run */

static void run_contract(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  /* results, all of them with LUA_MULTRET */
  lua_pushstring(L, "below");
  push_value(L, "local aio = require 'luaio'\n"
                "return function(a, b) aio.sleep(0.001) return a * b, 'two', nil end");
  lua_pushinteger(L, 6);
  lua_pushinteger(L, 7);
  char *tb = (char *)"untouched";
  CHECK(T, luaio_run(L, 2, LUA_MULTRET, &tb) == LUA_OK);
  CHECK(T, tb == NULL);
  CHECK(T, lua_gettop(L) == 4);
  CHECK_STR(T, lua_tostring(L, 1), "below");
  CHECK(T, lua_tointeger(L, 2) == 42);
  CHECK_STR(T, lua_tostring(L, 3), "two");
  CHECK(T, lua_isnil(L, 4));
  lua_settop(L, 0);
  /* adjusted to nresults */
  push_value(L, "return function() return 1, 2, 3 end");
  CHECK(T, luaio_run(L, 0, 1, NULL) == LUA_OK);
  CHECK(T, lua_gettop(L) == 1 && lua_tointeger(L, 1) == 1);
  lua_settop(L, 0);
  push_value(L, "return function() return 1 end");
  CHECK(T, luaio_run(L, 0, 3, NULL) == LUA_OK);
  CHECK(T, lua_gettop(L) == 3 && lua_tointeger(L, 1) == 1 && lua_isnil(L, 2) && lua_isnil(L, 3));
  lua_settop(L, 0);
  push_value(L, "return function() return 1 end");
  CHECK(T, luaio_run(L, 0, 0, NULL) == LUA_OK);
  CHECK(T, lua_gettop(L) == 0);
  /* failure: the error value and a traceback the caller frees */
  push_value(L, "return {why = 'bad'}");
  push_value(L, "local aio = require 'luaio'\n"
                "return function(e) aio.sleep(0) local function deep() error(e) end deep() end");
  lua_pushvalue(L, 1);
  tb = NULL;
  int st = luaio_run(L, 1, LUA_MULTRET, &tb);
  CHECK(T, st != LUA_OK && st != LUA_YIELD);
  CHECK(T, st == LUA_ERRRUN);
  CHECK(T, lua_gettop(L) == 2);
  CHECK(T, lua_rawequal(L, 1, 2));
  CHECK(T, tb != NULL);
  CHECK(T, tb && strstr(tb, "deep") != NULL);
  free(tb);
  lua_settop(L, 0);
  /* its error is the host's: not reported as lost */
  CHECK(T, r.n == 0);
  /* tasks left are cancelled and drained before it returns */
  run_lua(L, "BG = 'running'");
  push_value(L, "local aio = require 'luaio'\n"
                "return function()\n"
                "  BGT = aio.spawn(function() local ok, e = pcall(aio.sleep, 100) BG = 'drained:' .. e.name; aio.sleep(0); BG = BG .. '+cleanup' end)\n"
                "  aio.sleep(0.001) return 'main done' end");
  CHECK(T, luaio_run(L, 0, 1, NULL) == LUA_OK);
  CHECK_STR(T, lua_tostring(L, -1), "main done");
  char buf[64];
  CHECK_STR(T, global_str(L, "BG", buf, sizeof buf), "drained:CancelledError+cleanup");
  lua_settop(L, 0);
  lua_getglobal(L, "BGT");
  CHECK(T, luaio_task_status(L, -1) == LUAIO_OK);
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  /* a main that can never finish: RuntimeError naming the deadlock, no hang */
  push_value(L, "local aio = require 'luaio'\nreturn function() aio.Future():await() end");
  st = luaio_run(L, 0, 0, NULL);
  CHECK(T, st != LUA_OK);
  lua_getfield(L, -1, "name");
  CHECK_STR(T, lua_tostring(L, -1), "RuntimeError");
  lua_settop(L, 0);
  CHECK(T, r.n == 0);
  /* an unretrieved failure of a background task is reported by the time it returns */
  push_value(L, "local aio = require 'luaio'\n"
                "return function() aio.spawn(function() error('bg failed', 0) end) aio.sleep(0.001) end");
  CHECK(T, luaio_run(L, 0, 0, NULL) == LUA_OK);
  CHECK(T, r.n == 1 && strstr(r.msg[0], "bg failed") != NULL);
  luaio_close(rt);
  lua_close(L);
}

static int l_run_nested(lua_State *L) {
  push_value(L, "return function() return 'inner' end");
  int st = luaio_run(L, 0, 1, NULL);
  lua_pushinteger(L, st);
  return 2;
}

static void run_refused_inside_loop(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  lua_register(L, "c_run", l_run_nested);
  /* called from a plain callback while the loop runs: RuntimeError (aio.run semantics) */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() local ok, v, st\n"
            "  aio.call_soon(function() ok, v, st = pcall(c_run) end)\n"
            "  aio.sleep(0.001) return ok, (type(v) == 'table' and v.name or v), st end");
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_OK && n == 3);
  /* either the call raised RuntimeError, or it returned a non-OK status with it */
  int ok = lua_toboolean(L, -3);
  if (!ok) CHECK_STR(T, lua_tostring(L, -2), "RuntimeError");
  else CHECK(T, lua_tointeger(L, -1) != LUA_OK);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---------------------------------------------------------------- host-driven uv_run */

static void attach_to_host_uv_run(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, &loop);
  CHECK(T, luaio_attach(rt) == 0);
  CHECK(T, luaio_attach(rt) == 0); /* again: re-arms */
  /* tasks with timers run to completion inside the host's uv_run */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.sleep(0.002); aio.sleep(0); return 'inside uv_run' end");
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK);
  CHECK_STR(T, lua_tostring(L, -1), "inside uv_run");
  lua_settop(L, 0);
  /* (from a host libuv callback on this loop they must not be called at all: luaio.h) */
  /* from a task running inside the host's uv_run they do refuse */
  expose_c(L);
  spawn0(L, "return function() return c_step(), c_run_until_idle() end");
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK);
  CHECK(T, lua_tointeger(L, -2) == -1 && lua_tointeger(L, -1) == -1);
  lua_settop(L, 0);
  /* a task waiting only on a host future does not keep uv_run alive */
  int ref = luaio_future_new(L);
  push_value(L, "return function(f) return f:await() + 1 end");
  lua_pushvalue(L, 1);
  luaio_spawn(L, 1);
  uint64_t t0 = uv_hrtime();
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, uv_hrtime() - t0 < 500000000ull);
  CHECK(T, luaio_task_status(L, 2) == LUAIO_PENDING);
  /* resolving re-arms by itself */
  lua_pushinteger(L, 41);
  CHECK(T, luaio_future_resolve(L, ref, 1) == 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  /* luaio_future_resolve re-armed the attached runtime: the host's uv_run resumed it */
  CHECK(T, luaio_task_status(L, 2) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, 2, NULL) == LUAIO_OK && lua_tointeger(L, -1) == 42);
  lua_settop(L, 0);
  /* cancel re-arms too */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.Future():await() end");
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_PENDING);
  CHECK(T, luaio_cancel(L, -1) == 1);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_CANCELLED);
  lua_settop(L, 0);
  /* detached: uv_run no longer drives luaio */
  spawn0(L, "return function() DETACHED_RAN = true end");
  luaio_detach(rt);
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_PENDING);
  /* and the host drives it itself again */
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_OK);
  lua_settop(L, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  luaio_close(rt);
  lua_close(L);
  CHECK(T, uv_loop_close(&loop) == 0);
}

/* ---------------------------------------------------------------- interrupts */

static void interrupt_targets(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  expose_c(L);
  /* the main task of luaio_run, at its next suspension point */
  push_value(L, "local aio = require 'luaio'\n"
                "return function() c_interrupt(); aio.sleep(10); return 'not interrupted' end");
  uint64_t t0 = uv_hrtime();
  int st = luaio_run(L, 0, 1, NULL);
  CHECK(T, st != LUA_OK);
  CHECK(T, lua_istable(L, -1));
  lua_getfield(L, -1, "name");
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 0);
  /* ... or at once in Lua code that never suspends */
  push_value(L, "return function() c_interrupt(); local c = os.clock() + 3\n"
                "  while os.clock() < c do end return 'not interrupted' end");
  st = luaio_run(L, 0, 1, NULL);
  CHECK(T, st != LUA_OK);
  lua_getfield(L, -1, "name");
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 0);
  CHECK(T, uv_hrtime() - t0 < 2000000000ull);
  /* an explicit target instead */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(10) end");   /* 1 */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(0.003) return 'other' end"); /* 2 */
  lua_pushvalue(L, 1);
  luaio_set_interrupt_target(L);
  CHECK(T, lua_gettop(L) == 2);
  luaio_step(rt, 0, NULL);
  luaio_interrupt(rt);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_CANCELLED);
  CHECK(T, luaio_task_wait(L, 2) == LUAIO_OK);
  /* nil: no target any more (and no main task) — nothing is cancelled */
  lua_pushnil(L);
  luaio_set_interrupt_target(L);
  CHECK(T, lua_gettop(L) == 2);
  lua_settop(L, 0);
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(0.002) return 'kept' end");
  luaio_step(rt, 0, NULL);
  luaio_interrupt(rt);
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---------------------------------------------------------------- shutdown */

static void close_with_pending_tasks(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  run_lua(L, "CLEAN = ''");
  /* a sleeper that cleans up (even suspending while it does), a host-future waiter,
   * a task awaiting a Lua Future nobody resolves, a plain callback timer, a failed task */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() local ok, e = pcall(aio.sleep, 100)\n"
            "  aio.sleep(0); CLEAN = CLEAN .. 's:' .. e.name .. ';' end");
  int ref = luaio_future_new(L);
  push_value(L, "return function(f) local ok, e = pcall(f.await, f); CLEAN = CLEAN .. 'h:' .. e.name .. ';' end");
  lua_pushvalue(L, -2);
  luaio_spawn(L, 1);
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.Future():await() end");
  CHECK(T, run_lua(L, "require('luaio').call_later(50, function() CLEAN = CLEAN .. 'timer fired;' end)"));
  spawn0(L, "return function() error('lost error', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 3);
  CHECK(T, r.n == 1); /* the failed one, reported at the end of the step */
  luaio_close(rt);
  char buf[128];
  /* both cleaned up (in whatever order close cancels them), the timer never fired */
  global_str(L, "CLEAN", buf, sizeof buf);
  CHECK(T, strlen(buf) == strlen("s:CancelledError;h:CancelledError;"));
  CHECK(T, strstr(buf, "s:CancelledError;") != NULL);
  CHECK(T, strstr(buf, "h:CancelledError;") != NULL);
  CHECK(T, r.n == 1); /* not reported twice */
  CHECK(T, luaio_get(L) == NULL);
  /* driving calls and futures after close */
  lua_pushinteger(L, 1);
  lua_pushinteger(L, 2);
  CHECK(T, luaio_future_resolve(L, ref, 2) == -1);
  CHECK(T, lua_gettop(L) == 0);
  /* the header: "Afterwards ... the driving calls return -1" */
  CHECK(T, luaio_step(rt, 0, NULL) == -1);
  CHECK(T, luaio_run_until_idle(rt) == -1);
  CHECK(T, luaio_attach(rt) == -1);
  lua_close(L);
}

/* A task that swallows the cancellation and then waits on what nothing can complete is
 * abandoned by luaio_close (no hang, nothing leaked). (With a pending call_later timer the
 * loop is not "stuck" by §2's definition, so close then waits for that timer.) */
static void close_abandons_stubborn_task(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  for (int pass = 0; pass < 2; pass++) {
    lua_State *L = fresh();
    luaio_runtime *rt = luaio_open(L, pass ? &loop : NULL);
    run_lua(L, "LOG = ''");
    spawn0(L, "local aio = require 'luaio'\n"
              "return function() pcall(aio.sleep, 100); LOG = LOG .. 'caught;'\n"
              "  aio.Future():await(); LOG = LOG .. 'resumed;' end");
    int ref = luaio_future_new(L);
    push_value(L, "return function(f) pcall(f.await, f); LOG = LOG .. 'h;'; f:await() end");
    lua_pushvalue(L, -2);
    luaio_spawn(L, 1);
    lua_settop(L, 0);
    CHECK(T, luaio_step(rt, 0, NULL) == 2);
    uint64_t t0 = uv_hrtime();
    luaio_close(rt);
    CHECK(T, uv_hrtime() - t0 < 1000000000ull);
    char buf[64];
    global_str(L, "LOG", buf, sizeof buf);
    CHECK(T, strstr(buf, "caught;") != NULL && strstr(buf, "h;") != NULL);
    CHECK(T, strstr(buf, "resumed;") == NULL);
    CHECK(T, luaio_get(L) == NULL);
    lua_pushinteger(L, 1);
    CHECK(T, luaio_future_resolve(L, ref, 1) == -1);
    CHECK(T, lua_gettop(L) == 0);
    lua_close(L);
  }
  CHECK(T, uv_loop_close(&loop) == 0);
}

static int l_spawn_unopened(lua_State *L) {
  lua_pushcfunction(L, l_step);
  luaio_spawn(L, 0);
  return 1;
}

static void bad_input(tap_state *T) {
  /* luaio never opened */
  lua_State *L = fresh();
  CHECK(T, luaio_get(L) == NULL);
  lua_pushcfunction(L, l_spawn_unopened);
  CHECK(T, lua_pcall(L, 0, 1, 0) != LUA_OK); /* raises a Lua error */
  CHECK(T, lua_isstring(L, -1));
  lua_settop(L, 0);
  CHECK(T, luaio_get(L) == NULL); /* and did not open it on the side */
  push_value(L, "return setmetatable({}, {})");
  CHECK(T, luaio_task_wait(L, 1) == -1);
  CHECK(T, luaio_task_status(L, 1) == -1);
  lua_settop(L, 0);
  lua_close(L);
  /* after close: spawn raises, step/run refuse, a fresh open works */
  L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  luaio_close(rt);
  lua_pushcfunction(L, l_spawn_unopened);
  CHECK(T, lua_pcall(L, 0, 1, 0) != LUA_OK);
  lua_settop(L, 0);
  rt = luaio_open(L, NULL);
  CHECK(T, rt != NULL);
  /* NULL out-parameters are allowed where the header says so */
  spawn0(L, "return function() return 1, 2 end");
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK);
  CHECK(T, lua_gettop(L) == 3);
  lua_settop(L, 0);
  push_value(L, "return function() error('e', 0) end");
  CHECK(T, luaio_run(L, 0, 0, NULL) != LUA_OK);
  lua_settop(L, 0);
  /* a default error handler again: NULL fn */
  luaio_set_error_handler(rt, NULL, NULL);
  luaio_close(rt);
  lua_close(L);
}

/* ---------------------------------------------------------------- two runtimes */

static void two_runtimes_side_by_side(tap_state *T) {
  lua_State *A = fresh(), *B = fresh();
  luaio_runtime *ra = luaio_open(A, NULL), *rb = luaio_open(B, NULL);
  CHECK(T, ra && rb && ra != rb);
  CHECK(T, luaio_loop(ra) != luaio_loop(rb));
  CHECK(T, luaio_get(A) == ra && luaio_get(B) == rb);
  CHECK(T, luaio_state(ra) == A && luaio_state(rb) == B);
  reports ea = {0}, eb = {0};
  luaio_set_error_handler(ra, on_error, &ea);
  luaio_set_error_handler(rb, on_error, &eb);
  /* A's task waits on a host future the host resolves with B's task result */
  int ref = luaio_future_new(A);
  push_value(A, "return function(f) return 'A got ' .. f:await() end");
  lua_pushvalue(A, 1);
  luaio_spawn(A, 1);                              /* A: [fut, task] */
  spawn0(B, "local aio = require 'luaio'\nreturn function() aio.sleep(0.002) return 'from B' end");
  /* stepping one does not advance the other */
  CHECK(T, luaio_step(ra, 0, NULL) == 1);
  CHECK(T, luaio_task_status(B, -1) == LUAIO_PENDING);
  CHECK(T, luaio_task_wait(B, -1) == LUAIO_OK);
  CHECK(T, luaio_task_status(A, 2) == LUAIO_PENDING);
  luaio_task_result(B, -1, NULL);
  lua_pushstring(A, lua_tostring(B, -1));
  lua_settop(B, 0);
  CHECK(T, luaio_future_resolve(A, ref, 1) == 0);
  CHECK(T, luaio_task_wait(A, 2) == LUAIO_OK);
  luaio_task_result(A, 2, NULL);
  CHECK_STR(T, lua_tostring(A, -1), "A got from B");
  lua_settop(A, 0);
  /* errors go to the right handler */
  spawn0(B, "return function() error('b only', 0) end");
  lua_settop(B, 0);
  CHECK(T, luaio_run_until_idle(rb) == LUA_OK);
  CHECK(T, luaio_run_until_idle(ra) == LUA_OK);
  CHECK(T, ea.n == 0 && eb.n == 1);
  /* closing one leaves the other working */
  luaio_close(rb);
  CHECK(T, luaio_get(B) == NULL && luaio_get(A) == ra);
  spawn0(A, "local aio = require 'luaio'\nreturn function() aio.sleep(0.001) return 'A alive' end");
  CHECK(T, luaio_task_wait(A, -1) == LUAIO_OK);
  lua_settop(A, 0);
  luaio_close(ra);
  lua_close(A);
  lua_close(B);
}

static void two_runtimes_on_one_host_loop(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  lua_State *A = fresh(), *B = fresh();
  luaio_runtime *ra = luaio_open(A, &loop), *rb = luaio_open(B, &loop);
  CHECK(T, ra && rb && ra != rb);
  CHECK(T, luaio_loop(ra) == &loop && luaio_loop(rb) == &loop);
  CHECK(T, luaio_attach(ra) == 0 && luaio_attach(rb) == 0);
  run_lua(A, "N = 0");
  run_lua(B, "N = 0");
  spawn0(A, "local aio = require 'luaio'\nreturn function() for i = 1, 3 do aio.sleep(0.001) N = N + 1 end return 'A' end");
  spawn0(B, "local aio = require 'luaio'\nreturn function() for i = 1, 5 do aio.sleep(0) N = N + 1 end return 'B' end");
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, global_int(A, "N") == 3 && global_int(B, "N") == 5);
  CHECK(T, luaio_task_status(A, -1) == LUAIO_OK && luaio_task_status(B, -1) == LUAIO_OK);
  lua_settop(A, 0);
  lua_settop(B, 0);
  /* closing A leaves B attached and working on the same loop */
  luaio_close(ra);
  spawn0(B, "local aio = require 'luaio'\nreturn function() aio.sleep(0.001) return 'B still' end");
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, luaio_task_status(B, -1) == LUAIO_OK);
  lua_settop(B, 0);
  luaio_close(rb);
  CHECK(T, uv_loop_close(&loop) == 0);
  lua_close(A);
  lua_close(B);
}

/* ---------------------------------------------------------------- lua_close without luaio_close */

static void lua_close_alone_frees(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(100) end");
  luaio_future_new(L);
  luaio_step(rt, 0, NULL);
  lua_close(L); /* valgrind: no leak */
  uv_loop_t loop;
  uv_loop_init(&loop);
  L = fresh();
  rt = luaio_open(L, &loop);
  CHECK(T, rt != NULL);
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(100) end");
  luaio_step(rt, 0, NULL);
  lua_close(L);
  CHECK(T, uv_loop_close(&loop) == 0); /* luaio's handles on the borrowed loop are closed */
}

/* ---------------------------------------------------------------- more edges */

static int c_body(lua_State *L) { /* a C function as a task body */
  lua_Integer a = luaL_checkinteger(L, 1), b = luaL_checkinteger(L, 2);
  lua_pushinteger(L, a - b);
  lua_pushstring(L, "from C");
  return 2;
}

static int l_spawn(lua_State *L) { /* c_spawn(fn, ...) from inside a task */
  luaio_spawn(L, lua_gettop(L) - 1);
  return 1;
}

static void spawn_edges(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  /* luaio_spawn called from C inside a running task: the child starts later */
  lua_register(L, "c_spawn", l_spawn);
  spawn0(L, "return function()\n"
            "  local child = c_spawn(function(a) CHILD = a; return a + 1 end, 41)\n"
            "  local before = CHILD\n"
            "  return before, child:await() end");
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  int n0 = 0;
  CHECK(T, luaio_task_result(L, -1, &n0) == LUAIO_OK && n0 == 2);
  CHECK(T, lua_isnil(L, -2) && lua_tointeger(L, -1) == 42);
  lua_settop(L, 0);
  /* a C function with arguments */
  lua_pushcfunction(L, c_body);
  lua_pushinteger(L, 10);
  lua_pushinteger(L, 3);
  luaio_spawn(L, 2);
  CHECK(T, lua_gettop(L) == 1);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_OK && n == 2);
  CHECK(T, lua_tointeger(L, -2) == 7);
  CHECK_STR(T, lua_tostring(L, -1), "from C");
  lua_settop(L, 0);
  /* from another thread of L ("L's stack" is any thread's) */
  lua_State *co = lua_newthread(L); /* anchored at index 1 */
  push_value(co, "local aio = require 'luaio'\nreturn function(x) aio.sleep(0) return x * 3 end");
  lua_pushinteger(co, 5);
  luaio_spawn(co, 1);
  CHECK(T, lua_gettop(co) == 1);
  CHECK(T, luaio_task_status(co, 1) == LUAIO_PENDING);
  CHECK(T, luaio_task_wait(co, 1) == LUAIO_OK);
  CHECK(T, luaio_task_result(co, 1, NULL) == LUAIO_OK && lua_tointeger(co, -1) == 15);
  lua_settop(co, 0);
  lua_settop(L, 0);
  /* cancelling a plain Future from C */
  int ref = luaio_future_new(L);
  CHECK(T, luaio_cancel(L, 1) == 1);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_CANCELLED);
  CHECK(T, luaio_cancel(L, 1) == 0);
  lua_pushinteger(L, 1);
  CHECK(T, luaio_future_resolve(L, ref, 1) == -1);
  CHECK(T, lua_gettop(L) == 1);
  lua_settop(L, 0);
  /* waiting on a Future a timer callback resolves */
  push_value(L, "local aio = require 'luaio'; local f = aio.Future()\n"
                "aio.call_later(0.002, function() f:set_result('timed') end); return f");
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, 1, NULL) == LUAIO_OK);
  CHECK_STR(T, lua_tostring(L, -1), "timed");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void callbacks_count_as_work(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaio_backend_timeout(rt) == -1);
  /* a ready callback is work ready now */
  CHECK(T, run_lua(L, "local aio = require 'luaio'; CB = 0\n"
                      "local function again() CB = CB + 1; if CB < 3 then aio.call_soon(again) end end\n"
                      "aio.call_soon(again)"));
  CHECK(T, luaio_backend_timeout(rt) == 0);
  int ready = 0;
  luaio_step(rt, 0, &ready);
  CHECK(T, global_int(L, "CB") == 1);
  CHECK(T, ready == 1);
  luaio_step(rt, 0, &ready);
  CHECK(T, global_int(L, "CB") == 2);
  luaio_step(rt, 0, &ready);
  CHECK(T, global_int(L, "CB") == 3);
  CHECK(T, ready == 0);
  CHECK(T, luaio_backend_timeout(rt) == -1);
  luaio_close(rt);
  lua_close(L);
}

static void error_handler_more(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  /* a non-string error value still gives a message */
  spawn0(L, "return function() error(setmetatable({}, {__tostring = function() return 'custom obj' end})) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, r.n == 1);
  CHECK(T, strstr(r.msg[0], "never retrieved") != NULL);
  CHECK(T, strstr(r.msg[0], "custom obj") != NULL);
  spawn0(L, "return function() error({code = 1}) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, r.n == 2 && strstr(r.msg[1], "never retrieved") != NULL);
  /* a failed done-callback */
  CHECK(T, run_lua(L, "local aio = require 'luaio'; local f = aio.Future()\n"
                      "f:add_done_callback(function() error('done cb broke', 0) end); f:set_result(1)"));
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  luaio_step(rt, 0, NULL);
  CHECK(T, r.n == 3 && strstr(r.msg[2], "done cb broke") != NULL);
  /* a host future failed from C and read by the host is not reported */
  int ref = luaio_future_new(L);
  lua_pushstring(L, "host-side failure");
  CHECK(T, luaio_future_fail(L, ref) == 0);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_FAILED);
  CHECK_STR(T, lua_tostring(L, -1), "host-side failure");
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  luaio_step(rt, 0, NULL);
  CHECK(T, r.n == 3);
  luaio_close(rt);
  CHECK(T, r.n == 3);
  lua_close(L);
}

/* The default (fn NULL, no Lua handler) prints to stderr: capture it through a pipe. */
static void default_handler_prints(tap_state *T) {
  int fds[2];
  CHECK(T, pipe(fds) == 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(fds[1], 2);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  luaio_set_error_handler(rt, NULL, NULL);
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.current_task():set_name('printer') error('visible on stderr', 0) end");
  lua_settop(L, 0);
  luaio_run_until_idle(rt);
  luaio_close(rt);
  lua_close(L);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fds[1]);
  char buf[4096];
  ssize_t got = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  buf[got > 0 ? got : 0] = 0;
  CHECK(T, r.n == 0);
  CHECK(T, strstr(buf, "visible on stderr") != NULL);
  CHECK(T, strstr(buf, "printer") != NULL);
}

/* luaio_request_dump prints aio.dump_tasks() to stderr at the loop's next turn; NULL is
 * ignored (it is called from signal handlers). */
static void request_dump_prints_tasks(tap_state *T) {
  luaio_request_dump(NULL);
  int fds[2];
  CHECK(T, pipe(fds) == 0);
  fflush(stderr);
  int saved = dup(2);
  dup2(fds[1], 2);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.current_task():set_name('dumped') aio.sleep(10) end");
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 1); /* started, now asleep */
  luaio_request_dump(rt);
  luaio_step(rt, 0, NULL);
  luaio_close(rt);
  lua_close(L);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fds[1]);
  char buf[4096];
  ssize_t got = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  buf[got > 0 ? got : 0] = 0;

  CHECK(T, strstr(buf, "live task") != NULL);
  CHECK(T, strstr(buf, "dumped") != NULL);
}

static luaio_runtime *sig_rt;
static void on_sigint(int sig) {
  (void)sig;
  luaio_interrupt(sig_rt);
}
static int l_raise(lua_State *L) {
  (void)L;
  raise(SIGINT);
  return 0;
}

static void interrupt_from_signal_handler(tap_state *T) {
  lua_State *L = fresh();
  sig_rt = luaio_open(L, NULL);
  lua_register(L, "c_raise", l_raise);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  push_value(L, "local aio = require 'luaio'\n"
                "return function() local ok, e = pcall(function() c_raise(); aio.sleep(10) end)\n"
                "  return ok and 'slept' or e.name end");
  uint64_t t0 = uv_hrtime();
  CHECK(T, luaio_run(L, 0, 1, NULL) == LUA_OK);
  CHECK(T, uv_hrtime() - t0 < 1000000000ull);
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 0);
  sigaction(SIGINT, &old, NULL);
  luaio_close(sig_rt);
  lua_close(L);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, open_own_loop);
  RUN(&T, open_via_luaopen);
  RUN(&T, open_host_loop);
  RUN(&T, spawn_with_args_and_results);
  RUN(&T, spawn_failure_readable_and_retrieved);
  RUN(&T, status_on_futures_and_non_tasks);
  RUN(&T, wait_runs_others_and_detects_deadlock);
  RUN(&T, cancel_from_c);
  RUN(&T, step_returns_and_ready);
  RUN(&T, step_fires_due_timers);
  RUN(&T, step_with_budget);
  RUN(&T, run_until_idle_contract);
  RUN(&T, driving_calls_refuse_inside_loop);
  RUN(&T, backend_fd_and_timeout);
  RUN(&T, host_future_resolve);
  RUN(&T, host_future_fail);
  RUN(&T, host_future_after_awaiter_cancelled);
  RUN(&T, host_future_release);
  RUN(&T, error_handler_contract);
  RUN(&T, error_handler_replace_and_default);
  RUN(&T, run_contract);
  RUN(&T, run_refused_inside_loop);
  RUN(&T, attach_to_host_uv_run);
  RUN(&T, interrupt_targets);
  RUN(&T, close_with_pending_tasks);
  RUN(&T, close_abandons_stubborn_task);
  RUN(&T, bad_input);
  RUN(&T, two_runtimes_side_by_side);
  RUN(&T, two_runtimes_on_one_host_loop);
  RUN(&T, lua_close_alone_frees);
  RUN(&T, spawn_edges);
  RUN(&T, callbacks_count_as_work);
  RUN(&T, error_handler_more);
  RUN(&T, default_handler_prints);
  RUN(&T, request_dump_prints_tasks);
  RUN(&T, interrupt_from_signal_handler);
  return tap_done(&T);
}
