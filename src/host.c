/* host.c — what the luaio binary's command line and its REPL share: running a chunk as
 * the main task with the error report lua.c gives, and the process's signal handlers
 * (SIGINT cancels the running chunk, SIGUSR1 prints the task dump). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "host.h"

#define PROGNAME "luaio"

/* like lua.c, the process keeps one pointer for its handlers */
static luaio_runtime *signal_runtime;

/* An ExceptionGroup's sub-exceptions (its `errors`), each with the stack where it was
 * raised when the group kept it (`tracebacks`), after the group's own report. */
static void report_sub_errors(lua_State *L, int err) {
  if (!lua_istable(L, err) || !lua_checkstack(L, 6)) return;
  if (lua_getfield(L, err, "errors") != LUA_TTABLE) { lua_pop(L, 1); return; }
  lua_getfield(L, err, "tracebacks");
  int n = (int)lua_rawlen(L, -2);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, -2, i);
    fprintf(stderr, "sub-exception %d of %d: %s\n", i, n, luaL_tolstring(L, -1, NULL));
    if (lua_istable(L, -3) && lua_rawgeti(L, -3, i) == LUA_TSTRING)
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_pop(L, 3);
  }
  lua_pop(L, 2);
}

/* Runs the function below nargs arguments as the main task; on failure prints the
 * error and the failed task's traceback. Returns 0 on success, 1 on error, 130 when
 * an interrupt (SIGINT) cancelled it. */
int luaio_main_run(lua_State *L, int nargs, int nresults) {
  char *tb = NULL;
  luaio_main_interrupted = 0;
  int status = luaio_run(L, nargs, nresults, &tb);
  if (status == LUA_OK) { free(tb); return 0; }
  int code = 1;
  /* as lua.c: a value with no string form is named by its type */
  const char *msg;
  if (lua_type(L, -1) == LUA_TSTRING || luaL_getmetafield(L, -1, "__tostring") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING) lua_pop(L, 1);
    msg = luaL_tolstring(L, -1, NULL);
  } else {
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, -1));
  }
  if (luaio_main_interrupted && strncmp(msg, "CancelledError", 14) == 0) {
    fprintf(stderr, "%s: interrupted\n", PROGNAME);
    code = 130;
  } else {
    fprintf(stderr, "%s: %s\n", PROGNAME, msg);
    if (tb) fprintf(stderr, "%s\n", tb);
    report_sub_errors(L, lua_absindex(L, -2));
  }
  fflush(stderr);
  free(tb);
  lua_pop(L, 2);
  return code;
}

volatile sig_atomic_t luaio_main_interrupted = 0;

static void on_sigint(int sig) {
  (void)sig;
  if (luaio_main_interrupted >= 2) { /* a third Ctrl-C: the default action */
    signal(SIGINT, SIG_DFL);
    raise(SIGINT);
    return;
  }
  luaio_main_interrupted++;
  if (signal_runtime) luaio_interrupt(signal_runtime);
}

/* SIGUSR1: the task dump, printed between two steps of the loop or from a busy task */
static void on_sigusr1(int sig) {
  (void)sig;
  if (signal_runtime) luaio_request_dump(signal_runtime);
}

void luaio_main_install_signals(lua_State *L) {
  signal_runtime = luaio_get(L);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_sigusr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

void luaio_main_forget_signals(void) { signal_runtime = NULL; }
