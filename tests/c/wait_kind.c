/* wait_kind.c — a part written outside src/ plugs into the core through a wait kind
 * (internal, through src/task.h): a "gate" tasks wait on until it opens. The core calls
 * the kind's cancel and describe and names it in deadlock messages; no core file knows it. */
#include <lualib.h>
#include <lauxlib.h>
#include "task.h"
#include "harness.h"

#define GATE "test.Gate"

typedef struct gate {
  luaio_node waiters;
  int nwaiting;
  int take_cancel; /* the kind takes cancel requests: the task waits for the gate anyway */
  int cancels;     /* how often the core asked the kind to cancel */
} gate;

static int gate_cancel(lua_State *L, luaio_task *t, int obj, int msgidx) {
  (void)t;
  gate *g = luaL_checkudata(L, obj, GATE);
  g->cancels++;
  if (msgidx) {
    lua_pushvalue(L, msgidx);
    lua_setglobal(L, "CANCEL_MSG");
  }
  return g->take_cancel;
}

static void gate_describe(lua_State *L, luaio_task *t, int obj) {
  (void)t;
  gate *g = luaL_checkudata(L, obj, GATE);
  lua_pushfstring(L, "a gate (%d waiting)", g->nwaiting);
}

static const luaio_wait_kind gate_wait = {"a gate", gate_cancel, gate_describe, 0};

static int gate_new(lua_State *L) {
  gate *g = lua_newuserdatauv(L, sizeof *g, 0);
  memset(g, 0, sizeof *g);
  luaio_list_init(&g->waiters);
  g->take_cancel = lua_toboolean(L, 1);
  luaL_setmetatable(L, GATE);
  return 1;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  luaio_task *t = luaio_rt(L)->current;
  ((gate *)lua_touserdata(L, 1))->nwaiting--;
  luaio_raise_if_cancelled(L, t);
  lua_pushliteral(L, "opened");
  return 1;
}

static int gate_wait_fn(lua_State *L) {
  gate *g = luaL_checkudata(L, 1, GATE);
  lua_settop(L, 1);
  luaio_task *t = luaio_check_suspend(L, "gate_wait");
  luaio_list_append(&g->waiters, &t->node);
  g->nwaiting++;
  return luaio_park(L, t, &gate_wait, 1, wait_k);
}

static int gate_open(lua_State *L) {
  gate *g = luaL_checkudata(L, 1, GATE);
  luaio_runtime *rt = luaio_rt(L);
  while (!luaio_list_empty(&g->waiters))
    luaio_wake(rt, luaio_container(g->waiters.next, luaio_task, node));
  return 0;
}

/* the part's open: a class, its functions as globals, its wait kind */
static void open_gate_part(lua_State *L, luaio_runtime *rt) {
  luaL_newmetatable(L, GATE);
  lua_pop(L, 1);
  static const luaL_Reg funcs[] = {
    {"gate_new", gate_new}, {"gate_wait", gate_wait_fn}, {"gate_open", gate_open}, {NULL, NULL}
  };
  lua_pushglobaltable(L);
  luaio_register(L, funcs, rt);
  lua_pop(L, 1);
  luaio_wait_kind_register(rt, &gate_wait);
}

static void parks_wakes_and_describes(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  open_gate_part(L, rt);
  CHECK(T, run_lua(L, "G = gate_new()\n"
                      "local aio = require 'luaio'\n"
                      "T1 = aio.spawn(function() return gate_wait(G) end)\n"
                      "T2 = aio.spawn(function() return gate_wait(G) end)"));
  luaio_step(rt, 0, NULL);
  CHECK(T, run_lua(L, "local f = io.tmpfile(); require('luaio').dump_tasks(f); f:seek('set')\n"
                      "DUMP = f:read('a'); f:close()"));
  char buf[2048];
  CHECK(T, strstr(global_str(L, "DUMP", buf, sizeof buf), "waiting on a gate (2 waiting)") != NULL);
  CHECK(T, run_lua(L, "gate_open(G)"));
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, run_lua(L, "assert(T1:result() == 'opened' and T2:result() == 'opened')"));
  luaio_close(rt);
  lua_close(L);
}

static void cancel_goes_through_the_kind(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  open_gate_part(L, rt);
  /* a kind that leaves cancellation to the default: the task ends cancelled */
  CHECK(T, run_lua(L, "G = gate_new(false)\n"
                      "T1 = require('luaio').spawn(function() return gate_wait(G) end)"));
  luaio_step(rt, 0, NULL);
  CHECK(T, run_lua(L, "assert(T1:cancel('stop'))"));
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, run_lua(L, "assert(T1:cancelled() and CANCEL_MSG == 'stop')"));
  /* a kind that takes the request: the task keeps waiting until the gate opens */
  CHECK(T, run_lua(L, "H = gate_new(true)\n"
                      "T2 = require('luaio').spawn(function() return gate_wait(H) end)"));
  luaio_step(rt, 0, NULL);
  CHECK(T, run_lua(L, "assert(T2:cancel())"));
  luaio_step(rt, 0, NULL);
  CHECK(T, run_lua(L, "assert(not T2:done())"));
  CHECK(T, run_lua(L, "gate_open(H)"));
  CHECK(T, luaio_run_until_idle(rt) == LUA_OK);
  CHECK(T, run_lua(L, "assert(T2:result() == 'opened')"));
  luaio_close(rt);
  lua_close(L);
}

static void deadlock_names_the_kind(tap_state *T) {
  lua_State *L = fresh();
  luaio_runtime *rt = luaio_open(L, NULL);
  open_gate_part(L, rt);
  CHECK(T, run_lua(L, "local aio = require 'luaio'\n"
                      "local ok, e = pcall(aio.run, function() return gate_wait(gate_new()) end)\n"
                      "MSG = tostring(e)"));
  char buf[512];
  CHECK(T, strstr(global_str(L, "MSG", buf, sizeof buf), "deadlock: the main task waits on a gate") != NULL);
  luaio_close(rt);
  lua_close(L);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, parks_wakes_and_describes);
  RUN(&T, cancel_goes_through_the_kind);
  RUN(&T, deadlock_names_the_kind);
  return tap_done(&T);
}
