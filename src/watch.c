/* watch.c — FsWatcher (aio.fs.watch): a libuv uv_fs_event_t whose events queue up in C
 * until a task takes them. The watcher is its own iterator (__call) and its own closing
 * value, so `for event, name in aio.fs.watch(dir) do ... end` stops watching when the loop
 * is left. The state is malloc'd and freed once both the handle has closed and the
 * userdata is gone. */
#include <stdlib.h>
#include <string.h>
#include "watch.h"
#include "fs.h"
#include "task.h"
#include "list.h"
#include "resources.h"

#define MAX_QUEUED 4096 /* events kept for a slow consumer; later ones are dropped */

typedef struct wevent {
  struct wevent *next;
  const char *what;       /* "rename" or "change" */
  int has_name;
  char name[];
} wevent;

typedef struct watcher {
  uv_fs_event_t h;
  luaio_runtime *rt;      /* NULL once the userdata is gone */
  luaio_node waiter;      /* the one task waiting for an event */
  wevent *head, *tail;
  int count;
  int err;                /* a failure the handle reported */
  char *path;
  unsigned char started;  /* the handle was initialised */
  unsigned char closing;  /* close() called */
  unsigned char closed;   /* the close callback ran */
  unsigned char owned;    /* the userdata points here */
} watcher;

typedef struct wref { watcher *w; } wref;

static const luaio_wait_kind watch_wait = {"a file system watch", NULL, NULL, 0};

static void drop_events(watcher *w) {
  while (w->head) {
    wevent *e = w->head;
    w->head = e->next;
    free(e);
  }
  w->tail = NULL;
  w->count = 0;
}

static void watcher_free(watcher *w) {
  drop_events(w);
  free(w->path);
  free(w);
}

static void wake(watcher *w) {
  if (!w->rt || w->rt->closing || luaio_list_empty(&w->waiter)) return;
  luaio_wake(w->rt, luaio_container(w->waiter.next, luaio_task, node));
}

static void close_cb(uv_handle_t *h) {
  watcher *w = h->data;
  w->closed = 1;
  if (!w->owned) watcher_free(w);
}

static void start_close(watcher *w) {
  if (w->closing) return;
  w->closing = 1;
  drop_events(w);
  if (!w->started || uv_is_closing((uv_handle_t *)&w->h)) { w->closed = 1; return; }
  uv_close((uv_handle_t *)&w->h, close_cb);
}

static void push_event(watcher *w, const char *what, const char *name) {
  if (w->count >= MAX_QUEUED) return;
  size_t len = name ? strlen(name) : 0;
  wevent *e = malloc(sizeof *e + len + 1);
  if (!e) return; /* no memory in a callback: the event is lost */
  e->next = NULL;
  e->what = what;
  e->has_name = name != NULL;
  memcpy(e->name, name ? name : "", len + 1);
  if (w->tail) w->tail->next = e;
  else w->head = e;
  w->tail = e;
  w->count++;
}

static void event_cb(uv_fs_event_t *h, const char *filename, int events, int status) {
  watcher *w = h->data;
  if (w->closing) return;
  if (status < 0) {
    if (!w->err) w->err = status;
  } else {
    if (events & UV_RENAME) push_event(w, "rename", filename);
    if (events & UV_CHANGE) push_event(w, "change", filename);
  }
  wake(w);
}

static watcher *towatcher(lua_State *L) {
  wref *r = luaio_checkudata(L, 1, LUAIO_WATCHER);
  if (!r->w) luaL_error(L, "FsWatcher: used after it was collected");
  return r->w;
}

/* The next event as event, filename; nil once closed. */
static int next_step(lua_State *L);
static int next_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  luaio_raise_if_cancelled(L, luaio_rt(L)->current);
  return next_step(L);
}

static int next_step(lua_State *L) {
  watcher *w = towatcher(L);
  if (w->head) {
    wevent *e = w->head;
    w->head = e->next;
    if (!w->head) w->tail = NULL;
    w->count--;
    lua_pushstring(L, e->what);
    if (e->has_name) lua_pushstring(L, e->name);
    else lua_pushnil(L);
    free(e);
    return 2;
  }
  if (w->closing) { lua_pushnil(L); return 1; }
  if (w->err) return luaio_fs_raise(L, w->err, "watch", w->path);
  if (!luaio_list_empty(&w->waiter))
    return luaio_raise(L, "RuntimeError", "FsWatcher: another task is already waiting for its events");
  luaio_task *t = luaio_check_suspend(L, "watch");
  luaio_list_append(&w->waiter, &t->node);
  return luaio_park(L, t, &watch_wait, 1, next_k);
}

static int w_next(lua_State *L) {
  towatcher(L);
  luaio_check_task(L, "watch");
  lua_settop(L, 1);
  return next_step(L);
}

static int w_close(lua_State *L) {
  watcher *w = towatcher(L);
  start_close(w);
  wake(w); /* a task waiting for an event gets nil: its loop ends */
  return 0;
}

static int w_gc(lua_State *L) {
  wref *r = luaio_checkudata(L, 1, LUAIO_WATCHER);
  watcher *w = r->w;
  if (!w) return 0;
  r->w = NULL;
  w->owned = 0;
  w->rt = NULL;
  luaio_list_init(&w->waiter);
  if (w->closed) { watcher_free(w); return 0; }
  if (w->closing) return 0; /* close_cb frees it */
  if (uv_is_closing((uv_handle_t *)&w->h)) { watcher_free(w); return 0; } /* the runtime's walk */
  w->closing = 1;
  uv_close((uv_handle_t *)&w->h, close_cb);
  return 0;
}

static int w_tostring(lua_State *L) {
  wref *r = luaio_checkudata(L, 1, LUAIO_WATCHER);
  if (!r->w) lua_pushliteral(L, "FsWatcher (collected)");
  else lua_pushfstring(L, "FsWatcher<%s>%s", r->w->path, r->w->closing ? " (closed)" : "");
  return 1;
}

/* an open resource ("watcher") until close() */
static int watcher_is_open(lua_State *L, int idx) {
  wref *r = luaL_testudata(L, idx, LUAIO_WATCHER);
  return r && r->w && !r->w->closing;
}

static const luaio_resource_kind watcher_resource = {"watcher", watcher_is_open};

/* _watch(path, recursive): the watcher, watching already (lua/luaio/fs.lua checks opts) */
static int l_watch(lua_State *L) {
  size_t len;
  const char *path = luaio_checklstring(L, 1, &len);
  luaio_argcheck(L, strlen(path) == len, 1, "path contains a zero byte");
  int recursive = lua_toboolean(L, 2);
  unsigned flags = 0;
  if (recursive) {
#if defined(__APPLE__) || defined(_WIN32)
    flags |= UV_FS_EVENT_RECURSIVE;
#else
    lua_pushfstring(L, "watch %s: recursive watching is not supported on this platform "
                    "(watch each directory)", path);
    luaio_push_error(L, "OSError", lua_tostring(L, -1));
    lua_pushstring(L, uv_err_name(UV_ENOTSUP));
    lua_setfield(L, -2, "code");
    return lua_error(L);
#endif
  }
  luaio_runtime *rt = luaio_rt(L);
  wref *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->w = NULL;
  luaL_setmetatable(L, LUAIO_WATCHER);
  watcher *w = calloc(1, sizeof *w);
  char *p = malloc(len + 1);
  if (!w || !p) { free(w); free(p); return luaL_error(L, "not enough memory"); }
  memcpy(p, path, len + 1);
  w->path = p;
  w->rt = rt;
  w->owned = 1;
  luaio_list_init(&w->waiter);
  r->w = w;
  int err = uv_fs_event_init(rt->loop, &w->h);
  if (err) return luaio_fs_raise(L, err, "watch", path);
  w->started = 1;
  w->h.data = w;
  err = uv_fs_event_start(&w->h, event_cb, w->path, flags);
  if (err) {
    start_close(w);
    return luaio_fs_raise(L, err, "watch", path);
  }
  luaio_resource_open(L, rt, -1, &watcher_resource, 0);
  return 1;
}

static const luaL_Reg watcher_methods[] = {
  {"next", w_next}, {"close", w_close}, {"__call", w_next}, {"__close", w_close},
  {"__gc", w_gc}, {"__tostring", w_tostring}, {NULL, NULL}
};

void luaio_watch_open(lua_State *L, luaio_runtime *rt) {
  luaio_new_class(L, LUAIO_WATCHER, watcher_methods, rt);
  luaio_resource_kind_register(rt, &watcher_resource);
  luaio_wait_kind_register(rt, &watch_wait);
  /* aio.fs exists (luaio_fs_open ran first): the raw constructor for fs.lua */
  lua_getfield(L, -1, "fs");
  static const luaL_Reg funcs[] = {{"_watch", l_watch}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
  lua_pop(L, 1);
}
