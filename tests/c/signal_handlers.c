/* signal_handlers.c — aio.add_signal_handler / remove_signal_handler across runtimes: two
 * runtimes in one process each get the signals they registered (libuv keeps one watcher
 * per runtime); the disposition found before the first watcher comes back when the last
 * one goes, in either order, and when a runtime closes with handlers still in place;
 * a runtime closed with children still running neither hangs nor leaks. */
#include <signal.h>
#include "harness.h"

static const char *const count_usr2_hup =
  "aio = require 'luaio'\n"
  "USR2, HUP = 0, 0\n";

/* drives a runtime until the global `name` reaches `want` (or 2 s) */
static int wait_global(lua_State *L, const char *name, int want) {
  char src[256];
  snprintf(src, sizeof src,
           "local aio = require 'luaio'\n"
           "aio.run(function() local t = aio.time() + 2\n"
           "  while %s < %d and aio.time() < t do aio.sleep(0.001) end end)\n", name, want);
  return run_lua(L, src);
}

/* lets a runtime see what is pending for it without waiting for anything */
static int settle(lua_State *L) {
  return run_lua(L, "local aio = require 'luaio' aio.run(function() aio.sleep(0.02) end)");
}

static void two_runtimes_each_get_their_signal(tap_state *T) {
  lua_State *A = fresh(), *B = fresh();
  luaio_runtime *ra = luaio_open(A, NULL), *rb = luaio_open(B, NULL);
  CHECK(T, ra && rb);
  CHECK(T, run_lua(A, count_usr2_hup));
  CHECK(T, run_lua(B, count_usr2_hup));
  CHECK(T, run_lua(A, "aio.add_signal_handler('SIGUSR2', function() USR2 = USR2 + 1 end)"));
  CHECK(T, run_lua(B, "aio.add_signal_handler('SIGHUP', function() HUP = HUP + 1 end)"));
  raise(SIGUSR2);
  CHECK(T, wait_global(A, "USR2", 1));
  CHECK(T, settle(B));
  CHECK(T, global_int(A, "USR2") == 1 && global_int(B, "USR2") == 0);
  raise(SIGHUP);
  CHECK(T, wait_global(B, "HUP", 1));
  CHECK(T, settle(A));
  CHECK(T, global_int(B, "HUP") == 1 && global_int(A, "HUP") == 0);
  /* both on one signal: each gets it */
  CHECK(T, run_lua(B, "aio.add_signal_handler('SIGUSR2', function() USR2 = USR2 + 1 end)"));
  raise(SIGUSR2);
  CHECK(T, wait_global(A, "USR2", 2));
  CHECK(T, wait_global(B, "USR2", 1));
  CHECK(T, global_int(A, "USR2") == 2 && global_int(B, "USR2") == 1);
  /* a task waiting in one runtime, a handler in the other */
  CHECK(T, run_lua(A, "assert(aio.remove_signal_handler('SIGUSR2'))"));
  spawn0(A, "local aio = require 'luaio'\nreturn function() return aio.wait_signal('SIGUSR2') end");
  luaio_step(ra, 0, NULL); /* the task runs until it waits (aio.run would cancel it) */
  raise(SIGUSR2);
  CHECK(T, luaio_task_wait(A, -1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(A, -1, &n) == LUAIO_OK && n == 1);
  CHECK_STR(T, lua_tostring(A, -1), "SIGUSR2");
  lua_settop(A, 0);
  CHECK(T, wait_global(B, "USR2", 2));
  CHECK(T, run_lua(B, "assert(aio.remove_signal_handler('SIGUSR2')) assert(aio.remove_signal_handler('SIGHUP'))"));
  luaio_close(ra);
  luaio_close(rb);
  lua_close(A);
  lua_close(B);
}

static volatile sig_atomic_t host_hits;
static void host_handler(int sig) { (void)sig; host_hits++; }

static void install_host_handler(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = host_handler;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, NULL);
}

static int host_handler_in_place(void) {
  struct sigaction sa;
  sigaction(SIGUSR2, NULL, &sa);
  return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == host_handler;
}

static void removal_restores_in_any_order(tap_state *T) {
  for (int order = 0; order < 2; order++) {
    install_host_handler();
    lua_State *A = fresh(), *B = fresh();
    luaio_runtime *ra = luaio_open(A, NULL), *rb = luaio_open(B, NULL);
    CHECK(T, ra && rb);
    CHECK(T, run_lua(A, "require('luaio').add_signal_handler('SIGUSR2', function() end)"));
    CHECK(T, !host_handler_in_place());
    CHECK(T, run_lua(B, "require('luaio').add_signal_handler('SIGUSR2', function() end)"));
    lua_State *first = order ? B : A, *second = order ? A : B;
    CHECK(T, run_lua(first, "assert(require('luaio').remove_signal_handler('SIGUSR2'))"));
    CHECK(T, !host_handler_in_place()); /* the other runtime still watches */
    CHECK(T, run_lua(second, "assert(require('luaio').remove_signal_handler('SIGUSR2'))"));
    CHECK(T, host_handler_in_place());
    int before = host_hits;
    raise(SIGUSR2);
    CHECK(T, host_hits == before + 1);
    luaio_close(ra);
    luaio_close(rb);
    lua_close(A);
    lua_close(B);
  }
  signal(SIGUSR2, SIG_DFL);
}

static void closing_restores(tap_state *T) {
  install_host_handler();
  /* luaio_close with a handler and a waiting task still in place */
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, run_lua(L, "local aio = require('luaio') aio.add_signal_handler('SIGUSR2', print)"));
  spawn0(L, "local aio = require 'luaio'\nreturn function() return aio.wait_signal('SIGUSR2') end");
  lua_pop(L, 1);
  luaio_step(rt, 0, NULL);
  CHECK(T, !host_handler_in_place());
  luaio_close(rt);
  CHECK(T, host_handler_in_place());
  lua_close(L);
  /* lua_close alone */
  L = fresh();
  rt = luaio_open(L, NULL);
  CHECK(T, rt != NULL);
  CHECK(T, run_lua(L, "require('luaio').add_signal_handler('SIGUSR2', print)"));
  CHECK(T, !host_handler_in_place());
  lua_close(L);
  CHECK(T, host_handler_in_place());
  signal(SIGUSR2, SIG_DFL);
}

static void closing_with_children_running(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, run_lua(L, "local aio = require 'luaio'\n"
                      "aio.run(function()\n"
                      "  KEEP = aio.create_subprocess_exec('sleep', {'0.3'}, {stdout = 'pipe', stdin = 'pipe'})\n"
                      "  aio.create_subprocess_exec('sleep', {'0.3'})\n"
                      "end)"));
  luaio_close(rt);
  lua_close(L);
  L = fresh();
  rt = luaio_open(L, NULL);
  CHECK(T, rt != NULL);
  CHECK(T, run_lua(L, "local aio = require 'luaio'\n"
                      "aio.run(function()\n"
                      "  KEEP = aio.create_subprocess_exec('sleep', {'0.3'}, {stdout = 'pipe'})\n"
                      "  aio.create_subprocess_exec('sleep', {'0.3'})\n"
                      "end)"));
  lua_close(L);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, two_runtimes_each_get_their_signal);
  RUN(&T, removal_restores_in_any_order);
  RUN(&T, closing_restores);
  RUN(&T, closing_with_children_running);
  return tap_done(&T);
}
