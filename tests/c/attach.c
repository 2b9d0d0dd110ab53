/* attach.c — luaio inside the host's own uv_run (luaio.h: luaio_attach, luaio_detach):
 * tasks run and timers keep uv_run alive, a task waiting only on a host future does not;
 * luaio_future_resolve (also from the host's libuv callbacks), luaio_cancel and re-attach
 * re-arm it; detach hands driving back to luaio_step; two runtimes attached to one loop. */
#include "harness.h"

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

/* The host's timer ticks resolve the futures a script awaits, from inside uv_run. */
typedef struct host {
  lua_State *L;
  uv_timer_t tick;
  int ticks;
  int frame_ref; /* the future the script awaits for the next tick, or LUA_NOREF */
} host;

static int l_next_tick(lua_State *L) {
  host *h = lua_touserdata(L, lua_upvalueindex(1));
  h->frame_ref = luaio_future_new(L);
  return 1;
}

static void tick_cb(uv_timer_t *t) {
  host *h = t->data;
  h->ticks++;
  if (h->frame_ref != LUA_NOREF) {
    int ref = h->frame_ref;
    h->frame_ref = LUA_NOREF;
    lua_pushinteger(h->L, h->ticks);
    luaio_future_resolve(h->L, ref, 1);
  }
  if (h->ticks == 10) uv_timer_stop(t);
}

static void attach_host_ticks_resolve_futures(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  host h = {.frame_ref = LUA_NOREF};
  h.L = fresh();
  luaio_runtime *rt = luaio_open(h.L, &loop);
  CHECK(T, luaio_attach(rt) == 0);
  lua_pushlightuserdata(h.L, &h);
  lua_pushcclosure(h.L, l_next_tick, 1);
  lua_setglobal(h.L, "next_tick");
  uv_timer_init(&loop, &h.tick);
  h.tick.data = &h;
  uv_timer_start(&h.tick, tick_cb, 2, 2);
  push_value(h.L, "local aio = require 'luaio'\n"
                  "return function()\n"
                  "  local seen = {}\n"
                  "  for i = 1, 3 do seen[#seen + 1] = aio.await(next_tick()) end\n"
                  "  aio.sleep(0.02)\n" /* outlives the host's ticks: luaio keeps uv_run going */
                  "  return #seen, seen[3] - seen[1]\n"
                  "end");
  luaio_spawn(h.L, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, h.ticks == 10);
  CHECK(T, luaio_task_status(h.L, 1) == LUAIO_OK);
  int n = 0;
  luaio_task_result(h.L, 1, &n);
  CHECK(T, n == 2 && lua_tointeger(h.L, 2) == 3);
  CHECK(T, lua_tointeger(h.L, 3) == 2); /* consecutive ticks: resumed before the next one */
  lua_settop(h.L, 0);
  luaio_detach(rt);
  luaio_detach(rt);
  CHECK(T, luaio_attach(rt) == 0);
  luaio_close(rt);
  uv_close((uv_handle_t *)&h.tick, NULL);
  lua_close(h.L);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, uv_loop_close(&loop) == 0);
}

static void two_runtimes_attached_to_one_host_loop(tap_state *T) {
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

int main(void) {
  tap_state T = {0};
  RUN(&T, attach_to_host_uv_run);
  RUN(&T, attach_host_ticks_resolve_futures);
  RUN(&T, two_runtimes_attached_to_one_host_loop);
  return tap_done(&T);
}
