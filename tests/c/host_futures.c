/* host_futures.c — host events as awaitables (luaio.h: luaio_future_new,
 * luaio_future_resolve, luaio_future_fail, luaio_future_release): awaited by scripts,
 * resolved/failed by the host (waiters resume on the next step), refused (-1, values
 * popped) once the future is done — also when cancelled with the task awaiting it — and
 * references released without resolving. */
#include "harness.h"

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
  /* scripts see it done too */
  lua_getfield(L, 2, "done");
  lua_pushvalue(L, 2);
  CHECK(T, lua_pcall(L, 1, 1, 0) == LUA_OK && lua_toboolean(L, -1));
  lua_pop(L, 1);
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

int main(void) {
  tap_state T = {0};
  RUN(&T, host_future_resolve);
  RUN(&T, host_future_fail);
  RUN(&T, host_future_after_awaiter_cancelled);
  RUN(&T, host_future_release);
  return tap_done(&T);
}
