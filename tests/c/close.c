/* close.c — shutting down (luaio.h: luaio_close, and lua_close without it): pending tasks
 * of every kind cancelled and unwound (or abandoned if nothing can complete them), errors
 * reported once, the driving calls and host futures refused afterwards, a host's loop left
 * reusable (its own handles untouched), a fresh runtime opened after close, and lua_close
 * alone freeing everything (valgrind checks). */
#include <arpa/inet.h>
#include <sys/socket.h>
#include "harness.h"

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
 * loop can still make progress, so close then waits for that timer.) */
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

/* Tasks in every kind of wait when the host shuts down: each is cancelled and unwinds
 * (closing its <close> variables); host futures it held can no longer be resolved. */
static const char *pending_script =
  "local aio = require 'luaio'\n"
  "closed, caught = 0, 0\n"
  "local function guard() return setmetatable({}, {__close = function() closed = closed + 1 end}) end\n"
  "local fut = ...\n"
  "aio.spawn(function() local g <close> = guard(); aio.sleep(1000) end)\n"
  "aio.spawn(function() local g <close> = guard(); aio.await(fut) end)\n"
  "aio.spawn(function() local g <close> = guard(); aio.await(aio.Future()) end)\n"
  "aio.spawn(function() local g <close> = guard(); aio.gather(aio.Future(), function() aio.sleep(50) end) end)\n"
  "aio.spawn(function()\n" /* catches the cancellation and needs more loop turns to finish */
  "  local ok = pcall(aio.sleep, 1000)\n"
  "  caught = caught + 1; aio.sleep(0.002); aio.sleep(0); caught = caught + 1\n"
  "end)\n"
  "aio.spawn(function() local g <close> = guard() end)\n" /* never even started */
  "aio.call_later(1000, print, 'never')\n";

static void teardown_with_tasks_pending(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  int ref = luaio_future_new(L);
  CHECK(T, luaL_loadstring(L, pending_script) == LUA_OK);
  lua_insert(L, -2);
  CHECK(T, lua_pcall(L, 1, 0, 0) == LUA_OK);
  CHECK(T, luaio_step(rt, 0, NULL) >= 6); /* some started, the last is still new */
  luaio_close(rt);
  CHECK(T, luaio_get(L) == NULL);
  CHECK(T, eval_int(L, "return closed") == 5);
  CHECK(T, eval_int(L, "return caught") == 2);
  lua_pushinteger(L, 1);
  CHECK(T, luaio_future_resolve(L, ref, 1) == -1); /* the runtime is gone */
  CHECK(T, lua_gettop(L) == 0);
  CHECK(T, luaio_step(rt, 0, NULL) == -1);
  CHECK(T, luaio_run_until_idle(rt) == -1);
  CHECK(T, luaio_backend_timeout(rt) == -1);
  luaio_close(rt); /* a second close is a no-op */
  lua_close(L);
}

static void host_loop_reusable_after_close(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_timer_t mine; /* the host's own handle lives through luaio's whole life */
  uv_timer_init(&loop, &mine);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, &loop);
  int ref = luaio_future_new(L);
  CHECK(T, luaL_loadstring(L, pending_script) == LUA_OK);
  lua_insert(L, -2);
  CHECK(T, lua_pcall(L, 1, 0, 0) == LUA_OK);
  for (int i = 0; i < 3; i++) luaio_step(rt, 0, NULL);
  luaio_close(rt);
  CHECK(T, !uv_is_closing((uv_handle_t *)&mine));
  lua_close(L);
  (void)ref;
  /* the loop runs the host's handle as before, then closes cleanly */
  int fired = 0;
  mine.data = &fired;
  uv_timer_start(&mine, count_timer_cb, 1, 0);
  CHECK(T, uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(T, fired == 1);
  uv_close((uv_handle_t *)&mine, NULL);
  CHECK(T, uv_run(&loop, UV_RUN_DEFAULT) == 0);
  CHECK(T, uv_loop_close(&loop) == 0);
}

static void host_loop_runs_again(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  for (int round = 0; round < 2; round++) { /* luaio twice on the same loop */
    lua_State *L = fresh();
    luaio_runtime *rt = luaio_open(L, &loop);
    push_value(L, "local aio = require 'luaio'\n"
                  "return function() aio.sleep(0.002); return 7 end");
    luaio_spawn(L, 0);
    CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
    lua_settop(L, 0);
    luaio_close(rt);
    lua_close(L);
    CHECK(T, uv_loop_alive(&loop) == 0);
  }
  uv_timer_t t;
  int fired = 0;
  uv_timer_init(&loop, &t);
  t.data = &fired;
  uv_timer_start(&t, count_timer_cb, 1, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, fired == 1);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, uv_loop_close(&loop) == 0);
}

static void close_then_reopen(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_value(L, "local aio = require 'luaio'\n"
                "return function() aio.sleep(100) end");
  luaio_spawn(L, 0); /* the host keeps this Task across the close */
  luaio_step(rt, 0, NULL);
  luaio_close(rt);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_CANCELLED);
  luaio_runtime *rt2 = luaio_open(L, NULL);
  CHECK(T, rt2 != NULL && luaio_get(L) == rt2);
  CHECK(T, luaL_dostring(L, "return require('luaio').run(function(x) "
                            "require('luaio').sleep(0) return x end, 'again')") == LUA_OK);
  CHECK_STR(T, lua_tostring(L, -1), "again");
  lua_settop(L, 0);
  luaio_close(rt2);
  lua_close(L);
}

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

static void lua_close_alone_with_tasks_in_every_wait(tap_state *T) {
  lua_State *L = fresh();
  CHECK(T, luaio_open(L, NULL) != NULL);
  int ref = luaio_future_new(L);
  (void)ref; /* never released: lua_close takes the registry with it */
  CHECK(T, luaL_loadstring(L, pending_script) == LUA_OK);
  lua_insert(L, -2);
  CHECK(T, lua_pcall(L, 1, 0, 0) == LUA_OK);
  luaio_step(luaio_get(L), 0, NULL);
  lua_close(L); /* no luaio_close: valgrind checks nothing leaks */
  CHECK(T, 1);
}

/* regression: a runtime closed and opened again on the same state kept the old main task
 * as the interrupt target; interrupting the new runtime woke that abandoned task onto the
 * old runtime's freed ready ring (a crash) */
static void reopen_then_interrupt_touches_no_old_task(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, run_lua(L, "local aio = require 'luaio'\n"
                      "assert(not pcall(aio.run, function()\n"
                      "  while true do local f = aio.Future(); pcall(f.await, f) end\n"
                      "end))")); /* a deadlock; the stubborn main task is abandoned */
  luaio_close(rt);
  luaio_runtime *rt2 = luaio_open(L, NULL);
  CHECK(T, rt2 != NULL);
  luaio_interrupt(rt2);
  CHECK(T, luaio_step(rt2, 0, NULL) == 0);
  CHECK(T, run_lua(L, "assert(require('luaio').run(function() return 42 end) == 42)"));
  luaio_close(rt2);
  lua_close(L);
}

static void guard_cb(uv_timer_t *t) {
  *(int *)t->data = 1;
  uv_stop(t->loop);
}

/* regression: a listener still referenced after luaio_close on a host's loop kept its poll
 * running; a client connecting then made the host's uv_run spin at full CPU forever */
static void closed_listener_does_not_spin_the_host_loop(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, &loop);
  CHECK(T, run_lua(L, "local aio = require 'luaio'\n"
                      "PORT = aio.run(function()\n"
                      "  SERVER = aio.start_server(function() end, '127.0.0.1', 0)\n"
                      "  return select(2, SERVER.sockets[1]:getsockname())\n"
                      "end)"));
  int port = (int)global_int(L, "PORT");
  luaio_close(rt);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  CHECK(T, connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
  /* with nothing active left, uv_run returns; a spinning poll would run until the guard */
  int spun = 0;
  uv_timer_t guard;
  uv_timer_init(&loop, &guard);
  guard.data = &spun;
  uv_timer_start(&guard, guard_cb, 3000, 0);
  uv_unref((uv_handle_t *)&guard);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, !spun);
  close(fd);
  uv_close((uv_handle_t *)&guard, NULL);
  lua_close(L);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, uv_loop_close(&loop) == 0);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, close_with_pending_tasks);
  RUN(&T, close_abandons_stubborn_task);
  RUN(&T, teardown_with_tasks_pending);
  RUN(&T, host_loop_reusable_after_close);
  RUN(&T, host_loop_runs_again);
  RUN(&T, close_then_reopen);
  RUN(&T, lua_close_alone_frees);
  RUN(&T, lua_close_alone_with_tasks_in_every_wait);
  RUN(&T, reopen_then_interrupt_touches_no_old_task);
  RUN(&T, closed_listener_does_not_spin_the_host_loop);
  return tap_done(&T);
}
