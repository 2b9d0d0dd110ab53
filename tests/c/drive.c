/* drive.c — driving the loop from the host (luaio.h: luaio_step, luaio_run_until_idle,
 * luaio_backend_fd, luaio_backend_timeout): one step runs each ready task once (with or
 * without a budget, leftovers first next step) and fires due timers without blocking;
 * run_until_idle leaves host-future waiters waiting; the backend fd/timeout let a host
 * poller sleep; callbacks count as work; the calls refuse (-1) from inside the loop. */
#include <poll.h>
#include "harness.h"

static void step_returns_and_ready(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  int ready = 42;
  /* nothing to do */
  CHECK(T, luaio_step(rt, 0, &ready) == 0);
  CHECK(T, ready == 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, luaio_step(rt, 0.01, NULL) == 0); /* a budget with nothing to do */
  CHECK(T, luaio_step(rt, 0, &ready) == 0 && ready == 0); /* and again */
  CHECK(T, luaio_backend_timeout(rt) == -1);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, lua_gettop(L) == 0); /* the driving calls leave the stack alone */
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
  CHECK(T, rounds < 10); /* it slept rather than spun */
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

/* a host that steps the loop once per frame drives every part: a file, a child process,
 * a worker thread */
static void host_steps_files_processes_threads(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  char dir[] = "/tmp/luaio-drive-XXXXXX";
  CHECK(T, mkdtemp(dir) != NULL);
  lua_pushstring(L, dir);
  lua_setglobal(L, "DIR");
  spawn0(L, "local aio = require 'luaio'\n"
            "return function()\n"
            "  local p = DIR .. '/f'\n"
            "  aio.fs.write_file(p, 'file')\n"
            "  local f <close> = aio.open(p)\n"
            "  local child = aio.create_subprocess_exec('cat', {p}, {stdout = 'pipe'})\n"
            "  local out = child:communicate()\n"
            "  local th = aio.to_thread(function(s) return s .. '+thread' end, out)\n"
            "  aio.fs.unlink(p)\n"
            "  return f:read('a') .. '+' .. th\n"
            "end");
  int frames = 0;
  while (luaio_task_status(L, -1) == LUAIO_PENDING && frames < 100000) {
    luaio_step(rt, 0.001, NULL);
    frames++;
    if (luaio_backend_timeout(rt) != 0) usleep(200); /* a frame's worth of other work */
  }
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_OK);
  CHECK_STR(T, lua_tostring(L, -1), "file+file+thread");
  lua_settop(L, 0);
  CHECK(T, rmdir(dir) == 0);
  luaio_close(rt);
  lua_close(L);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, step_returns_and_ready);
  RUN(&T, step_fires_due_timers);
  RUN(&T, step_with_budget);
  RUN(&T, callbacks_count_as_work);
  RUN(&T, run_until_idle_contract);
  RUN(&T, driving_calls_refuse_inside_loop);
  RUN(&T, backend_fd_and_timeout);
  RUN(&T, host_steps_files_processes_threads);
  return tap_done(&T);
}
