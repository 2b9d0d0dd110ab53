/* signals.c — interrupts, dumps and errors reaching the host (luaio.h: luaio_interrupt,
 * luaio_set_interrupt_target, luaio_request_dump, luaio_set_error_handler): interrupting
 * the main task or an explicit target (also from a real SIGINT handler, also in Lua code
 * that never suspends), dumping the tasks to stderr, and the C error handler — what it
 * receives and when, a Lua handler taking precedence, replacing it, the stderr default. */
#include <signal.h>
#include "harness.h"

static void interrupt_targets(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  expose_c(L);
  /* the main task of luaio_run, at its next suspension point */
  push_value(L, "local aio = require 'luaio'\n"
                "return function() c_interrupt(); aio.sleep(10); return 'not interrupted' end");
  uint64_t t0 = uv_hrtime();
  int st = luaio_run(L, 0, 1, NULL);
  CHECK(T, st != LUA_OK);
  CHECK(T, lua_istable(L, -1));
  lua_getfield(L, -1, "name");
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 0);
  /* ... or at once in Lua code that never suspends */
  push_value(L, "return function() c_interrupt(); local c = os.clock() + 3\n"
                "  while os.clock() < c do end return 'not interrupted' end");
  st = luaio_run(L, 0, 1, NULL);
  CHECK(T, st != LUA_OK);
  lua_getfield(L, -1, "name");
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 0);
  CHECK(T, uv_hrtime() - t0 < 2000000000ull);
  /* an explicit target instead */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(10) end");   /* 1 */
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(0.003) return 'other' end"); /* 2 */
  lua_pushvalue(L, 1);
  luaio_set_interrupt_target(L);
  CHECK(T, lua_gettop(L) == 2);
  luaio_step(rt, 0, NULL);
  luaio_interrupt(rt);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_CANCELLED);
  CHECK(T, luaio_task_wait(L, 2) == LUAIO_OK);
  /* nil: no target any more (and no main task) — nothing is cancelled */
  lua_pushnil(L);
  luaio_set_interrupt_target(L);
  CHECK(T, lua_gettop(L) == 2);
  lua_settop(L, 0);
  spawn0(L, "local aio = require 'luaio'\nreturn function() aio.sleep(0.002) return 'kept' end");
  luaio_step(rt, 0, NULL);
  luaio_interrupt(rt);
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static luaio_runtime *sig_rt;

static void on_sigint(int sig) {
  (void)sig;
  luaio_interrupt(sig_rt);
}

static int l_raise(lua_State *L) {
  (void)L;
  raise(SIGINT);
  return 0;
}

static void interrupt_from_signal_handler(tap_state *T) {
  lua_State *L = fresh();
  sig_rt = luaio_open(L, NULL);
  lua_register(L, "c_raise", l_raise);
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  push_value(L, "local aio = require 'luaio'\n"
                "return function() local ok, e = pcall(function() c_raise(); aio.sleep(10) end)\n"
                "  return ok and 'slept' or e.name end");
  uint64_t t0 = uv_hrtime();
  CHECK(T, luaio_run(L, 0, 1, NULL) == LUA_OK);
  CHECK(T, uv_hrtime() - t0 < 1000000000ull);
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 0);
  sigaction(SIGINT, &old, NULL);
  luaio_close(sig_rt);
  lua_close(L);
}

/* luaio_request_dump prints aio.dump_tasks() to stderr at the loop's next turn; NULL is
 * ignored (it is called from signal handlers). */
static void request_dump_prints_tasks(tap_state *T) {
  luaio_request_dump(NULL);
  stderr_capture cap;
  CHECK(T, capture_stderr(&cap) == 0);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.current_task():set_name('dumped') aio.sleep(10) end");
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 1); /* started, now asleep */
  luaio_request_dump(rt);
  luaio_step(rt, 0, NULL);
  luaio_close(rt);
  lua_close(L);
  char buf[4096];
  captured_stderr(&cap, buf, sizeof buf);
  CHECK(T, strstr(buf, "live task") != NULL);
  CHECK(T, strstr(buf, "dumped") != NULL);
}

static void error_handler_contract(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  /* an unretrieved task error, reported by the end of the step it failed in */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.current_task():set_name('loader') error('no such asset', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, r.n == 1);
  CHECK(T, strstr(r.msg[0], "never retrieved") != NULL);
  CHECK(T, strstr(r.msg[0], "loader") != NULL);
  CHECK(T, strstr(r.msg[0], "no such asset") != NULL);
  /* a failed callback */
  CHECK(T, run_lua(L, "require('luaio').call_soon(function() error('cb broke', 0) end)"));
  luaio_step(rt, 0, NULL);
  luaio_step(rt, 0, NULL);
  CHECK(T, r.n == 2);
  CHECK(T, r.n >= 2 && strstr(r.msg[1], "cb broke") != NULL);
  /* reported at most once, even after a collection */
  lua_gc(L, LUA_GCCOLLECT, 0);
  luaio_step(rt, 0, NULL);
  CHECK(T, r.n == 2);
  /* a Lua handler takes precedence */
  CHECK(T, run_lua(L, "LUA_SEEN = 0; require('luaio').set_exception_handler(function(ctx)\n"
                      "  LUA_SEEN = LUA_SEEN + 1; LUA_MSG = tostring(ctx.exception) end)"));
  spawn0(L, "return function() error('to lua', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, global_int(L, "LUA_SEEN") == 1);
  CHECK(T, r.n == 2);
  /* nil restores the default, which now is the C handler */
  CHECK(T, run_lua(L, "require('luaio').set_exception_handler(nil)"));
  spawn0(L, "return function() error('back to C', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, r.n == 3);
  CHECK(T, r.n >= 3 && strstr(r.msg[2], "back to C") != NULL);
  /* reported at the latest at close (a task that fails while close cancels it) */
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() pcall(aio.sleep, 100) error('at shutdown', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 1); /* asleep */
  CHECK(T, r.n == 3);
  luaio_close(rt);
  CHECK(T, r.n == 4);
  CHECK(T, r.n >= 4 && strstr(r.msg[3], "at shutdown") != NULL);
  lua_close(L);
}

static void report_errors_now(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  luaio_report_errors(rt); /* nothing failed: nothing reported */
  CHECK(T, r.n == 0);
  CHECK(T, run_lua(L, "F = require('luaio').Future(); F:set_exception('lost asset')"));
  luaio_report_errors(rt);
  CHECK(T, r.n == 1);
  CHECK(T, strstr(r.last, "lost asset") != NULL);
  luaio_report_errors(rt); /* once only */
  CHECK(T, r.n == 1);
  CHECK(T, run_lua(L, "G = require('luaio').Future(); G:set_exception('seen'); G:exception()"));
  luaio_report_errors(rt); /* retrieved: not reported */
  CHECK(T, r.n == 1);
  luaio_close(rt);
  luaio_report_errors(rt); /* closed: a no-op */
  CHECK(T, r.n == 1);
  lua_close(L);
}

static void script_error_reaches_host_handler(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports e = {0};
  luaio_set_error_handler(rt, on_error, &e);
  push_value(L, "local aio = require 'luaio'\n"
                "return function() aio.sleep(0) ; local t = nil; return t.field end");
  luaio_spawn(L, 0);
  lua_settop(L, 0); /* nobody keeps the task */
  steps_until_idle(rt, 100);
  CHECK(T, e.n == 1);
  CHECK(T, strstr(e.last, "never retrieved") != NULL);
  CHECK(T, strstr(e.last, "attempt to index") != NULL);
  CHECK(T, e.last_tb);
  /* a failing callback too, and the loop goes on */
  CHECK(T, luaL_dostring(L, "require('luaio').call_soon(function() error('cb failed', 0) end)") == LUA_OK);
  luaio_step(rt, 0, NULL);
  CHECK(T, e.n == 2);
  CHECK(T, strstr(e.last, "cb failed") != NULL);
  /* a Lua handler takes precedence */
  CHECK(T, luaL_dostring(L, "local aio = require 'luaio'; seen = nil\n"
                            "aio.set_exception_handler(function(ctx) seen = ctx.message end)\n"
                            "aio.spawn(error, 'again')") == LUA_OK);
  steps_until_idle(rt, 100);
  CHECK(T, e.n == 2);
  CHECK(T, luaL_dostring(L, "return seen") == LUA_OK);
  CHECK(T, lua_isstring(L, -1));
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void error_handler_replace_and_default(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports a = {0}, b = {0};
  luaio_set_error_handler(rt, on_error, &a);
  luaio_set_error_handler(rt, on_error, &b); /* replaces, new ud */
  spawn0(L, "return function() error('x', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, a.n == 0 && b.n == 1);
  /* the Lua-side getter still says "default" while only a C handler is set */
  CHECK(T, run_lua(L, "GOT = require('luaio').get_exception_handler()"));
  lua_getglobal(L, "GOT");
  CHECK(T, lua_isnil(L, -1));
  lua_settop(L, 0);
  luaio_set_error_handler(rt, NULL, NULL); /* back to stderr; must not call the old one */
  CHECK(T, run_lua(L, "require('luaio').set_exception_handler(function() end)"));
  spawn0(L, "return function() error('quiet', 0) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, b.n == 1);
  luaio_close(rt);
  lua_close(L);
}

static void error_handler_more(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  /* a non-string error value still gives a message */
  spawn0(L, "return function() error(setmetatable({}, {__tostring = function() return 'custom obj' end})) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, r.n == 1);
  CHECK(T, strstr(r.msg[0], "never retrieved") != NULL);
  CHECK(T, strstr(r.msg[0], "custom obj") != NULL);
  spawn0(L, "return function() error({code = 1}) end");
  lua_settop(L, 0);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, r.n == 2 && strstr(r.msg[1], "never retrieved") != NULL);
  /* a failed done-callback */
  CHECK(T, run_lua(L, "local aio = require 'luaio'; local f = aio.Future()\n"
                      "f:add_done_callback(function() error('done cb broke', 0) end); f:set_result(1)"));
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  luaio_step(rt, 0, NULL);
  CHECK(T, r.n == 3 && strstr(r.msg[2], "done cb broke") != NULL);
  /* a host future failed from C and read by the host is not reported */
  int ref = luaio_future_new(L);
  lua_pushstring(L, "host-side failure");
  CHECK(T, luaio_future_fail(L, ref) == 0);
  CHECK(T, luaio_task_result(L, -1, NULL) == LUAIO_FAILED);
  CHECK_STR(T, lua_tostring(L, -1), "host-side failure");
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  luaio_step(rt, 0, NULL);
  CHECK(T, r.n == 3);
  luaio_close(rt);
  CHECK(T, r.n == 3);
  lua_close(L);
}

/* The default (fn NULL, no Lua handler) prints to stderr: capture it. */
static void default_handler_prints(tap_state *T) {
  stderr_capture cap;
  CHECK(T, capture_stderr(&cap) == 0);
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  reports r = {0};
  luaio_set_error_handler(rt, on_error, &r);
  luaio_set_error_handler(rt, NULL, NULL);
  spawn0(L, "local aio = require 'luaio'\n"
            "return function() aio.current_task():set_name('printer') error('visible on stderr', 0) end");
  lua_settop(L, 0);
  luaio_run_until_idle(rt);
  luaio_close(rt);
  lua_close(L);
  char buf[4096];
  captured_stderr(&cap, buf, sizeof buf);
  CHECK(T, r.n == 0);
  CHECK(T, strstr(buf, "visible on stderr") != NULL);
  CHECK(T, strstr(buf, "printer") != NULL);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, interrupt_targets);
  RUN(&T, interrupt_from_signal_handler);
  RUN(&T, request_dump_prints_tasks);
  RUN(&T, error_handler_contract);
  RUN(&T, report_errors_now);
  RUN(&T, script_error_reaches_host_handler);
  RUN(&T, error_handler_replace_and_default);
  RUN(&T, error_handler_more);
  RUN(&T, default_handler_prints);
  return tap_done(&T);
}
