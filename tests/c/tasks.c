/* tasks.c — Tasks and Futures seen from C (luaio.h: luaio_task_status, luaio_task_result,
 * luaio_task_wait, luaio_cancel) on Tasks, Lua Futures and things that are neither: status
 * and outcome (results, the error value — then retrieved, never reported as lost — or the
 * CancelledError), waiting (other tasks run meanwhile; PENDING on deadlock) and
 * cancelling (before start, while asleep, caught by the task). */
#include "harness.h"

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

static void wait_runs_others_and_detects_deadlock(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  run_lua(L, "LOG = ''");
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() for i = 1, 3 do LOG = LOG .. 'o' .. i; aio.sleep(0) end end");
  /* loop rounds, not wall-clock time, order the two (sleep(0) yields one round) */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() for _ = 1, 5 do aio.sleep(0) end LOG = LOG .. 'w'; return 'w' end");
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

static void wait_on_host_future_deadlock(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  int ref = luaio_future_new(L); /* nothing will ever resolve it... */
  push_value(L, "local aio = require 'luaio'\n"
                "return function(f) return aio.await(f) end");
  lua_insert(L, 1);
  luaio_spawn(L, 1);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_PENDING); /* ...so waiting returns */
  lua_pushstring(L, "late");
  CHECK(T, luaio_future_resolve(L, ref, 1) == 0);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_OK);
  luaio_task_result(L, 1, NULL);
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
  CHECK(T, lua_istable(L, -1));
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

int main(void) {
  tap_state T = {0};
  RUN(&T, status_on_futures_and_non_tasks);
  RUN(&T, spawn_failure_readable_and_retrieved);
  RUN(&T, wait_runs_others_and_detects_deadlock);
  RUN(&T, wait_on_host_future_deadlock);
  RUN(&T, cancel_from_c);
  return tap_done(&T);
}
