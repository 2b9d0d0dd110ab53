/* module.c — luaopen_luaio and the embedding entry points: creates the runtime of a
 * lua_State, assembles the module table from the C parts and the Lua layer compiled in
 * at build time, and tears it all down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "runtime.h"

#define RUNTIME_KEY "luaio.runtime"
#define MODULE_KEY "luaio.module"
#define RUNTIME_BOX "luaio.Runtime"

/* generated from the files in lua/luaio/ by tools/embed.lua */
struct luaio_lua_module { const char *name; const char *src; size_t len; };
extern const struct luaio_lua_module luaio_lua_modules[];

luaio_runtime *luaio_get(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  luaio_runtime **box = luaL_testudata(L, -1, RUNTIME_BOX);
  lua_pop(L, 1);
  return box ? *box : NULL;
}

int luaio_is_coro(lua_State *L, int idx) {
  if (!lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, LUAIO_CORO);
  int r = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return r;
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

/* Releases the C side. No Lua code runs here: it may be called from lua_close. */
static void runtime_free(luaio_runtime *rt) {
  rt->closing = 1;
  if (rt->owns_loop) {
    uv_walk(rt->loop, close_walk_cb, NULL);
    uv_run(rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(rt->loop);
  } else {
    uv_close((uv_handle_t *)&rt->wake, NULL);
    uv_close((uv_handle_t *)&rt->interrupt_async, NULL);
    uv_run(rt->loop, UV_RUN_NOWAIT);
  }
  free(rt->ring);
  free(rt->heap);
  free(rt);
}

static int runtime_gc(lua_State *L) {
  luaio_runtime **box = luaL_checkudata(L, 1, RUNTIME_BOX);
  if (*box) runtime_free(*box);
  *box = NULL;
  return 0;
}

void luaio_close(luaio_runtime *rt) {
  lua_State *L = rt->L;
  int top = lua_gettop(L);
  luaio_shutdown_tasks(rt, L);
  luaio_report_unretrieved(rt, L);
  lua_getfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  luaio_runtime **box = luaL_testudata(L, -1, RUNTIME_BOX);
  if (box) *box = NULL;
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  lua_setfield(L, -2, "luaio");
  luaL_unref(L, LUA_REGISTRYINDEX, rt->handler_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->anchors);
  luaL_unref(L, LUA_REGISTRYINDEX, rt->failed);
  lua_settop(L, top);
  runtime_free(rt);
  lua_gc(L, LUA_GCCOLLECT);
}

static int new_weak_table_ref(lua_State *L) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Runs the Lua layer: each file is called with the module table and the private table. */
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

static int open_module(lua_State *L) {
  luaio_runtime *rt = lua_touserdata(L, 1);
  lua_newtable(L);
  int aio = lua_gettop(L);
  luaio_errors_open(L);
  luaio_future_open(L, rt);
  luaio_task_open(L, rt);
  luaio_timer_open(L, rt);
  luaio_gather_open(L, rt);
  luaio_queue_open(L, rt);
  luaio_stream_open(L, rt);
  luaio_net_open(L, rt);
  luaio_dump_open(L, rt);
  luaL_newmetatable(L, LUAIO_CORO);
  lua_setfield(L, aio, "_Coroutine");
  lua_pushliteral(L, LUAIO_VERSION);
  lua_setfield(L, aio, "VERSION");
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  load_lua_layer(L, aio, lua_gettop(L));
  lua_pop(L, 1);
  lua_pushvalue(L, aio);
  lua_setfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, aio);
  lua_setfield(L, -2, "luaio");
  return 0;
}

luaio_runtime *luaio_open(lua_State *L, uv_loop_t *loop) {
  luaio_runtime *rt = luaio_get(L);
  if (rt) return rt;
  rt = calloc(1, sizeof *rt);
  if (!rt) { lua_pushliteral(L, "luaio: not enough memory"); return NULL; }
  if (!loop) {
    int err = uv_loop_init(&rt->own_loop);
    if (err) {
      free(rt);
      lua_pushfstring(L, "luaio: cannot create an event loop: %s", uv_strerror(err));
      return NULL;
    }
    loop = &rt->own_loop;
    rt->owns_loop = 1;
  }
  rt->loop = loop;
  uv_timer_init(loop, &rt->wake);
  rt->wake.data = rt;
  luaio_interrupt_init(rt);
  rt->ring_cap = 256;
  rt->ring = malloc(rt->ring_cap * sizeof *rt->ring);
  rt->heap_cap = 256;
  rt->heap = malloc(rt->heap_cap * sizeof *rt->heap);
  rt->handler_ref = LUA_NOREF;
  rt->last_poll = luaio_now();
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_newtable(L);
  rt->anchors = luaL_ref(L, LUA_REGISTRYINDEX);
  rt->failed = new_weak_table_ref(L);
  /* the box frees the C side when the state closes */
  luaio_runtime **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = rt;
  if (luaL_newmetatable(L, RUNTIME_BOX)) {
    lua_pushcfunction(L, runtime_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  lua_pushcfunction(L, open_module);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) return NULL;
  return rt;
}

int luaopen_luaio(lua_State *L) {
  if (!luaio_open(L, NULL)) return lua_error(L);
  lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  return 1;
}

void luaio_spawn(lua_State *L, int nargs) {
  luaio_task_push_new(L, luaio_get(L), nargs);
}

int luaio_run(lua_State *L, int nargs, int nresults, char **traceback) {
  luaio_runtime *rt = luaio_get(L);
  if (traceback) *traceback = NULL;
  int base = lua_gettop(L) - nargs; /* the function's slot */
  lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  lua_getfield(L, -1, "run");
  lua_remove(L, -2);
  lua_insert(L, base);
  int status = lua_pcall(L, nargs + 1, nresults, 0);
  if (status != LUA_OK && traceback) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
    lua_getfield(L, -1, "main_task");
    luaio_future *f = luaio_testfuture(L, -1);
    if (f && f->state == FUT_ERR) {
      luaio_push_traceback(L, f, lua_gettop(L));
      const char *tb = lua_tostring(L, -1);
      if (tb) {
        *traceback = malloc(strlen(tb) + 1);
        if (*traceback) strcpy(*traceback, tb);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  return status;
}

/* ---- host futures ---- */
int luaio_future_new(lua_State *L) {
  luaio_future_push_new(L, luaio_get(L));
  lua_pushvalue(L, -1);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

static int settle(lua_State *L, int ref, int nvalues, int fail) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, -(nvalues + 1));
  int fidx = lua_gettop(L) - nvalues;
  int done = 0;
  if (luaio_testfuture(L, fidx))
    done = fail ? luaio_future_fail_with(L, fidx, fidx + 1, 0) : luaio_future_set(L, fidx, fidx + 1, nvalues);
  lua_settop(L, fidx - 1);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  return done ? 0 : -1;
}

int luaio_future_resolve(lua_State *L, int ref, int nvalues) { return settle(L, ref, nvalues, 0); }
int luaio_future_fail(lua_State *L, int ref) { return settle(L, ref, 1, 1); }
void luaio_future_release(lua_State *L, int ref) { luaL_unref(L, LUA_REGISTRYINDEX, ref); }
