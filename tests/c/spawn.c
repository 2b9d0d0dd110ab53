/* spawn.c — luaio_spawn (luaio.h): the function and its arguments popped and the Task
 * pushed, started on a later step (never inside the call), from the host, from C inside a
 * running task, from another thread of L, with a C function as body; and it raises a Lua
 * error (opening nothing) when luaio is not open in L, before opening or after close. */
#include "harness.h"

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
  /* the pushed value is a Task object with its methods (docs/reference/tasks.md) */
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

static void spawn_and_step_to_results(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_value(L, "return function(a, b) coroutine.yield() return a + b, a * b, nil end");
  lua_pushinteger(L, 2);
  lua_pushinteger(L, 3);
  luaio_spawn(L, 2);
  CHECK(T, lua_gettop(L) == 1);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_PENDING);
  int n = -1;
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_PENDING && n == 0);
  CHECK(T, lua_gettop(L) == 1);
  int ready = 0;
  CHECK(T, luaio_step(rt, 0, &ready) == 1); /* started, yielded once */
  CHECK(T, ready == 1);
  CHECK(T, luaio_step(rt, 0, &ready) == 0);
  CHECK(T, ready == 0);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_OK);
  CHECK(T, n == 3 && lua_gettop(L) == 4);
  CHECK(T, lua_tointeger(L, 2) == 5 && lua_tointeger(L, 3) == 6 && lua_isnil(L, 4));
  CHECK(T, luaio_task_status(L, 2) == -1); /* not a task */
  CHECK(T, luaio_task_result(L, 2, NULL) == -1 && lua_gettop(L) == 4);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

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

static int l_spawn_unopened(lua_State *L) {
  lua_pushcfunction(L, l_step);
  luaio_spawn(L, 0);
  return 1;
}

static void spawn_without_runtime_and_bad_input(tap_state *T) {
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

int main(void) {
  tap_state T = {0};
  RUN(&T, spawn_with_args_and_results);
  RUN(&T, spawn_and_step_to_results);
  RUN(&T, spawn_edges);
  RUN(&T, spawn_without_runtime_and_bad_input);
  return tap_done(&T);
}
