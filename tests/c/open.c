/* open.c — opening luaio in a host's lua_State (luaio.h: luaopen_luaio, luaio_open,
 * luaio_get, luaio_loop, luaio_state): on a loop luaio owns or on the host's loop, through
 * require / luaL_requiref, once per state, and one runtime per state — several side by
 * side (own loops or one shared host loop) never see each other's tasks or errors. */
#include "harness.h"

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
  lua_getfield(L, -1, "VERSION");
  CHECK_STR(T, lua_tostring(L, -1), LUAIO_VERSION);
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

static void open_via_luaL_requiref(tap_state *T) {
  lua_State *L = fresh();
  /* what a host linking luaio in does: luaL_requiref with the module entry */
  luaL_requiref(L, "luaio", luaopen_luaio, 0);
  CHECK(T, lua_istable(L, -1));
  lua_pop(L, 1);
  luaio_runtime *rt = luaio_get(L);
  CHECK(T, rt != NULL);
  CHECK(T, luaio_open(L, NULL) == rt);
  CHECK(T, luaL_dostring(L, "return require('luaio').run(function(x) return x * 2 end, 21)") == LUA_OK);
  CHECK(T, lua_tointeger(L, -1) == 42);
  lua_close(L); /* lua_close alone also tears it down */
}

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
  uv_timer_start(&host_timer, count_timer_cb, 1, 0);
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
  uv_timer_start(&host_timer, count_timer_cb, 1, 0);
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

/* Two states, each with its own runtime and loop, stepped alternately: they never see
 * each other's tasks, clocks or errors. */
static void two_runtimes_stepped_alternately(tap_state *T) {
  lua_State *L[2];
  luaio_runtime *rt[2];
  reports err[2] = {{0}, {0}};
  for (int i = 0; i < 2; i++) {
    L[i] = fresh();
    rt[i] = luaio_open(L[i], NULL);
    luaio_set_error_handler(rt[i], on_error, &err[i]);
    lua_pushinteger(L[i], i);
    lua_setglobal(L[i], "ID");
    CHECK(T, luaL_dostring(L[i],
      "local aio = require 'luaio'\n"
      "log = {}\n"
      "for k = 1, 3 do aio.spawn(function() for j = 1, 3 do log[#log + 1] = ID .. k .. j; aio.sleep(0.001) end end) end\n"
      "if ID == 1 then aio.spawn(error, 'only in 1', 0) end") == LUA_OK);
  }
  CHECK(T, rt[0] != rt[1] && luaio_loop(rt[0]) != luaio_loop(rt[1]));
  int live[2] = {1, 1}, frames = 0;
  while ((live[0] || live[1]) && frames++ < 2000) {
    for (int i = 0; i < 2; i++) if (live[i]) live[i] = luaio_step(rt[i], 0, NULL) > 0;
    usleep(100);
  }
  CHECK(T, !live[0] && !live[1]);
  CHECK(T, eval_int(L[0], "return #log") == 9 && eval_int(L[1], "return #log") == 9);
  CHECK(T, eval_int(L[0], "return log[1] == '011' and 1 or 0") == 1);
  CHECK(T, eval_int(L[1], "return log[9] == '133' and 1 or 0") == 1);
  CHECK(T, err[0].n == 0 && err[1].n == 1);
  CHECK(T, strstr(err[1].last, "only in 1") != NULL);
  /* closing one leaves the other working */
  luaio_close(rt[0]);
  lua_close(L[0]);
  CHECK(T, luaL_dostring(L[1], "return require('luaio').run(function() "
                                "require('luaio').sleep(0.001) return 'still here' end)") == LUA_OK);
  CHECK_STR(T, lua_tostring(L[1], -1), "still here");
  lua_settop(L[1], 0);
  luaio_close(rt[1]);
  lua_close(L[1]);
}

static void two_runtimes_stepped_on_one_host_loop(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  lua_State *L[2];
  luaio_runtime *rt[2];
  for (int i = 0; i < 2; i++) {
    L[i] = fresh();
    rt[i] = luaio_open(L[i], &loop);
    push_value(L[i], "local aio = require 'luaio'\n"
                     "return function(n) local s = 0; for i = 1, n do aio.sleep(0.001); s = s + i end; return s end");
    lua_pushinteger(L[i], 5 + i);
    luaio_spawn(L[i], 1);
  }
  int frames = 0;
  while (frames++ < 5000) {
    int a = luaio_step(rt[0], 0, NULL), b = luaio_step(rt[1], 0, NULL);
    if (!a && !b) break;
    usleep(100);
  }
  luaio_task_result(L[0], 1, NULL);
  luaio_task_result(L[1], 1, NULL);
  CHECK(T, lua_tointeger(L[0], -1) == 15 && lua_tointeger(L[1], -1) == 21);
  for (int i = 0; i < 2; i++) {
    lua_settop(L[i], 0);
    luaio_close(rt[i]);
    lua_close(L[i]);
  }
  CHECK(T, uv_loop_close(&loop) == 0);
}

/* a host timer on luaio's loop records the state its Lua calls must use */
typedef struct seen_state { luaio_runtime *rt; lua_State *L; } seen_state;
static void record_state_cb(uv_timer_t *t) {
  seen_state *s = t->data;
  s->L = luaio_callback_state(s->rt);
}

static void callback_state_is_the_driving_state(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaio_callback_state(rt) == luaio_state(rt)); /* the loop is not running */
  seen_state seen = {rt, NULL};
  uv_timer_t timer;
  uv_timer_init(luaio_loop(rt), &timer);
  timer.data = &seen;
  uv_timer_start(&timer, record_state_cb, 1, 0);
  /* aio.run called from a coroutine: that coroutine drives the loop */
  CHECK(T, run_lua(L, "local aio = require 'luaio'\n"
                      "CO = coroutine.create(function() aio.run(function() aio.sleep(0.02) end) end)\n"
                      "assert(coroutine.resume(CO))"));
  lua_getglobal(L, "CO");
  CHECK(T, seen.L != NULL && seen.L == lua_tothread(L, -1));
  lua_pop(L, 1);
  uv_close((uv_handle_t *)&timer, NULL);
  luaio_close(rt);
  lua_close(L);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, open_own_loop);
  RUN(&T, open_via_luaopen);
  RUN(&T, open_via_luaL_requiref);
  RUN(&T, open_host_loop);
  RUN(&T, two_runtimes_side_by_side);
  RUN(&T, two_runtimes_stepped_alternately);
  RUN(&T, two_runtimes_stepped_on_one_host_loop);
  RUN(&T, callback_state_is_the_driving_state);
  return tap_done(&T);
}
