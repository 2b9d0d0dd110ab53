/* main.c — the luaio binary: a drop-in lua5.4 whose chunks run as the main task of the
 * luaio runtime, so top-level code may suspend. SIGINT cancels the running chunk. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include "luaio.h"
#include "repl.h"
#include "host.h"
#include "pool.h"
#include "workers.h"

#define PROGNAME "luaio"


/* The usage text, in lua5.4's words and layout: --help prints it to stdout, a bad
 * option to stderr after the error. */
static const char usage_text[] =
  "usage: " PROGNAME " [options] [script [args]]\n"
  "Available options are:\n"
  "  -e stat   execute string 'stat'\n"
  "  -i        enter interactive mode after executing 'script'\n"
  "  -l mod    require library 'mod' into global 'mod'\n"
  "  -l g=mod  require library 'mod' into global 'g'\n"
  "  -v        show version information\n"
  "  -E        ignore environment variables\n"
  "  -W        turn warnings on\n"
  "  --help    show this help and exit\n"
  "  --        stop handling options\n"
  "  -         stop handling options and execute stdin\n"
  "Without script, -e or -v, luaio reads stdin: the REPL when it is a terminal.\n";

static void print_usage(FILE *f) {
  fputs(usage_text, f);
  fflush(f);
}

static void print_usage_error(const char *badoption) {
  if (badoption[1] == 'e' || badoption[1] == 'l')
    fprintf(stderr, "%s: '%s' needs argument\n", PROGNAME, badoption);
  else
    fprintf(stderr, "%s: unrecognized option '%s'\n", PROGNAME, badoption);
  print_usage(stderr);
}

static void print_version(void) {
  printf("luaio %s (%s, libuv %s, line editing: %s)\n", LUAIO_VERSION, LUA_RELEASE,
         uv_version_string(), luaio_repl_editor());
  fflush(stdout);
}

static int dochunk(lua_State *L, int status) {
  if (status != LUA_OK) {
    fprintf(stderr, "%s: %s\n", PROGNAME, lua_tostring(L, -1));
    fflush(stderr);
    lua_pop(L, 1);
    return 1;
  }
  return luaio_main_run(L, 0, 0);
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l [g=]mod: require mod into global g */
static int dolibrary(lua_State *L, char *globname) {
  char *modname = strchr(globname, '=');
  if (modname) { *modname = '\0'; modname++; }
  else { modname = globname; }
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  int code = luaio_main_run(L, 1, 1);
  if (code == 0) lua_setglobal(L, globname);
  return code;
}

/* the arg table: script at 0, its arguments at 1.., interpreter and options below 0 */
static void createargtable(lua_State *L, char **argv, int argc, int script) {
  if (script == argc) script = 0;
  int narg = argc - (script + 1);
  lua_createtable(L, narg, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

enum { has_error = 1, has_i = 2, has_v = 4, has_e = 8, has_E = 16, has_help = 32 };

/* what aio.workers needs to start copies of this run: the command line, the working
 * directory, and whether running that command line again runs the same script (not
 * for a script read from stdin or the REPL) */
static void record_argv(lua_State *L, char **argv, int argc, int script, int args) {
  lua_createtable(L, argc, 3);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_pushinteger(L, argc);
  lua_setfield(L, -2, "n");
  char cwd[4096];
  size_t len = sizeof cwd;
  if (uv_cwd(cwd, &len) == 0) {
    lua_pushlstring(L, cwd, len);
    lua_setfield(L, -2, "cwd");
  }
  int rerun = script < argc ? strcmp(argv[script], "-") != 0 : (args & has_e) && !(args & has_i);
  lua_pushboolean(L, rerun);
  lua_setfield(L, -2, "rerun");
  lua_setfield(L, LUA_REGISTRYINDEX, LUAIO_WORKERS_ARGV);
}

static int handle_script(lua_State *L, char **argv) {
  const char *fname = argv[0];
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL;
  int status = luaL_loadfile(L, fname);
  if (status != LUA_OK) return dochunk(L, status);
  int n = 0;
  lua_getglobal(L, "arg");
  if (lua_istable(L, -1)) {
    n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  }
  lua_remove(L, -n - 1);
  return luaio_main_run(L, n, 0);
}

static int collectargs(char **argv, int *first) {
  int args = 0, i;
  if (argv[0] == NULL) { *first = 0; return 0; }
  for (i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args;
    switch (argv[i][1]) {
    case '-':
      if (strcmp(argv[i], "--help") == 0) return has_help; /* at once, as GNU tools do */
      if (argv[i][2] != '\0') return has_error;
      *first = i + 1;
      return args;
    case '\0':
      return args;
    case 'E':
      if (argv[i][2] != '\0') return has_error;
      args |= has_E;
      break;
    case 'W':
      if (argv[i][2] != '\0') return has_error;
      break;
    case 'i':
      args |= has_i; /* fall through: -i implies -v */
      /* FALLTHROUGH */
    case 'v':
      if (argv[i][2] != '\0') return has_error;
      args |= has_v;
      break;
    case 'e':
      args |= has_e;
      /* FALLTHROUGH */
    case 'l':
      if (argv[i][2] == '\0') {
        i++;
        if (argv[i] == NULL || argv[i][0] == '-') return has_error;
      }
      break;
    default:
      return has_error;
    }
  }
  *first = i;
  return args;
}

static int runargs(lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    int option = argv[i][1];
    switch (option) {
    case 'e':
    case 'l': {
      char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      int code = option == 'e' ? dostring(L, extra, "=(command line)") : dolibrary(L, extra);
      if (code) return code;
      break;
    }
    case 'W':
      lua_warning(L, "@on", 0);
      break;
    }
  }
  return 0;
}

static int handle_luainit(lua_State *L) {
  const char *name = "=LUA_INIT_5_4";
  const char *init = getenv(name + 1);
  if (init == NULL) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (init == NULL) return 0;
  if (init[0] == '@') return dochunk(L, luaL_loadfile(L, init + 1));
  return dostring(L, init, name);
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int *exit_code = (int *)lua_touserdata(L, 3);
  int script;
  int args = collectargs(argv, &script);
  luaL_checkversion(L);
  if (args == has_error) {
    print_usage_error(argv[script]);
    *exit_code = 1;
    return 0;
  }
  if (args == has_help) {
    print_usage(stdout);
    return 0;
  }
  if (args & has_v) print_version();
  if (args & has_E) {
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  luaL_requiref(L, "luaio", luaopen_luaio, 0);
  lua_pop(L, 1);
  luaio_main_install_signals(L);
  createargtable(L, argv, argc, script);
  record_argv(L, argv, argc, script, args);
  if (!(args & has_E) && (*exit_code = handle_luainit(L))) return 0;
  if ((*exit_code = runargs(L, argv, script))) return 0;
  if (script < argc && (*exit_code = handle_script(L, argv + script))) return 0;
  if (args & has_i) {
    *exit_code = luaio_repl(L);
  } else if (script == argc && !(args & (has_e | has_v))) {
    if (isatty(STDIN_FILENO)) {
      print_version();
      *exit_code = luaio_repl(L);
    } else {
      *exit_code = dochunk(L, luaL_loadfile(L, NULL));
    }
  }
  return 0;
}

static int panic(lua_State *L) {
  fprintf(stderr, "%s: PANIC: unprotected error in call to Lua API (%s)\n", PROGNAME,
          lua_tostring(L, -1));
  return 0;
}

/* Lua's warning protocol, as luaL_newstate sets it up (which a custom allocator cannot
 * use): off until "@on", "Lua warning: " before each message, pieces joined until the
 * last one. */
typedef struct warn_state { int on, continuing; } warn_state;

static void warnf(void *ud, const char *msg, int tocont) {
  warn_state *w = ud;
  if (!w->continuing && !tocont && *msg == '@') { /* a control message */
    if (strcmp(msg, "@off") == 0) w->on = 0;
    else if (strcmp(msg, "@on") == 0) w->on = 1;
    return;
  }
  if (w->on) {
    if (!w->continuing) fputs("Lua warning: ", stderr);
    fputs(msg, stderr);
    if (!tocont) fputc('\n', stderr);
    fflush(stderr);
  }
  w->continuing = tocont;
}

int main(int argc, char **argv) {
  int exit_code = 0;
  /* Lua's small blocks come from a pool (faster, no per-block header); LUAIO_ALLOC=system
   * keeps plain malloc so valgrind sees every block. Sanitizer builds always use malloc. */
  luaio_pool pool;
  luaio_pool_init(&pool);
#ifdef LUAIO_SYSTEM_ALLOC
  int use_pool = 0;
#else
  const char *alloc = getenv("LUAIO_ALLOC");
  int use_pool = !(alloc && strcmp(alloc, "system") == 0);
#endif
  lua_State *L = use_pool ? lua_newstate(luaio_pool_alloc, &pool) : luaL_newstate();
  warn_state warn = {0, 0};
  if (L && use_pool) {
    lua_atpanic(L, panic);
    lua_setwarnf(L, warnf, &warn);
  }
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", argv[0]);
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  lua_pushlightuserdata(L, &exit_code);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    fprintf(stderr, "%s: %s\n", PROGNAME, lua_tostring(L, -1));
    exit_code = 1;
  }
  luaio_main_forget_signals(); /* a late SIGINT must not reach a freed runtime */
  lua_close(L);
  luaio_pool_destroy(&pool);
  return exit_code;
}
