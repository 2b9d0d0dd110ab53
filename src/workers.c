/* workers.c — the mechanism under aio.workers (the policy is lua/luaio/workers.lua).
 *
 * A worker copy is a process started by a supervisor with LUAIO_WORKER=<n> and
 * LUAIO_WORKER_PARENT=<the supervisor's pid> in its environment. The module decides once,
 * when it opens, whether this process is such a copy: both variables set and the parent
 * process being that supervisor (a process that merely inherited the variables — a
 * worker's own child — is not a copy). A copy asks the kernel for SIGKILL when its parent
 * dies (Linux's PR_SET_PDEATHSIG), so a supervisor killed with SIGKILL leaves no orphan;
 * a copy whose supervisor died before that request is made kills itself the same way. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include "workers.h"

extern char **environ;

static long parse_pid(const char *s) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v <= 0) return -1;
  return v;
}

/* this process's worker number, or 0 when it is no worker copy */
static lua_Integer detect_worker(void) {
  long id = parse_pid(getenv(LUAIO_WORKER_ENV));
  long parent = parse_pid(getenv(LUAIO_WORKER_PARENT_ENV));
  if (id <= 0 || parent <= 0) return 0;
  if ((long)getppid() != parent) {
    /* a worker's child that inherited the variables, unless the supervisor is gone
     * already: then this is a copy orphaned before it could ask for its death signal */
    if (kill((pid_t)parent, 0) != 0 && errno == ESRCH) raise(SIGKILL);
    return 0;
  }
#ifdef __linux__
  (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
  if ((long)getppid() != parent) raise(SIGKILL); /* it died in between */
#endif
  return (lua_Integer)id;
}

/* _workers_host() -> {exe, args = {...}, cwd, rerun, pid, env = {NAME = value}} or nil:
 * what a supervisor needs to start copies of the running script; nil outside the binary */
static int w_host(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, LUAIO_WORKERS_ARGV) != LUA_TTABLE) {
    lua_pushnil(L);
    return 1;
  }
  int argv = lua_gettop(L);
  lua_createtable(L, 0, 6);
  int res = argv + 1;
  char exe[4096];
  size_t len = sizeof exe;
  int err = uv_exepath(exe, &len);
  if (err == 0) lua_pushlstring(L, exe, len);
  else lua_rawgeti(L, argv, 0); /* argv[0] then, found in PATH as the shell would */
  lua_setfield(L, res, "exe");
  lua_getfield(L, argv, "n");
  lua_Integer n = lua_tointeger(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, n > 1 ? (int)(n - 1) : 0, 0);
  for (lua_Integer i = 1; i < n; i++) {
    lua_rawgeti(L, argv, i);
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, res, "args");
  lua_getfield(L, argv, "cwd");
  lua_setfield(L, res, "cwd");
  lua_getfield(L, argv, "rerun");
  lua_setfield(L, res, "rerun");
  lua_pushinteger(L, (lua_Integer)uv_os_getpid());
  lua_setfield(L, res, "pid");
  lua_newtable(L);
  for (char **e = environ; e && *e; e++) {
    const char *eq = strchr(*e, '=');
    if (!eq || eq == *e) continue;
    size_t klen = (size_t)(eq - *e);
    if ((klen == sizeof LUAIO_WORKER_ENV - 1 && memcmp(*e, LUAIO_WORKER_ENV, klen) == 0) ||
        (klen == sizeof LUAIO_WORKER_PARENT_ENV - 1 && memcmp(*e, LUAIO_WORKER_PARENT_ENV, klen) == 0))
      continue;
    lua_pushlstring(L, *e, klen);
    lua_pushstring(L, eq + 1);
    lua_rawset(L, -3);
  }
  lua_setfield(L, res, "env");
  return 1;
}

void luaio_workers_open(lua_State *L, luaio_runtime *rt) {
  static const luaL_Reg funcs[] = {{"_workers_host", w_host}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
  lua_Integer id = detect_worker();
  if (id > 0) {
    lua_pushinteger(L, id);
    lua_setfield(L, -2, "_workers_id");
  }
}
