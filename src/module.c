/* module.c — the module: creates the runtime of a lua_State, assembles the module table
 * from the core and the parts, runs the Lua layer compiled in at build time (in the
 * order the Makefile lists it), and tears it all down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "module.h"
#include "loop.h"
#include "timer.h"
#include "handle.h"
#include "future.h"
#include "task.h"
#include "tls.h"
#include "report.h"
#include "signals.h"
#include "debug.h"
#include "resources.h"
#include "gather.h"
#include "queue.h"
#include "stream.h"
#include "net.h"
#include "dump.h"
#include "thread.h"
#include "process.h"
#include "signal_handlers.h"
#include "fs.h"
#include "file.h"
#include "watch.h"
#include "udp.h"
#include "redis.h"
#include "workers.h"

#define MODULE_KEY "luaio.module"

/* generated from the files in lua/luaio/ by tools/embed.lua */
struct luaio_lua_module { const char *name; const char *src; size_t len; };
extern const struct luaio_lua_module luaio_lua_modules[];

luaio_runtime *luaio_module_get(lua_State *L) { return luaio_rt_of(L); }

void luaio_module_push(lua_State *L) { lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY); }

/* Runs the Lua layer: each file is called with the module table and the private table,
 * where it leaves what the other files (and C, through hooks) use. */
static void load_lua_layer(lua_State *L, int aio, int priv) {
  for (const struct luaio_lua_module *m = luaio_lua_modules; m->name; m++) {
    char chunk[64];
    snprintf(chunk, sizeof chunk, "=[luaio.%s]", m->name);
    if (luaL_loadbufferx(L, m->src, m->len, chunk, "t") != LUA_OK) lua_error(L);
    lua_pushvalue(L, aio);
    lua_pushvalue(L, priv);
    lua_call(L, 2, 0);
  }
}

/* The Lua functions C calls, from the private table to registry light keys. */
static void set_hooks(lua_State *L, int priv) {
  static const struct { const char *name; const char *key; } hooks[] = {
    {"coro_task", &luaio_hook_coro_task}, {"conn_done", &luaio_hook_conn_done},
  };
  for (size_t i = 0; i < sizeof hooks / sizeof *hooks; i++) {
    lua_getfield(L, priv, hooks[i].name);
    lua_rawsetp(L, LUA_REGISTRYINDEX, hooks[i].key);
  }
}

static int open_module(lua_State *L) {
  luaio_runtime *rt = lua_touserdata(L, 1);
  lua_newtable(L);
  rt->anchors = luaL_ref(L, LUA_REGISTRYINDEX);
  luaio_report_init(L, rt);
  lua_newtable(L);
  int aio = lua_gettop(L);
  /* the core, then the parts; each adds its names to the table on top */
  luaio_errors_open(L);
  luaio_future_open(L, rt);
  luaio_task_open(L, rt);
  luaio_timer_open(L, rt);
  luaio_handle_open(L, rt);
  luaio_report_open(L, rt);
  luaio_debug_open(L, rt);
  luaio_resources_open(L, rt);
  luaio_gather_open(L, rt);
  luaio_queue_open(L, rt);
  luaio_stream_open(L, rt);
  luaio_net_open(L, rt);
  luaio_dump_open(L, rt);
  luaio_thread_open(L, rt);
  luaio_signal_handlers_open(L, rt);
  luaio_process_open(L, rt);
  luaio_fs_open(L, rt);
  luaio_file_open(L, rt);
  luaio_watch_open(L, rt);
  luaio_tls_open(L, rt);
  luaio_udp_open(L, rt);
  luaio_redis_open(L, rt);
  luaio_workers_open(L, rt);
  lua_pushliteral(L, LUAIO_VERSION);
  lua_setfield(L, aio, "VERSION");
  lua_newtable(L);
  int priv = lua_gettop(L);
  lua_pushvalue(L, priv);
  rt->priv = luaL_ref(L, LUA_REGISTRYINDEX);
  load_lua_layer(L, aio, priv);
  set_hooks(L, priv);
  lua_pushvalue(L, aio);
  lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, aio);
  lua_setfield(L, -2, "luaio");
  return 0;
}

luaio_runtime *luaio_module_open(lua_State *L, uv_loop_t *loop) {
  luaio_runtime *rt = luaio_runtime_new(L, loop);
  if (!rt) return NULL;
  lua_pushcfunction(L, open_module);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    luaio_module_close(rt); /* the message stays on top */
    return NULL;
  }
  return rt;
}

/* Runs in a protected call with the runtime as upvalue 1 (what luaio_rt expects). */
static int close_p(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  luaio_shutdown_tasks(rt, L);
  luaio_report_unretrieved(rt, L);
  luaio_resources_report(rt, L); /* debug mode: what is still open, as the loop closes */
  /* tasks still alive wait on something nothing can complete: unlink them so no wait
   * list or timer keeps pointing at them once they are collected */
  luaio_forget_tasks(rt, L);
  luaio_signals_forget(L);
  return 0;
}

void luaio_module_close(luaio_runtime *rt) {
  if (!rt || !rt->loop || rt->closing) return;
  lua_State *L = rt->L;
  int top = lua_gettop(L);
  if (!rt->runL && rt->anchors != LUA_NOREF) {
    rt->runL = L;
    lua_pushlightuserdata(L, rt);
    lua_pushcclosure(L, close_p, 1);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      luaio_report_c_error(rt, msg ? msg : "luaio_close failed");
    }
    rt->runL = NULL;
  }
  rt->closing = 1;
  /* L has no runtime from now on; the shell lives until lua_close */
  luaio_runtime_unlist(L);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  lua_setfield(L, -2, "luaio");
  luaio_report_free(L, rt);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->anchors);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->priv);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->resources);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->resource_sites);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->resource_owners);
  rt->anchors = rt->priv = rt->resources = rt->resource_sites = rt->resource_owners = LUA_NOREF;
  lua_settop(L, top);
  lua_gc(L, LUA_GCCOLLECT); /* finalizers close what unreachable objects still hold open */
  luaio_runtime_release(rt);
}
