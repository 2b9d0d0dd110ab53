/* runtime.c — the runtime object: created on a loop (its own or the host's), released
 * with every handle luaio opened closed, and the registration of C functions that find
 * it again through their first upvalue. */
#include <stdlib.h>
#include <string.h>
#include "runtime.h"
#include "loop.h"
#include "timer.h"
#include "signals.h"

luaio_runtime *luaio_rt(lua_State *L) {
  return (luaio_runtime *)lua_touserdata(L, lua_upvalueindex(1));
}

/* The runtime lives in a box in the registry: the box's finalizer frees the C side when
 * the state closes (it was created before any object of the runtime, so it is finalized
 * after them). */
#define RUNTIME_KEY "luaio.runtime"
#define RUNTIME_BOX "luaio.Runtime"

luaio_runtime *luaio_rt_of(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  luaio_runtime **box = luaL_testudata(L, -1, RUNTIME_BOX);
  lua_pop(L, 1);
  return box ? *box : NULL;
}

static int runtime_gc(lua_State *L) {
  luaio_runtime **box = luaL_checkudata(L, 1, RUNTIME_BOX);
  if (*box) {
    luaio_runtime_release(*box);
    free(*box);
  }
  *box = NULL;
  return 0;
}

static void box_new(lua_State *L, luaio_runtime *rt) {
  luaio_runtime **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = rt;
  if (luaL_newmetatable(L, RUNTIME_BOX)) {
    lua_pushcfunction(L, runtime_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
}

void luaio_runtime_unlist(lua_State *L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, "luaio.closed");
  lua_getfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
  lua_pop(L, 1);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
}

uint64_t luaio_now(void) { return uv_hrtime(); }

luaio_runtime *luaio_runtime_new(lua_State *L, uv_loop_t *loop) {
  luaio_runtime *rt = calloc(1, sizeof *rt);
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
  uv_prepare_init(loop, &rt->host_prep); /* for luaio_attach; inactive until then */
  uv_idle_init(loop, &rt->host_idle);
  luaio_signals_init(rt);
  rt->handler_ref = rt->anchors = rt->failed = rt->deferred = rt->priv = LUA_NOREF;
  rt->resources = rt->resource_sites = rt->resource_owners = LUA_NOREF; /* resources.c: made when the module opens */
  rt->last_poll = luaio_now();
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  rt->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  box_new(L, rt);
  return rt;
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

static void count_close_cb(uv_handle_t *h) { (*(int *)h->data)--; }

/* Releases the C side: closes luaio's handles, frees the buffers and leaves rt as an
 * empty shell (loop NULL) that objects still alive in the state can look at safely
 * (closing is set). Idempotent. No Lua code runs here: it may be called from lua_close.
 * Handles: on an owned loop every handle is closed by walking the loop. A borrowed
 * loop also holds the host's handles, so only luaio's own are closed here (the wake
 * timer, the interrupt async, the attach prepare/idle); every other handle a part opens
 * (streams, servers, ...) must be closed by that part before this runs — from its
 * userdata's __gc (luaio_close collects the state first; lua_close finalizes them before
 * the runtime box, which was created first) or when the runtime starts closing — and
 * freed only in its close callback. The drain below runs the borrowed loop without
 * blocking until luaio's own handles are closed, which also completes any close
 * requested before it; the host's callbacks that are due at that moment run too. */
void luaio_runtime_release(luaio_runtime *rt) {
  rt->closing = 1;
  if (!rt->loop) return;
  if (rt->owns_loop) {
    uv_walk(rt->loop, close_walk_cb, NULL);
    uv_run(rt->loop, UV_RUN_DEFAULT);
    uv_loop_close(rt->loop);
  } else {
    int open = 0;
    uv_handle_t *mine[] = {(uv_handle_t *)&rt->wake, (uv_handle_t *)&rt->interrupt_async,
                           (uv_handle_t *)&rt->host_prep, (uv_handle_t *)&rt->host_idle};
    for (size_t i = 0; i < sizeof mine / sizeof *mine; i++) {
      mine[i]->data = &open;
      open++;
      uv_close(mine[i], count_close_cb);
    }
    while (open > 0) uv_run(rt->loop, UV_RUN_NOWAIT);
  }
  rt->loop = NULL;
  rt->attached = 0;
  luaio_loop_free(rt);
  luaio_timers_free(rt);
}

void *luaio_part_state_new(lua_State *L, luaio_runtime *rt, const void *key, size_t size,
                           const char *tname) {
  void *st = lua_newuserdatauv(L, size, 0);
  memset(st, 0, size);
  *(luaio_runtime **)st = rt;
  luaL_setmetatable(L, tname);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_pushvalue(L, -2);
  luaL_ref(L, -2);
  lua_pop(L, 2);
  lua_pushlightuserdata(L, st);
  lua_rawsetp(L, LUA_REGISTRYINDEX, key);
  return st;
}

void *luaio_part_state(lua_State *L, const void *key) {
  luaio_runtime *rt = luaio_rt(L);
  lua_rawgetp(L, LUA_REGISTRYINDEX, key);
  luaio_runtime **st = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!st || rt->closing || *st != rt) luaL_error(L, "luaio: the runtime is closed");
  return st;
}

void luaio_part_state_forget(lua_State *L, const void *key, const void *st) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, key) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == st) {
    lua_pushnil(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, key);
  }
  lua_pop(L, 1);
}

void luaio_register(lua_State *L, const luaL_Reg *funcs, luaio_runtime *rt) {
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
  luaio_name_functions(L, funcs);
}

void luaio_new_class(lua_State *L, const char *tname, const luaL_Reg *methods,
                     luaio_runtime *rt) {
  luaL_newmetatable(L, tname);
  luaio_register(L, methods, rt);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
