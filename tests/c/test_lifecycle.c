/* test_lifecycle.c — the embedding API over a runtime's life: teardown with tasks still
 * pending, the host's loop left reusable, closing and reopening, two runtimes side by
 * side (own loops and one shared host loop), and luaio inside the host's own uv_run. */
#include <stdlib.h>
#include <unistd.h>
#include <lualib.h>
#include <lauxlib.h>
#include "luaio.h"
#include "harness.h"

static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  return L;
}

static void push_chunk(lua_State *L, const char *src) {
  if (luaL_dostring(L, src) != LUA_OK) {
    printf("# chunk failed: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

static int get_int(lua_State *L, const char *expr) {
  lua_settop(L, 0);
  if (luaL_dostring(L, expr) != LUA_OK) { lua_settop(L, 0); return -999; }
  int v = (int)lua_tointeger(L, -1);
  lua_settop(L, 0);
  return v;
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
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  int ref = luaio_future_new(L);
  CHECK(T, luaL_loadstring(L, pending_script) == LUA_OK);
  lua_insert(L, -2);
  CHECK(T, lua_pcall(L, 1, 0, 0) == LUA_OK);
  CHECK(T, luaio_step(rt, 0, NULL) >= 6); /* some started, the last is still new */
  luaio_close(rt);
  CHECK(T, luaio_get(L) == NULL);
  CHECK(T, get_int(L, "return closed") == 5);
  CHECK(T, get_int(L, "return caught") == 2);
  lua_pushinteger(L, 1);
  CHECK(T, luaio_future_resolve(L, ref, 1) == -1); /* the runtime is gone */
  CHECK(T, lua_gettop(L) == 0);
  CHECK(T, luaio_step(rt, 0, NULL) == -1);
  CHECK(T, luaio_run_until_idle(rt) == -1);
  CHECK(T, luaio_backend_timeout(rt) == -1);
  luaio_close(rt); /* a second close is a no-op */
  lua_close(L);
}

static void lua_close_alone_frees_everything(tap_state *T) {
  lua_State *L = new_state();
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

static void count_cb(uv_timer_t *t) { (*(int *)t->data)++; }

static void host_loop_reusable_after_close(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_timer_t mine; /* the host's own handle lives through luaio's whole life */
  uv_timer_init(&loop, &mine);
  lua_State *L = new_state();
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
  uv_timer_start(&mine, count_cb, 1, 0);
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
    lua_State *L = new_state();
    luaio_runtime *rt = luaio_open(L, &loop);
    push_chunk(L, "local aio = require 'luaio'\n"
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
  uv_timer_start(&t, count_cb, 1, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, fired == 1);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(T, uv_loop_close(&loop) == 0);
}

static void close_then_reopen(tap_state *T) {
  lua_State *L = new_state();
  luaio_runtime *rt = luaio_open(L, NULL);
  push_chunk(L, "local aio = require 'luaio'\n"
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

/* Two states, each with its own runtime and loop, stepped alternately: they never see
 * each other's tasks, clocks or errors. */
typedef struct errcount { int n; char last[256]; } errcount;
static void count_error(void *ud, const char *message, const char *traceback) {
  (void)traceback;
  errcount *e = ud;
  e->n++;
  snprintf(e->last, sizeof e->last, "%s", message);
}

static void two_runtimes_side_by_side(tap_state *T) {
  lua_State *L[2];
  luaio_runtime *rt[2];
  errcount err[2] = {{0}, {0}};
  for (int i = 0; i < 2; i++) {
    L[i] = new_state();
    rt[i] = luaio_open(L[i], NULL);
    luaio_set_error_handler(rt[i], count_error, &err[i]);
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
  CHECK(T, get_int(L[0], "return #log") == 9 && get_int(L[1], "return #log") == 9);
  CHECK(T, get_int(L[0], "return log[1] == '011' and 1 or 0") == 1);
  CHECK(T, get_int(L[1], "return log[9] == '133' and 1 or 0") == 1);
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

static void two_runtimes_on_one_host_loop(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  lua_State *L[2];
  luaio_runtime *rt[2];
  for (int i = 0; i < 2; i++) {
    L[i] = new_state();
    rt[i] = luaio_open(L[i], &loop);
    push_chunk(L[i], "local aio = require 'luaio'\n"
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

/* ---- luaio inside the host's own uv_run ---- */
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

static void attached_to_host_uv_run(tap_state *T) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  host h = {.frame_ref = LUA_NOREF};
  h.L = new_state();
  luaio_runtime *rt = luaio_open(h.L, &loop);
  CHECK(T, luaio_attach(rt) == 0);
  lua_pushlightuserdata(h.L, &h);
  lua_pushcclosure(h.L, l_next_tick, 1);
  lua_setglobal(h.L, "next_tick");
  uv_timer_init(&loop, &h.tick);
  h.tick.data = &h;
  uv_timer_start(&h.tick, tick_cb, 2, 2);
  push_chunk(h.L, "local aio = require 'luaio'\n"
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

int main(void) {
  tap_state T = {0};
  RUN(&T, teardown_with_tasks_pending);
  RUN(&T, lua_close_alone_frees_everything);
  RUN(&T, host_loop_reusable_after_close);
  RUN(&T, host_loop_runs_again);
  RUN(&T, close_then_reopen);
  RUN(&T, two_runtimes_side_by_side);
  RUN(&T, two_runtimes_on_one_host_loop);
  RUN(&T, attached_to_host_uv_run);
  return tap_done(&T);
}
