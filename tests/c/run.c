/* run.c — luaio_run (luaio.h): the main task's results (LUA_MULTRET or adjusted), its
 * error value and traceback, the tasks left cancelled and drained before it returns, a
 * deadlocked main, background errors reported, and refusal from inside the loop. */
#include "harness.h"

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

int main(void) {
  tap_state T = {0};
  RUN(&T, run_contract);
  RUN(&T, run_refused_inside_loop);
  return tap_done(&T);
}
