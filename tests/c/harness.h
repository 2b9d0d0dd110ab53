/* harness.h — the shared part of the C tests: a tiny TAP harness (each TEST prints `ok N -
 * name` or `not ok N - name` with the failed check, which tools/test.sh counts) and the
 * helpers every test file uses: a fresh lua_State, running Lua chunks, reading globals,
 * spawning a chunk as a task, collecting error-handler reports, capturing stderr, and the
 * driving calls exposed to scripts (to try them from inside the loop). One copy: test
 * files define no helper of their own that another file also needs. */
#ifndef LUAIO_TEST_HARNESS_H
#define LUAIO_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include <uv.h>
#include "luaio.h"

/* ---------------------------------------------------------------- TAP */

typedef struct tap_state {
  int n, failed, cur_failed;
  const char *cur;
} tap_state;

/* CHECK records the first failed condition of the running test and keeps going. */
#define CHECK(T, cond)                                                                 \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      if (!(T)->cur_failed) printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      (T)->cur_failed = 1;                                                             \
    }                                                                                  \
  } while (0)
#define CHECK_STR(T, a, b)                                                             \
  do {                                                                                 \
    const char *a_ = (a), *b_ = (b);                                                   \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
      if (!(T)->cur_failed)                                                            \
        printf("# %s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, b_ ? b_ : "(null)", \
               a_ ? a_ : "(null)");                                                    \
      (T)->cur_failed = 1;                                                             \
    }                                                                                  \
  } while (0)

static inline void tap_run(tap_state *T, const char *name, void (*fn)(tap_state *)) {
  T->cur = name;
  T->cur_failed = 0;
  fn(T);
  T->n++;
  if (T->cur_failed) T->failed++;
  printf("%sok %d - %s\n", T->cur_failed ? "not " : "", T->n, name);
  fflush(stdout);
}

#define RUN(T, fn) tap_run((T), #fn, fn)

static inline int tap_done(tap_state *T) {
  printf("1..%d\n", T->n);
  return T->failed ? 1 : 0;
}

/* ---------------------------------------------------------------- Lua states and chunks */

/* A new lua_State with the standard libraries (luaio not opened yet). */
static inline lua_State *fresh(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  return L;
}

/* Runs `src` (a chunk) and leaves its single return value on the stack (nil on error). */
static inline int push_value(lua_State *L, const char *src) {
  if (luaL_loadstring(L, src) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
    printf("# chunk error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    lua_pushnil(L);
    return 0;
  }
  return 1;
}

/* Runs a statement list (its results are left on the stack); returns 1 when it ran
 * without error. */
static inline int run_lua(lua_State *L, const char *src) {
  if (luaL_dostring(L, src) != LUA_OK) {
    printf("# lua error: %s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

/* Runs `src` (a chunk returning an integer) and returns that integer (-999 on error);
 * the stack is left as it was. */
static inline lua_Integer eval_int(lua_State *L, const char *src) {
  int top = lua_gettop(L);
  lua_Integer v = -999;
  if (luaL_loadstring(L, src) == LUA_OK && lua_pcall(L, 0, 1, 0) == LUA_OK)
    v = lua_tointeger(L, -1);
  else
    printf("# chunk error: %s\n", lua_tostring(L, -1));
  lua_settop(L, top);
  return v;
}

/* Reads a global string (copied into buf) — typically a log written by tasks. */
static inline const char *global_str(lua_State *L, const char *name, char *buf, size_t sz) {
  lua_getglobal(L, name);
  const char *s = lua_tostring(L, -1);
  snprintf(buf, sz, "%s", s ? s : "(nil)");
  lua_pop(L, 1);
  return buf;
}

static inline lua_Integer global_int(lua_State *L, const char *name) {
  lua_getglobal(L, name);
  lua_Integer v = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

/* ---------------------------------------------------------------- tasks and the loop */

/* Spawns `fn_src` (a chunk returning a function) with no arguments; leaves the Task on top. */
static inline void spawn0(lua_State *L, const char *fn_src) {
  push_value(L, fn_src);
  luaio_spawn(L, 0);
}

/* Steps (without budget) until no task is alive, at most `max` times; returns the number
 * of steps that left tasks alive. */
static inline int steps_until_idle(luaio_runtime *rt, int max) {
  int n = 0;
  while (n < max && luaio_step(rt, 0, NULL) > 0) {
    n++;
    usleep(200);
  }
  return n;
}

/* A host's own libuv timer callback: counts into the int its data points to. */
static inline void count_timer_cb(uv_timer_t *t) { (*(int *)t->data)++; }

/* C functions exposed to scripts, to try the driving calls from inside the loop. */
static inline int l_step(lua_State *L) {
  lua_pushinteger(L, luaio_step(luaio_get(L), 0, NULL));
  return 1;
}
static inline int l_run_until_idle(lua_State *L) {
  lua_pushinteger(L, luaio_run_until_idle(luaio_get(L)));
  return 1;
}
static inline int l_wait(lua_State *L) {
  lua_pushinteger(L, luaio_task_wait(L, 1));
  return 1;
}
static inline int l_interrupt(lua_State *L) {
  luaio_interrupt(luaio_get(L));
  return 0;
}
/* Registers them as the globals c_step, c_run_until_idle, c_wait(task) and c_interrupt. */
static inline void expose_c(lua_State *L) {
  lua_register(L, "c_step", l_step);
  lua_register(L, "c_run_until_idle", l_run_until_idle);
  lua_register(L, "c_wait", l_wait);
  lua_register(L, "c_interrupt", l_interrupt);
}

/* ---------------------------------------------------------------- errors reaching the host */

/* What a C error handler (luaio_set_error_handler(rt, on_error, &reports)) received. */
typedef struct reports {
  int n;            /* reports so far */
  char msg[4][512]; /* the first four messages */
  int tb[4];        /* whether each of them came with a traceback */
  char last[512];   /* the latest message */
  int last_tb;      /* whether it came with a traceback */
} reports;

static inline void on_error(void *ud, const char *message, const char *traceback) {
  reports *r = ud;
  if (r->n < 4) {
    snprintf(r->msg[r->n], sizeof r->msg[r->n], "%s", message ? message : "(NULL)");
    r->tb[r->n] = traceback != NULL;
  }
  snprintf(r->last, sizeof r->last, "%s", message ? message : "(NULL)");
  r->last_tb = traceback != NULL;
  r->n++;
}

/* Redirects stderr (fd 2) into a temporary file until captured_stderr; returns 0 when set up. */
typedef struct stderr_capture {
  int saved;
  FILE *tmp;
} stderr_capture;

static inline int capture_stderr(stderr_capture *c) {
  fflush(stderr);
  c->tmp = tmpfile();
  c->saved = c->tmp ? dup(2) : -1;
  if (c->saved < 0 || dup2(fileno(c->tmp), 2) < 0) return -1;
  return 0;
}

/* Restores stderr and copies what was written meanwhile into buf (NUL-terminated, at most
 * sz - 1 bytes); returns its length. */
static inline size_t captured_stderr(stderr_capture *c, char *buf, size_t sz) {
  size_t got = 0;
  fflush(stderr);
  if (c->saved >= 0) {
    dup2(c->saved, 2);
    close(c->saved);
  }
  if (c->tmp) {
    rewind(c->tmp);
    got = fread(buf, 1, sz - 1, c->tmp);
    fclose(c->tmp);
  }
  buf[got] = 0;
  return got;
}

#endif
