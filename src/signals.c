/* signals.c — interrupts (SIGINT) and dump requests (SIGUSR1) from a signal handler or
 * another thread: the handler only sets a flag, a debug hook (so a task busy in Lua code
 * that never suspends still gets them) and an async wake-up (so does an idle loop). */
#include <stdio.h>
#include "signals.h"
#include "task.h"

/* the task an interrupt cancels (registry light key), by default the main task */
static const char key_interrupt_target = 'I';

static int push_interrupt_target(luaio_runtime *rt, lua_State *L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_interrupt_target) == LUA_TNIL) {
    lua_pop(L, 1);
    luaio_push_main_task(L);
  }
  luaio_task *t = luaL_testudata(L, -1, LUAIO_TASK);
  return t && t->fut.rt == rt; /* never another (closed) runtime's task */
}

static int cancel_target(lua_State *L) {
  luaio_runtime *rt = lua_touserdata(L, 1);
  if (push_interrupt_target(rt, L)) {
    lua_pushliteral(L, "interrupted");
    luaio_task_cancel(L, lua_touserdata(L, -2), lua_gettop(L));
  }
  return 0;
}

static void deliver_interrupt(luaio_runtime *rt, lua_State *L) {
  if (!rt->interrupt_pending) return;
  rt->interrupt_pending = 0;
  lua_pushcfunction(L, cancel_target);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
}

/* aio.dump_tasks() to stderr; never fails the caller */
static void run_dump(lua_State *L) {
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 4)) return;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "luaio");
  if (lua_istable(L, -1) && lua_getfield(L, -1, "dump_tasks") == LUA_TFUNCTION) {
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
      fprintf(stderr, "luaio: dump_tasks failed: %s\n", lua_tostring(L, -1));
  }
  lua_settop(L, top);
}

static void deliver_dump(luaio_runtime *rt, lua_State *L) {
  if (!rt->dump_pending) return;
  rt->dump_pending = 0;
  run_dump(L);
}

void luaio_signals_deliver(luaio_runtime *rt) {
  lua_State *L = rt->runL ? rt->runL : rt->L;
  deliver_dump(rt, L);
  deliver_interrupt(rt, L);
}

static void interrupt_cb(uv_async_t *a) { luaio_signals_deliver(a->data); }

/* Runs inside the task that was running when the signal came: a task busy in Lua code
 * that never suspends still gets its dump printed and its interrupt delivered. */
static void signal_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaio_runtime *rt = luaio_rt_of(L);
  if (!rt || !rt->current || rt->current->co != L) return;
  deliver_dump(rt, L);
  if (!rt->interrupt_pending) return;
  if (!push_interrupt_target(rt, L) || lua_touserdata(L, -1) != (void *)rt->current) {
    lua_pop(L, 1);
    return; /* another task is busy: the target is cancelled when the loop runs */
  }
  lua_pop(L, 1);
  rt->interrupt_pending = 0;
  rt->current->num_cancels++;
  luaio_push_error(L, "CancelledError", "interrupted");
  lua_error(L);
}

void luaio_signals_init(luaio_runtime *rt) {
  uv_async_init(rt->loop, &rt->interrupt_async, interrupt_cb);
  rt->interrupt_async.data = rt;
  uv_unref((uv_handle_t *)&rt->interrupt_async);
}

/* after a flag is set: reach a task busy in Lua code (the hook) and the loop (the async) */
static void signal_wake(luaio_runtime *rt) {
  luaio_task *t = rt->current;
  if (t && t->co) lua_sethook(t->co, signal_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  uv_async_send(&rt->interrupt_async);
}

void luaio_signals_interrupt(luaio_runtime *rt) {
  rt->interrupt_pending = 1;
  signal_wake(rt);
}

void luaio_signals_request_dump(luaio_runtime *rt) {
  rt->dump_pending = 1;
  signal_wake(rt);
}

void luaio_signals_forget(lua_State *L) {
  lua_pushnil(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_interrupt_target);
}

void luaio_signals_set_target(lua_State *L, luaio_runtime *rt) {
  (void)rt;
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_interrupt_target);
}
