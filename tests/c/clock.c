/* clock.c — the loop clock a host chooses (luaio.h: luaio_set_clock, luaio_advance_clock):
 * a virtual clock jumps to the next deadline when nothing else can happen (in
 * run_until_idle and in each step), a manual clock moves only when the host advances it,
 * deadlines keep the time they had left across a switch, bad calls are refused. */
#include "harness.h"

static double loop_time(lua_State *L) {
  run_lua(L, "T = require('luaio').time()");
  lua_getglobal(L, "T");
  double t = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return t;
}

static void virtual_clock_jumps(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaio_set_clock(rt, LUAIO_CLOCK_VIRTUAL, 0) == 0);
  CHECK(T, loop_time(L) == 0);
  run_lua(L, "LOG = ''");
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.sleep(3600); LOG = LOG .. 'hour@' .. aio.time() end");
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.sleep(60); LOG = LOG .. 'minute@' .. aio.time() .. ' ' end");
  uint64_t t0 = uv_hrtime();
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, uv_hrtime() - t0 < 30 * (uint64_t)1000000000); /* an hour did not pass */
  char buf[64];
  CHECK_STR(T, global_str(L, "LOG", buf, sizeof buf), "minute@60.0 hour@3600.0");
  CHECK(T, loop_time(L) == 3600);
  /* each step with nothing else to do jumps once */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.sleep(5); aio.sleep(5) end");
  CHECK(T, luaio_backend_timeout(rt) == 0); /* a jump is due: step now */
  int steps = steps_until_idle(rt, 10);
  CHECK(T, steps > 0 && steps < 10);
  CHECK(T, loop_time(L) == 3610);
  /* back to real time: what was armed keeps the time it had left (armed under a manual
   * clock, which a step does not move) */
  CHECK(T, luaio_set_clock(rt, LUAIO_CLOCK_MANUAL, 0) == 0);
  CHECK(T, loop_time(L) == 3610); /* virtual to manual: the time goes on from there */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(30) end");
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  CHECK(T, luaio_set_clock(rt, LUAIO_CLOCK_REAL, 0) == 0);
  int ms = luaio_backend_timeout(rt);
  CHECK(T, ms > 29000 && ms <= 30000);
  luaio_close(rt);
  lua_close(L);
}

static void manual_clock_moves_when_advanced(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaio_set_clock(rt, LUAIO_CLOCK_MANUAL, 0) == 0);
  run_lua(L, "DONE = 0");
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(1 / 60); DONE = 1 end");
  for (int i = 0; i < 5; i++) CHECK(T, luaio_step(rt, 0, NULL) == 1); /* time stands still */
  CHECK(T, global_int(L, "DONE") == 0);
  CHECK(T, loop_time(L) == 0);
  luaio_advance_clock(rt, 1.0 / 60); /* one frame */
  CHECK(T, luaio_step(rt, 0, NULL) == 1); /* the timer fires; the task runs next step */
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, global_int(L, "DONE") == 1);
  luaio_advance_clock(rt, -5); /* never backwards */
  luaio_advance_clock(rt, 0);
  CHECK(T, loop_time(L) > 0.0166 && loop_time(L) < 0.0167);
  /* a manual clock's timers cannot move by themselves: run_until_idle does not hang */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(1) end");
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  luaio_advance_clock(rt, 1);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  luaio_close(rt);
  lua_close(L);
}

static void bad_calls_refused(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaio_set_clock(rt, 3, 0) == -1);
  CHECK(T, luaio_set_clock(rt, -1, 0) == -1);
  CHECK(T, luaio_set_clock(rt, LUAIO_CLOCK_VIRTUAL, -1) == -1);
  CHECK(T, luaio_set_clock(rt, LUAIO_CLOCK_VIRTUAL, 0.0 / 0.0) == -1);
  CHECK(T, luaio_set_clock(NULL, LUAIO_CLOCK_VIRTUAL, 0) == -1);
  luaio_advance_clock(NULL, 1);
  luaio_advance_clock(rt, 1); /* the real clock: no-op */
  CHECK(T, loop_time(L) > 0);
  luaio_close(rt);
  CHECK(T, luaio_set_clock(rt, LUAIO_CLOCK_VIRTUAL, 0) == -1); /* closed */
  luaio_advance_clock(rt, 1);
  lua_close(L);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, virtual_clock_jumps);
  RUN(&T, manual_clock_moves_when_advanced);
  RUN(&T, bad_calls_refused);
  return tap_done(&T);
}
