/* thread.c — aio.to_thread seen from a host: two runtimes in one process each with their
 * own worker states, and a runtime closed (luaio_close, or lua_close alone) while a call
 * runs on a worker — on its own loop and on a host's loop that runs on afterwards. The
 * work ends on its own, nothing is woken, nothing leaks (valgrind checks). */
#include "harness.h"

static const char *caller =
  "local aio = require 'luaio'\n"
  "return function(mark)\n"
  "  local function swap(m) local old = rawget(_G, 'MARK') MARK = m return old end\n"
  "  local first = aio.to_thread(swap, mark)\n"
  "  local second = aio.to_thread(swap, mark)\n"
  "  local slow = aio.to_thread(function(m) os.execute('sleep 0.1') return m end, mark)\n"
  "  RESULT = tostring(first) .. ',' .. tostring(second) .. ',' .. slow\n"
  "end";

static void spawn_caller(lua_State *L, const char *mark) {
  push_value(L, caller);
  lua_pushstring(L, mark);
  luaio_spawn(L, 1);
  lua_pop(L, 1);
}

/* Each runtime's calls land on its own worker states (LIFO: the second call sees the
 * first call's global), and both runtimes' slow calls are driven side by side. */
static void two_runtimes(tap_state *T) {
  lua_State *A = fresh(), *B = fresh();
  luaio_runtime *ra = luaio_open(A, NULL), *rb = luaio_open(B, NULL);
  spawn_caller(A, "A");
  spawn_caller(B, "B");
  char a[64], b[64];
  for (int i = 0; i < 2000; i++) {
    luaio_step(ra, 0, NULL);
    luaio_step(rb, 0, NULL);
    global_str(A, "RESULT", a, sizeof a);
    global_str(B, "RESULT", b, sizeof b);
    if (strcmp(a, "(nil)") && strcmp(b, "(nil)")) break;
    usleep(1000);
  }
  CHECK_STR(T, a, "nil,A,A");
  CHECK_STR(T, b, "nil,B,B");
  luaio_close(ra);
  luaio_close(rb);
  lua_close(A);
  lua_close(B);
}

static const char *slow_call =
  "local aio = require 'luaio'\n"
  "return function()\n"
  "  local ok, e = pcall(aio.to_thread, function() os.execute('sleep 0.2') return 'late' end)\n"
  "  CAUGHT = ok and 'returned' or e.name\n"
  "end";

static void start_slow_call(lua_State *L, luaio_runtime *rt) {
  push_value(L, slow_call);
  luaio_spawn(L, 0);
  lua_pop(L, 1);
  luaio_step(rt, 0, NULL); /* the task runs and queues its call */
}

/* luaio_close cancels the waiting task (CancelledError at once) and, on a host's loop,
 * does not wait for the work: the host's loop finishes it and frees the call later. */
static void close_on_host_loop_with_work_in_flight(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, &loop);
  start_slow_call(L, rt);
  uint64_t t0 = uv_hrtime();
  luaio_close(rt);
  char buf[64];
  CHECK_STR(T, global_str(L, "CAUGHT", buf, sizeof buf), "CancelledError");
  CHECK(T, uv_hrtime() - t0 < 150000000u); /* did not wait for the 0.2 s of work */
  lua_close(L);
  uv_run(&loop, UV_RUN_DEFAULT); /* the work ends, its after-work callback frees it */
  CHECK(T, uv_loop_close(&loop) == 0);
}

/* The same on the runtime's own loop: closing waits for the running work. */
static void close_on_own_loop_with_work_in_flight(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  start_slow_call(L, rt);
  luaio_close(rt);
  char buf[64];
  CHECK_STR(T, global_str(L, "CAUGHT", buf, sizeof buf), "CancelledError");
  lua_close(L);
}

/* lua_close alone (no luaio_close) with a call running: nothing leaks, nothing crashes. */
static void lua_close_alone_with_work_in_flight(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  start_slow_call(L, rt);
  lua_close(L);
  CHECK(T, 1);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, two_runtimes);
  RUN(&T, close_on_host_loop_with_work_in_flight);
  RUN(&T, close_on_own_loop_with_work_in_flight);
  RUN(&T, lua_close_alone_with_work_in_flight);
  return tap_done(&T);
}
