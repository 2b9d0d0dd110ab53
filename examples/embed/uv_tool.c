/* uv_tool.c — a libuv program that embeds luaio next to its own handles: luaio runs on
 * the tool's loop (luaio_open with a borrowed loop) inside the tool's own uv_run
 * (luaio_attach). The tool keeps a heartbeat timer of its own and answers the script's
 * `tool.stat(path)` with a uv_fs_stat request through a host future. When the script is
 * done the tool closes luaio, then its own handles, and closes its loop.
 *
 *   build/examples/uv_tool [examples/embed/tool.lua] */
#include <stdio.h>
#include <stdlib.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include <uv.h>
#include "luaio.h"

typedef struct tool {
  uv_loop_t loop;
  uv_timer_t heartbeat;
  int beats;
  lua_State *L;
  luaio_runtime *rt;
  int main_ref;
} tool;

typedef struct stat_req {
  uv_fs_t req;
  tool *t;
  int ref; /* the future the script awaits */
} stat_req;

static void stat_done(uv_fs_t *req) {
  stat_req *s = (stat_req *)req;
  lua_State *L = s->t->L;
  if (req->result < 0) {
    lua_pushfstring(L, "stat: %s", uv_strerror((int)req->result));
    luaio_future_fail(L, s->ref);
  } else {
    lua_pushinteger(L, (lua_Integer)req->statbuf.st_size);
    luaio_future_resolve(L, s->ref, 1);
  }
  uv_fs_req_cleanup(req);
  free(s);
}

/* tool.stat(path) -> Future of the file's size */
static int l_stat(lua_State *L) {
  tool *t = lua_touserdata(L, lua_upvalueindex(1));
  const char *path = luaL_checkstring(L, 1);
  stat_req *s = malloc(sizeof *s);
  if (!s) return luaL_error(L, "out of memory");
  s->t = t;
  s->ref = luaio_future_new(L); /* pushes the Future we return */
  int err = uv_fs_stat(&t->loop, &s->req, path, stat_done);
  if (err) { /* no request in flight: fail the future at once */
    lua_pushfstring(L, "stat: %s", uv_strerror(err));
    luaio_future_fail(L, s->ref);
    free(s);
  }
  return 1;
}

static void heartbeat_cb(uv_timer_t *h) {
  tool *t = h->data;
  t->beats++;
  lua_rawgeti(t->L, LUA_REGISTRYINDEX, t->main_ref);
  int status = luaio_task_status(t->L, -1);
  lua_pop(t->L, 1);
  printf("[tool] heartbeat %d (script %s)\n", t->beats, status == LUAIO_PENDING ? "running" : "done");
  if (status != LUAIO_PENDING) uv_timer_stop(h); /* nothing left: uv_run may return */
}

int main(int argc, char **argv) {
  const char *script = argc > 1 ? argv[1] : "examples/embed/tool.lua";
  tool t = {0};
  uv_loop_init(&t.loop);
  uv_timer_init(&t.loop, &t.heartbeat);
  t.heartbeat.data = &t;
  uv_timer_start(&t.heartbeat, heartbeat_cb, 40, 40);

  t.L = luaL_newstate();
  luaL_openlibs(t.L);
  t.rt = luaio_open(t.L, &t.loop); /* on the tool's loop */
  if (!t.rt) { fprintf(stderr, "%s\n", lua_tostring(t.L, -1)); return 1; }
  if (luaL_loadfile(t.L, script) != LUA_OK) { fprintf(stderr, "%s\n", lua_tostring(t.L, -1)); return 1; }
  lua_newtable(t.L);
  lua_pushlightuserdata(t.L, &t);
  lua_pushcclosure(t.L, l_stat, 1);
  lua_setfield(t.L, -2, "stat");
  lua_pushstring(t.L, script);
  lua_setfield(t.L, -2, "script");
  luaio_spawn(t.L, 1);
  t.main_ref = luaL_ref(t.L, LUA_REGISTRYINDEX);

  luaio_attach(t.rt); /* luaio now runs inside the tool's uv_run */
  uv_run(&t.loop, UV_RUN_DEFAULT);

  lua_rawgeti(t.L, LUA_REGISTRYINDEX, t.main_ref);
  int n = 0, status = luaio_task_result(t.L, -1, &n);
  printf("[tool] script %s: %s\n", status == LUAIO_OK ? "returned" : "failed",
         n ? luaL_tolstring(t.L, -1, NULL) : "(nothing)");
  lua_settop(t.L, 0);
  luaL_unref(t.L, LUA_REGISTRYINDEX, t.main_ref);

  luaio_close(t.rt); /* outside uv_run: closes luaio's handles, leaves the tool's alone */
  lua_close(t.L);
  uv_close((uv_handle_t *)&t.heartbeat, NULL);
  uv_run(&t.loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&t.loop);
  printf("[tool] loop closed: %s\n", rc == 0 ? "ok" : uv_strerror(rc));
  return status == LUAIO_OK && rc == 0 ? 0 : 1;
}
