/* test_embed.c — the embedding API (src/luaio.h) entry by entry: opening, spawning from C
 * and reading results, stepping (with and without budget), the backend fd/timeout, host
 * futures, error delivery to the host and luaio_run. Lifecycle tests are in test_lifecycle.c. */
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <lualib.h>
#include <lauxlib.h>
#include "luaio.h"
#include "harness.h"

/* ---- helpers ---- */
typedef struct errlog {
  int count;
  char last[512];
  int had_traceback;
} errlog;

static void collect_error(void *ud, const char *message, const char *traceback) {
  errlog *e = ud;
  e->count++;
  snprintf(e->last, sizeof e->last, "%s", message ? message : "(null)");
  e->had_traceback = traceback != NULL;
}

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  return L;
}

/* Pushes the value of a Lua chunk (`return function ... end`), or fails loudly. */
static void push_chunk(lua_State *L, const char *src) {
  if (luaL_dostring(L, src) != LUA_OK) {
    printf("# chunk failed: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

static int steps_until_idle(luaio_runtime *rt, int max) {
  int n = 0;
  while (n < max && luaio_step(rt, 0, NULL) > 0) {
    n++;
    usleep(200);
  }
  return n;
}

/* ---- open ---- */
static void open_owned_loop(tap_state *T) {
  lua_State *L = new_state();
  CHECK(T, luaio_get(L) == NULL);
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, rt != NULL);
  CHECK(T, luaio_get(L) == rt);
  CHECK(T, luaio_open(L, NULL) == rt); /* opened once per state */
  CHECK(T, luaio_loop(rt) != NULL);
  CHECK(T, luaio_state(rt) == L);
  CHECK(T, lua_gettop(L) == 0);
  /* scripts find it with require */
  CHECK(T, luaL_dostring(L, "local aio = require 'luaio'; return type(aio.sleep), aio.VERSION") == LUA_OK);
  CHECK_STR(T, lua_tostring(L, -2), "function");
  CHECK_STR(T, lua_tostring(L, -1), LUAIO_VERSION);
  lua_settop(L, 0);
  luaio_close(rt);
  CHECK(T, luaio_get(L) == NULL);
  lua_close(L);
}

static void open_into_host_state_with_require(tap_state *T) {
  lua_State *L = new_state();
  /* the plain module path: luaopen_luaio as a preloaded C module */
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

static void open_on_host_loop(tap_state *T) {
  uv_loop_t loop;
  CHECK(T, uv_loop_init(&loop) == 0);
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, &loop);
  CHECK(T, rt && luaio_loop(rt) == &loop);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function() aio.sleep(0.005); return 'slept' end");
  luaio_spawn(L, 0);
  CHECK(T, luaio_task_wait(L, -1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, -1, &n) == LUAIO_OK && n == 1);
  CHECK_STR(T, lua_tostring(L, -1), "slept");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
  CHECK(T, uv_loop_close(&loop) == 0);
}

/* ---- spawn from C, status, result, wait, cancel ---- */
static void spawn_and_read_results(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_chunk(L, "return function(a, b) coroutine.yield() return a + b, a * b, nil end");
  lua_pushinteger(L, 2);
  lua_pushinteger(L, 3);
  luaio_spawn(L, 2);
  CHECK(T, lua_gettop(L) == 1);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_PENDING);
  int n = -1;
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_PENDING && n == 0);
  CHECK(T, lua_gettop(L) == 1);
  int ready = 0;
  CHECK(T, luaio_step(rt, 0, &ready) == 1); /* started, yielded once */
  CHECK(T, ready == 1);
  CHECK(T, luaio_step(rt, 0, &ready) == 0);
  CHECK(T, ready == 0);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_OK);
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_OK);
  CHECK(T, n == 3 && lua_gettop(L) == 4);
  CHECK(T, lua_tointeger(L, 2) == 5 && lua_tointeger(L, 3) == 6 && lua_isnil(L, 4));
  CHECK(T, luaio_task_status(L, 2) == -1); /* not a task */
  CHECK(T, luaio_task_result(L, 2, NULL) == -1 && lua_gettop(L) == 4);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void spawn_failure_is_readable(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  errlog e = {0};
  luaio_set_error_handler(rt, collect_error, &e);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function() aio.sleep(0.001); error('boom', 0) end");
  luaio_spawn(L, 0);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_FAILED);
  int n = 0;
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_FAILED && n == 1);
  CHECK_STR(T, lua_tostring(L, -1), "boom");
  lua_settop(L, 0);
  luaio_close(rt);
  CHECK(T, e.count == 0); /* the host retrieved it: not reported as lost */
  lua_close(L);
}

static void cancel_from_c(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function() aio.sleep(100) end");
  luaio_spawn(L, 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  CHECK(T, luaio_cancel(L, 1) == 1);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_CANCELLED);
  CHECK(T, luaio_cancel(L, 1) == 0); /* done already */
  int n = 0;
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_CANCELLED && n == 1);
  CHECK(T, lua_istable(L, -1));
  lua_getfield(L, -1, "name");
  CHECK_STR(T, lua_tostring(L, -1), "CancelledError");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* C function a script calls from inside a task: the driving calls refuse to nest */
static int l_nested_drive(lua_State *L) {
  luaio_runtime *rt = luaio_get(L);
  lua_pushinteger(L, luaio_step(rt, 0, NULL));
  lua_pushinteger(L, luaio_run_until_idle(rt));
  lua_pushvalue(L, 1);
  lua_pushinteger(L, luaio_task_wait(L, -1));
  lua_remove(L, -2);
  return 3;
}

static void driving_does_not_nest(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  lua_register(L, "nested_drive", l_nested_drive);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function() return nested_drive(aio.Future()) end");
  luaio_spawn(L, 0);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_OK);
  int n = 0;
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_OK && n == 3);
  CHECK(T, lua_tointeger(L, 2) == -1 && lua_tointeger(L, 3) == -1 && lua_tointeger(L, 4) == -1);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void wait_reports_deadlock(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  int ref = luaio_future_new(L); /* nothing will ever resolve it... */
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function(f) return aio.await(f) end");
  lua_insert(L, 1);
  luaio_spawn(L, 1);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_PENDING); /* ...so waiting returns */
  lua_pushstring(L, "late");
  CHECK(T, luaio_future_resolve(L, ref, 1) == 0);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_OK);
  luaio_task_result(L, 1, NULL);
  CHECK_STR(T, lua_tostring(L, -1), "late");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---- stepping ---- */
static void step_with_no_tasks(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  int ready = 7;
  for (int i = 0; i < 3; i++) {
    CHECK(T, luaio_step(rt, 0, &ready) == 0);
    CHECK(T, ready == 0);
    CHECK(T, luaio_step(rt, 0.01, NULL) == 0);
  }
  CHECK(T, luaio_backend_timeout(rt) == -1);
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, lua_gettop(L) == 0);
  luaio_close(rt);
  lua_close(L);
}

static void step_runs_each_ready_task_once(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaL_dostring(L, "trace = {}") == LUA_OK);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function(id) for i = 1, 3 do trace[#trace + 1] = id .. i; aio.sleep(0) end end");
  for (int i = 1; i <= 3; i++) {
    lua_pushvalue(L, 1);
    lua_pushinteger(L, i);
    luaio_spawn(L, 1);
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
  int ready = 0, frames = 0;
  while (luaio_step(rt, 0, &ready) > 0) {
    frames++;
    CHECK(T, ready == 1);
  }
  CHECK(T, frames == 3); /* 3 slices each, one per step; the 4th step finishes them */
  CHECK(T, luaL_dostring(L, "return table.concat(trace, ' ')") == LUA_OK);
  CHECK_STR(T, lua_tostring(L, -1), "11 21 31 12 22 32 13 23 33");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void budgeted_steps_preserve_order(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaL_dostring(L, "trace = {}") == LUA_OK);
  /* each slice burns ~2 ms, so a 1 ms budget lets one slice run per step */
  push_chunk(L, "local aio = require 'luaio'\n"
                "local function burn() local t = os.clock() + 0.002; while os.clock() < t do end end\n"
                "return function(id) for i = 1, 2 do burn(); trace[#trace + 1] = id .. i; aio.sleep(0) end end");
  for (int i = 1; i <= 4; i++) {
    lua_pushvalue(L, 1);
    lua_pushinteger(L, i);
    luaio_spawn(L, 1);
    lua_pop(L, 1);
  }
  lua_settop(L, 0);
  int frames = 0, ready = 0;
  CHECK(T, luaio_step(rt, 0.001, &ready) == 4);
  CHECK(T, ready == 1);
  CHECK(T, luaL_dostring(L, "return #trace") == LUA_OK);
  CHECK(T, lua_tointeger(L, -1) == 1); /* the budget stopped the step after one slice */
  lua_pop(L, 1);
  while (luaio_step(rt, 0.001, NULL) > 0 && frames < 100) frames++;
  CHECK(T, frames >= 6);
  CHECK(T, luaL_dostring(L, "return table.concat(trace, ' ')") == LUA_OK);
  CHECK_STR(T, lua_tostring(L, -1), "11 21 31 41 12 22 32 42");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void backend_fd_and_timeout(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaio_backend_fd(rt) >= 0); /* epoll on Linux */
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function() aio.sleep(0.03); return 'woke' end");
  luaio_spawn(L, 0);
  CHECK(T, luaio_backend_timeout(rt) == 0); /* a task is ready */
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  int ms = luaio_backend_timeout(rt);
  CHECK(T, ms > 0 && ms <= 30);
  /* a host poller: sleep on the fd for at most the timeout, then step */
  int frames = 0;
  for (;;) {
    struct pollfd pfd = {.fd = luaio_backend_fd(rt), .events = POLLIN};
    poll(&pfd, 1, luaio_backend_timeout(rt));
    frames++;
    if (luaio_step(rt, 0, NULL) == 0 || frames > 1000) break;
  }
  CHECK(T, frames < 10); /* slept, not spun */
  CHECK(T, luaio_task_status(L, 1) == LUAIO_OK);
  CHECK(T, luaio_backend_timeout(rt) == -1);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---- host futures ---- */
static void host_future_resolves(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function(fut) local a, b = aio.await(fut); return a .. b, fut:done() end");
  int ref = luaio_future_new(L);
  CHECK(T, luaio_task_status(L, -1) == LUAIO_PENDING);
  luaio_spawn(L, 1);
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  CHECK(T, luaio_step(rt, 0, NULL) == 1); /* still waiting */
  CHECK(T, luaio_backend_timeout(rt) == -1);
  lua_pushstring(L, "frame ");
  lua_pushinteger(L, 1);
  CHECK(T, luaio_future_resolve(L, ref, 2) == 0);
  CHECK(T, lua_gettop(L) == 1);
  CHECK(T, luaio_backend_timeout(rt) == 0);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  int n = 0;
  CHECK(T, luaio_task_result(L, 1, &n) == LUAIO_OK && n == 2);
  CHECK_STR(T, lua_tostring(L, 2), "frame 1");
  CHECK(T, lua_toboolean(L, 3));
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void host_future_fails(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function(fut) local ok, e = pcall(aio.await, fut); return ok, e end");
  int ref = luaio_future_new(L);
  luaio_spawn(L, 1);
  luaio_step(rt, 0, NULL);
  lua_pushstring(L, "asset missing");
  CHECK(T, luaio_future_fail(L, ref) == 0);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_OK);
  luaio_task_result(L, 1, NULL);
  CHECK(T, lua_toboolean(L, 2) == 0);
  CHECK_STR(T, lua_tostring(L, 3), "asset missing");
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void host_future_released(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  int ref = luaio_future_new(L); /* released without resolving: collectable */
  lua_pop(L, 1);
  luaio_future_release(L, ref);
  lua_gc(L, LUA_GCCOLLECT);
  ref = luaio_future_new(L);
  lua_pushboolean(L, 1);
  CHECK(T, luaio_future_resolve(L, ref, 1) == 0);
  CHECK(T, lua_gettop(L) == 1 && luaio_task_status(L, 1) == LUAIO_OK);
  /* the reference is gone; a second future resolved twice from Lua's side says -1 */
  CHECK(T, luaL_dostring(L, "return ...") == LUA_OK);
  ref = luaio_future_new(L);
  CHECK(T, luaio_cancel(L, -1) == 1);
  lua_pushinteger(L, 1);
  lua_pushinteger(L, 2);
  int top = lua_gettop(L);
  CHECK(T, luaio_future_resolve(L, ref, 2) == -1);
  CHECK(T, lua_gettop(L) == top - 2);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void resolve_after_awaiting_task_cancelled(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  CHECK(T, luaL_dostring(L, "log = {}") == LUA_OK);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function(fut)\n"
                "  local ok, e = pcall(aio.await, fut)\n"
                "  log[#log + 1] = tostring(e)\n"
                "  error(e)\n"
                "end");
  int ref = luaio_future_new(L);
  luaio_spawn(L, 1);
  CHECK(T, luaio_step(rt, 0, NULL) == 1);
  CHECK(T, luaio_cancel(L, 1) == 1);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, luaio_task_status(L, 1) == LUAIO_CANCELLED);
  lua_pushstring(L, "too late");
  CHECK(T, luaio_future_resolve(L, ref, 1) == -1); /* it was cancelled with its task */
  CHECK(T, lua_gettop(L) == 1);
  CHECK(T, luaio_step(rt, 0, NULL) == 0);
  CHECK(T, luaL_dostring(L, "return log[1]") == LUA_OK);
  CHECK(T, strstr(lua_tostring(L, -1), "CancelledError") != NULL);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

/* ---- errors reach the host ---- */
static void script_error_reaches_host_handler(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  errlog e = {0};
  luaio_set_error_handler(rt, collect_error, &e);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function() aio.sleep(0) ; local t = nil; return t.field end");
  luaio_spawn(L, 0);
  lua_settop(L, 0); /* nobody keeps the task */
  steps_until_idle(rt, 100);
  CHECK(T, e.count == 1);
  CHECK(T, strstr(e.last, "never retrieved") != NULL);
  CHECK(T, strstr(e.last, "attempt to index") != NULL);
  CHECK(T, e.had_traceback);
  /* a failing callback too, and the loop goes on */
  CHECK(T, luaL_dostring(L, "require('luaio').call_soon(function() error('cb failed', 0) end)") == LUA_OK);
  luaio_step(rt, 0, NULL);
  CHECK(T, e.count == 2);
  CHECK(T, strstr(e.last, "cb failed") != NULL);
  /* a Lua handler takes precedence */
  CHECK(T, luaL_dostring(L, "local aio = require 'luaio'; seen = nil\n"
                            "aio.set_exception_handler(function(ctx) seen = ctx.message end)\n"
                            "aio.spawn(error, 'again')") == LUA_OK);
  steps_until_idle(rt, 100);
  CHECK(T, e.count == 2);
  CHECK(T, luaL_dostring(L, "return seen") == LUA_OK);
  CHECK(T, lua_isstring(L, -1));
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void default_handler_prints_to_stderr(tap_state *T) {
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  dup2(fileno(tmp), 2);
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  luaio_set_error_handler(rt, collect_error, NULL);
  luaio_set_error_handler(rt, NULL, NULL); /* back to the default */
  CHECK(T, luaL_dostring(L, "require('luaio').spawn(error, 'to stderr', 0)") == LUA_OK);
  luaio_run_until_idle(rt);
  luaio_close(rt);
  lua_close(L);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char buf[2048] = {0};
  rewind(tmp);
  size_t got = fread(buf, 1, sizeof buf - 1, tmp);
  fclose(tmp);
  CHECK(T, got > 0);
  CHECK(T, strstr(buf, "to stderr") != NULL);
}

/* ---- luaio_run and interrupts ---- */
static void run_main_task(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function(a) aio.sleep(0.001) return a, a + 1 end");
  lua_pushinteger(L, 41);
  char *tb = (char *)1;
  CHECK(T, luaio_run(L, 1, LUA_MULTRET, &tb) == LUA_OK);
  CHECK(T, tb == NULL);
  CHECK(T, lua_gettop(L) == 2 && lua_tointeger(L, 2) == 42);
  lua_settop(L, 0);
  push_chunk(L, "local aio = require 'luaio'\n"
                "local function inner() aio.sleep(0) error('deep failure', 0) end\n"
                "return function() inner() end");
  CHECK(T, luaio_run(L, 0, 0, &tb) != LUA_OK);
  CHECK_STR(T, lua_tostring(L, -1), "deep failure");
  CHECK(T, tb != NULL && strstr(tb, "inner") != NULL);
  free(tb);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

static void interrupt_cancels_target(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_chunk(L, "local aio = require 'luaio'\n"
                "return function() while true do aio.sleep(0.001) end end");
  luaio_spawn(L, 0);
  lua_pushvalue(L, 1);
  luaio_set_interrupt_target(L);
  CHECK(T, lua_gettop(L) == 1);
  luaio_step(rt, 0, NULL);
  luaio_interrupt(rt);
  CHECK(T, luaio_task_wait(L, 1) == LUAIO_CANCELLED);
  lua_pushnil(L);
  luaio_set_interrupt_target(L);
  lua_settop(L, 0);
  luaio_close(rt);
  lua_close(L);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, open_owned_loop);
  RUN(&T, open_into_host_state_with_require);
  RUN(&T, open_on_host_loop);
  RUN(&T, spawn_and_read_results);
  RUN(&T, spawn_failure_is_readable);
  RUN(&T, cancel_from_c);
  RUN(&T, driving_does_not_nest);
  RUN(&T, wait_reports_deadlock);
  RUN(&T, step_with_no_tasks);
  RUN(&T, step_runs_each_ready_task_once);
  RUN(&T, budgeted_steps_preserve_order);
  RUN(&T, backend_fd_and_timeout);
  RUN(&T, host_future_resolves);
  RUN(&T, host_future_fails);
  RUN(&T, host_future_released);
  RUN(&T, resolve_after_awaiting_task_cancelled);
  RUN(&T, script_error_reaches_host_handler);
  RUN(&T, default_handler_prints_to_stderr);
  RUN(&T, run_main_task);
  RUN(&T, interrupt_cancels_target);
  return tap_done(&T);
}
