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

static void count_close_cb(uv_handle_t *h) { (*(int *)h->data)--; }

/* Releases the C side: closes luaio's handles, frees the buffers and leaves rt as an
 * empty shell (loop NULL) that objects still alive in the state can look at safely
 * (closing is set); the shell itself is freed with its box. Idempotent. No Lua code
 * runs here: it may be called from lua_close.
 * Handles: on an owned loop every handle is closed by walking the loop. A borrowed
 * loop also holds the host's handles, so only luaio's own are closed here (the wake
 * timer, the interrupt async, the attach prepare/idle); every other handle a part opens
 * (streams, servers, ...) must be closed by that part before this runs — from its
 * userdata's __gc (luaio_close collects the state first; lua_close finalizes them before
 * the runtime box, which was created first) or when the runtime starts closing — and
 * freed only in its close callback. The drain below runs the borrowed loop without
 * blocking until luaio's own handles are closed, which also completes any close
 * requested before it; the host's callbacks that are due at that moment run too. */
static void runtime_release(luaio_runtime *rt) {
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
  free(rt->ring);
  free(rt->heap);
  rt->ring = NULL;
  rt->heap = NULL;
  rt->ring_count = rt->heap_count = 0;
}

static int runtime_gc(lua_State *L) {
  luaio_runtime **box = luaL_checkudata(L, 1, RUNTIME_BOX);
  if (*box) {
    runtime_release(*box);
    free(*box);
  }
  *box = NULL;
  return 0;
}

/* Runs in a protected call with the runtime as upvalue 1 (what luaio_rt expects). */
static int close_p(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  luaio_shutdown_tasks(rt, L);
  luaio_report_unretrieved(rt, L);
  /* tasks still alive wait on something nothing can complete: unlink them so no wait
   * list or timer keeps pointing at them once they are collected */
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    luaio_task *t = luaL_testudata(L, -1, LUAIO_TASK);
    if (t && t->state != T_DONE) {
      luaio_list_unlink(&t->node);
      luaio_timer_remove(rt, &t->timer);
      t->on_cancel = CANCEL_NONE;
    }
    lua_pop(L, 1);
  }
  return 0;
}

void luaio_close(luaio_runtime *rt) {
  if (!rt || !rt->loop || rt->closing) return;
  lua_State *L = rt->L;
  int top = lua_gettop(L);
  luaio_detach(rt);
  if (!rt->runL) {
    rt->runL = L;
    lua_pushlightuserdata(L, rt);
    lua_pushcclosure(L, close_p, 1);
    if (lua_pcall(L, 0, 0, 0) != LUA_OK) {
      const char *msg = lua_tostring(L, -1);
      if (rt->cerr) rt->cerr(rt->cerr_ud, msg ? msg : "luaio_close failed", NULL);
      else fprintf(stderr, "luaio: %s\n", msg ? msg : "luaio_close failed");
    }
    rt->runL = NULL;
  }
  rt->closing = 1;
  /* the box moves aside: luaio_get(L) is NULL from now on, the shell lives until lua_close */
  luaL_getsubtable(L, LUA_REGISTRYINDEX, "luaio.closed");
  lua_getfield(L, LUA_REGISTRYINDEX, RUNTIME_KEY);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
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
  luaL_unref(L, LUA_REGISTRYINDEX, rt->deferred);
  rt->handler_ref = rt->anchors = rt->failed = rt->deferred = LUA_NOREF;
  lua_settop(L, top);
  lua_gc(L, LUA_GCCOLLECT); /* finalizers close what unreachable objects still hold open */
  runtime_release(rt);
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
  uv_prepare_init(loop, &rt->host_prep); /* for luaio_attach; inactive until then */
  uv_idle_init(loop, &rt->host_idle);
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
  lua_newtable(L);
  rt->deferred = luaL_ref(L, LUA_REGISTRYINDEX);
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
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    luaio_close(rt); /* the message stays on top */
    return NULL;
  }
  return rt;
}

int luaopen_luaio(lua_State *L) {
  if (!luaio_open(L, NULL)) return lua_error(L);
  lua_getfield(L, LUA_REGISTRYINDEX, MODULE_KEY);
  return 1;
}

void luaio_spawn(lua_State *L, int nargs) {
  luaio_runtime *rt = luaio_get(L);
  if (!rt) luaL_error(L, "luaio_spawn: luaio is not open in this state");
  luaio_task_push_new(L, rt, nargs);
  if (rt->attached) luaio_attach(rt); /* the host's uv_run must not block now */
}

/* ---- tasks and futures seen from C ---- */
/* the public status codes are the future states */
static const int c_status[] = {LUAIO_PENDING, LUAIO_OK, LUAIO_FAILED, LUAIO_CANCELLED};
_Static_assert(FUT_PENDING == 0 && FUT_OK == 1 && FUT_ERR == 2 && FUT_CANCELLED == 3,
               "luaio_task_status maps future states by index");

int luaio_task_status(lua_State *L, int idx) {
  luaio_future *f = luaio_testfuture(L, idx);
  return f ? c_status[f->state] : -1;
}

int luaio_task_result(lua_State *L, int idx, int *nresults) {
  luaio_future *f = luaio_testfuture(L, idx);
  if (nresults) *nresults = 0;
  if (!f) return -1;
  idx = lua_absindex(L, idx);
  switch (f->state) {
  case FUT_OK: {
    int n = f->nres;
    luaL_checkstack(L, n + 1, "too many results");
    lua_getiuservalue(L, idx, 1);
    if (n != 1) {
      int t = lua_gettop(L);
      for (int i = 1; i <= n; i++) lua_rawgeti(L, t, i);
      lua_remove(L, t);
    }
    if (nresults) *nresults = n;
    break;
  }
  case FUT_ERR:
    f->unretrieved = 0; /* the host has seen it: not reported as lost */
    /* fall through */
  case FUT_CANCELLED:
    lua_getiuservalue(L, idx, 1);
    if (nresults) *nresults = 1;
    break;
  }
  return c_status[f->state];
}

int luaio_cancel(lua_State *L, int idx) {
  luaio_future *f = luaio_testfuture(L, idx);
  if (!f || f->state != FUT_PENDING || !luaio_get(L)) return 0;
  int r;
  if (f->is_task) {
    r = luaio_task_cancel(L, (luaio_task *)f, 0);
  } else {
    idx = lua_absindex(L, idx);
    r = luaio_future_cancel(L, idx, 0);
  }
  if (r && f->rt->attached) luaio_attach(f->rt);
  return r;
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
    if (f && f->state == FUT_ERR) luaio_push_traceback(L, f, lua_gettop(L));
    else if (lua_istable(L, -3)) { /* a deadlock's: where the main task was stuck */
      lua_pushliteral(L, "traceback");
      lua_rawget(L, -4);
    } else lua_pushnil(L);
    const char *tb = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (tb) {
      *traceback = malloc(strlen(tb) + 1);
      if (*traceback) strcpy(*traceback, tb);
    }
    lua_pop(L, 3);
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
  luaio_runtime *rt = luaio_get(L);
  if (!rt) { /* closed: the future and its waiters are gone with the runtime */
    lua_pop(L, nvalues);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    return -1;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  lua_insert(L, -(nvalues + 1));
  int fidx = lua_gettop(L) - nvalues;
  int done = 0;
  if (luaio_testfuture(L, fidx))
    done = fail ? luaio_future_fail_with(L, fidx, fidx + 1, 0) : luaio_future_set(L, fidx, fidx + 1, nvalues);
  lua_settop(L, fidx - 1);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
  if (rt->attached) luaio_attach(rt); /* re-armed once the waiters are ready to run */
  return done ? 0 : -1;
}

int luaio_future_resolve(lua_State *L, int ref, int nvalues) { return settle(L, ref, nvalues, 0); }
int luaio_future_fail(lua_State *L, int ref) { return settle(L, ref, 1, 1); }
void luaio_future_release(lua_State *L, int ref) { luaL_unref(L, LUA_REGISTRYINDEX, ref); }
