/* game_loop.c — a fixed-timestep "game" host: it owns the frame loop and steps luaio
 * once per frame with a time budget. Scripts await frames through a host future
 * (`aio.await(host.next_frame())`) and use timers as usual. Runs a bounded number of
 * frames and prints what happens.
 *
 *   build/examples/game_loop [examples/embed/game.lua] */
#include <stdio.h>
#include <time.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include "luaio.h"

#define FPS 60
#define MAX_FRAMES 40
#define LUA_BUDGET 0.004 /* seconds of script work per frame at most */

typedef struct game {
  int frame;
  int waiting;      /* how many futures wait for the next frame */
  int refs[16];     /* their references */
} game;

/* host.next_frame(): a Future resolved with (frame, dt) when the next frame starts */
static int l_next_frame(lua_State *L) {
  game *g = lua_touserdata(L, lua_upvalueindex(1));
  if (g->waiting == (int)(sizeof g->refs / sizeof *g->refs)) return luaL_error(L, "too many waiters");
  g->refs[g->waiting++] = luaio_future_new(L);
  return 1;
}

static int l_frame(lua_State *L) {
  game *g = lua_touserdata(L, lua_upvalueindex(1));
  lua_pushinteger(L, g->frame);
  return 1;
}

static void on_error(void *ud, const char *message, const char *traceback) {
  game *g = ud;
  fprintf(stderr, "[frame %2d] script error: %s\n%s\n", g->frame, message, traceback ? traceback : "");
}

static void sleep_until(double t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double d = t - (now.tv_sec + now.tv_nsec / 1e9);
  if (d > 0) nanosleep(&(struct timespec){(time_t)d, (long)((d - (time_t)d) * 1e9)}, NULL);
}

static double now_s(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec + now.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  const char *script = argc > 1 ? argv[1] : "examples/embed/game.lua";
  game g = {0};
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaio_runtime *rt = luaio_open(L, NULL); /* luaio owns its loop */
  if (!rt) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); return 1; }
  luaio_set_error_handler(rt, on_error, &g);

  /* the script's main function gets a `host` table */
  if (luaL_loadfile(L, script) != LUA_OK) { fprintf(stderr, "%s\n", lua_tostring(L, -1)); return 1; }
  lua_newtable(L);
  lua_pushlightuserdata(L, &g);
  lua_pushcclosure(L, l_next_frame, 1);
  lua_setfield(L, -2, "next_frame");
  lua_pushlightuserdata(L, &g);
  lua_pushcclosure(L, l_frame, 1);
  lua_setfield(L, -2, "frame");
  luaio_spawn(L, 1);
  int main_task = luaL_ref(L, LUA_REGISTRYINDEX);

  double t0 = now_s(), dt = 1.0 / FPS;
  int live = 1;
  for (g.frame = 1; g.frame <= MAX_FRAMES && live > 0; g.frame++) {
    /* 1. the frame starts: wake everything that waits for it */
    int n = g.waiting;
    g.waiting = 0;
    for (int i = 0; i < n; i++) {
      lua_pushinteger(L, g.frame);
      lua_pushnumber(L, dt);
      luaio_future_resolve(L, g.refs[i], 2);
    }
    /* 2. scripts get their slice of the frame */
    int ready = 0;
    live = luaio_step(rt, LUA_BUDGET, &ready);
    /* 3. the game would simulate and render here; then wait for the next tick */
    sleep_until(t0 + g.frame * dt);
  }
  printf("[frame %2d] host stops: %d task(s) still alive\n", g.frame - 1, live);

  lua_rawgeti(L, LUA_REGISTRYINDEX, main_task);
  int status = luaio_task_status(L, -1);
  printf("main script %s\n", status == LUAIO_OK ? "finished" : status == LUAIO_PENDING ? "still running" : "failed");
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, main_task);
  for (int i = 0; i < g.waiting; i++) luaio_future_release(L, g.refs[i]);
  luaio_close(rt); /* cancels what is left, frees everything */
  lua_close(L);
  return status == LUAIO_OK ? 0 : 1;
}
