/* process.c — child processes on uv_spawn. A Process userdata points at a malloc'd
 * `proc` holding the uv_process_t: libuv reaps the child and calls exit_cb whether or
 * not a Lua object still exists (no zombies), so the C side lives until the handle's
 * close callback and the userdata is gone. Each pipe's parent end is a stream of stream.c, handed to the script as a StreamWriter (stdin) or a StreamReader
 * (stdout, stderr). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "process.h"
#include "signal_handlers.h"
#include "stream.h"
#include "resources.h"
#include "task.h"

#define DEFAULT_LIMIT 65536
#define PIPE_SIZE (1 << 20) /* asked of the kernel for stdout/stderr; it may give less */
#define FDGUARD "luaio.ProcessFds"

/* ---- the runtime's live processes: closed before the runtime closes its loop ---- */
static const char key_state = 'P';
#define PSTATE "luaio.ProcessState"

typedef struct pstate {
  luaio_runtime *rt;
  luaio_node procs;        /* every proc whose handle is not closed yet */
} pstate;

typedef struct proc {
  uv_process_t h;
  luaio_node lnode;        /* in ps->procs */
  pstate *ps;              /* NULL once the runtime's state is gone */
  luaio_node waiters;      /* tasks in wait() or <close> */
  int64_t status;
  int termsig;
  int pid;
  unsigned char exited, close_started, closed, owned;
} proc;

typedef struct pbox {
  proc *p;                 /* uservalues: 1 stdin writer, 2 stdout reader, 3 stderr reader */
} pbox;

static const luaio_wait_kind exit_wait = {"a process exit", NULL, NULL, 0};

static pstate *get_state(lua_State *L) { return luaio_part_state(L, &key_state); }

static void proc_free(proc *p) {
  luaio_list_unlink(&p->lnode);
  free(p);
}

static void close_cb(uv_handle_t *h) {
  proc *p = h->data;
  p->closed = 1;
  if (!p->owned) proc_free(p);
  else luaio_list_unlink(&p->lnode); /* its userdata frees it */
}

static void start_close(proc *p) {
  if (p->close_started || uv_is_closing((uv_handle_t *)&p->h)) return;
  p->close_started = 1;
  uv_close((uv_handle_t *)&p->h, close_cb);
}

static void exit_cb(uv_process_t *h, int64_t status, int termsig) {
  proc *p = h->data;
  p->exited = 1;
  p->status = status;
  p->termsig = termsig;
  if (p->owned && p->ps && !p->ps->rt->closing) {
    while (!luaio_list_empty(&p->waiters))
      luaio_wake(p->ps->rt, luaio_container(p->waiters.next, luaio_task, node));
  }
  start_close(p);
}

static int push_returncode(lua_State *L, proc *p) {
  if (!p->exited) lua_pushnil(L);
  else if (p->termsig) lua_pushinteger(L, -(lua_Integer)p->termsig);
  else lua_pushinteger(L, (lua_Integer)p->status);
  return 1;
}

static proc *check_proc(lua_State *L, int idx) {
  pbox *b = luaio_checkudata(L, idx, LUAIO_PROCESS);
  if (!b->p) luaL_error(L, "Process: used after it was collected");
  return b->p;
}

/* An open resource ("process") while the child runs: its exit closes it, as asyncio's
 * subprocess transport. Its pipes are part of it, not listed on their own (a StreamReader
 * of stdout has no close: it ends with the child). */
static int proc_is_open(lua_State *L, int idx) {
  pbox *b = luaL_testudata(L, idx, LUAIO_PROCESS);
  return b && b->p && !b->p->exited && !b->p->close_started;
}

static const luaio_resource_kind process_resource = {"process", proc_is_open};

/* ---- spawning ---- */
enum { IO_INHERIT, IO_NULL, IO_PIPE, IO_FD, IO_STDOUT };

typedef struct fdguard {   /* the child ends of the pipes until they are closed */
  int fds[3];
} fdguard;

static void guard_close(fdguard *g) {
  for (int i = 0; i < 3; i++)
    if (g->fds[i] >= 0) { close(g->fds[i]); g->fds[i] = -1; }
}

static int fdguard_close(lua_State *L) {
  guard_close(lua_touserdata(L, 1));
  return 0;
}

static const char *const stdio_names[] = {"stdin", "stdout", "stderr"};

/* opts.stdin / stdout / stderr at the top of the stack: what to give the child */
static int check_stdio(lua_State *L, int oidx, int i, const char *fname, int *fd) {
  int v = lua_gettop(L);
  *fd = i;
  switch (lua_type(L, v)) {
  case LUA_TNIL: return IO_INHERIT;
  case LUA_TSTRING: {
    const char *s = lua_tostring(L, v);
    if (strcmp(s, "inherit") == 0) return IO_INHERIT;
    if (strcmp(s, "null") == 0) return IO_NULL;
    if (strcmp(s, "pipe") == 0) return IO_PIPE;
    if (i == 2 && strcmp(s, "stdout") == 0) return IO_STDOUT;
    break;
  }
  case LUA_TNUMBER:
    if (lua_isinteger(L, v)) {
      lua_Integer n = lua_tointeger(L, v);
      if (n < 0 || n > 0x7fffffff || fcntl((int)n, F_GETFD) == -1)
        return luaio_argerror_in(L, oidx, fname, lua_pushfstring(L, "%s: %I is not an open file "
                                 "descriptor", stdio_names[i], n));
      *fd = (int)n;
      return IO_FD;
    }
    break;
  case LUA_TUSERDATA: {
    luaL_Stream *ls = luaL_testudata(L, v, LUA_FILEHANDLE);
    if (!ls) break;
    if (!ls->closef || !ls->f)
      return luaio_argerror_in(L, oidx, fname, lua_pushfstring(L, "%s: the file is closed",
                               stdio_names[i]));
    fflush(ls->f); /* what the script wrote comes before what the child writes */
    *fd = fileno(ls->f);
    return IO_FD;
  }
  default: break;
  }
  return luaio_argerror_in(L, oidx, fname, lua_pushfstring(L, "%s must be 'pipe', 'inherit', "
                           "'null'%s, an open file or a file descriptor, got %s", stdio_names[i],
                           i == 2 ? ", 'stdout'" : "", lua_type(L, v) == LUA_TSTRING ?
                           lua_pushfstring(L, "'%s'", lua_tostring(L, v)) : luaL_typename(L, v)));
}

/* a string without NUL bytes at the top of the stack (numbers are converted) */
static const char *check_cstring(lua_State *L, int argn, const char *fname, const char *what) {
  size_t len;
  int t = lua_type(L, -1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    luaio_argerror_in(L, argn, fname, lua_pushfstring(L, "%s: string expected, got %s", what,
                      luaL_typename(L, -1)));
  const char *s = lua_tolstring(L, -1, &len);
  if (strlen(s) != len)
    luaio_argerror_in(L, argn, fname, lua_pushfstring(L, "%s: contains a zero byte", what));
  return s;
}

/* Spawns program with the argv strings at the top `nargv` slots of scratch table sidx.
 * Pushes the Process. `oidx`: the opts table (or 0). */
static int spawn(lua_State *L, const char *fname, const char *file, int sidx, int nargv, int oidx) {
  luaio_runtime *rt = luaio_rt(L);
  pstate *ps = get_state(L);
  static const char *const keys[] = {"stdin", "stdout", "stderr", "cwd", "env", "limit", NULL};
  if (oidx) luaio_check_opts(L, oidx, fname, keys);
  int mode[3], fds[3];
  const char *cwd = NULL;
  lua_Integer limit = DEFAULT_LIMIT;
  char **env = NULL;
  int nenv = 0;
  int has_opts = oidx && lua_istable(L, oidx);
  for (int i = 0; i < 3; i++) {
    if (has_opts) lua_getfield(L, oidx, stdio_names[i]);
    else lua_pushnil(L);
    mode[i] = check_stdio(L, oidx ? oidx : 1, i, fname, &fds[i]);
    lua_pop(L, 1);
  }
  if (has_opts) {
    if (lua_getfield(L, oidx, "cwd") != LUA_TNIL) {
      if (lua_type(L, -1) != LUA_TSTRING)
        return luaio_argerror_in(L, oidx, fname, lua_pushfstring(L, "cwd must be a string, got %s",
                                 luaL_typename(L, -1)));
      cwd = check_cstring(L, oidx, fname, "cwd"); /* kept by the opts table */
    }
    lua_pop(L, 1);
    if (lua_getfield(L, oidx, "limit") != LUA_TNIL) {
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) <= 0)
        return luaio_argerror_in(L, oidx, fname, "limit must be a positive integer");
      limit = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    if (lua_getfield(L, oidx, "env") != LUA_TNIL) {
      if (!lua_istable(L, -1))
        return luaio_argerror_in(L, oidx, fname, lua_pushfstring(L, "env must be a table, got %s",
                                 luaL_typename(L, -1)));
      int eidx = lua_gettop(L);
      lua_newtable(L); /* the "K=V" strings */
      int kidx = lua_gettop(L);
      lua_pushnil(L);
      while (lua_next(L, eidx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
          return luaio_argerror_in(L, oidx, fname, lua_pushfstring(L, "env: keys must be strings, "
                                   "got %s", luaL_typename(L, -2)));
        const char *k = lua_tostring(L, -2);
        if (!*k || strchr(k, '=') || strlen(k) != lua_rawlen(L, -2))
          return luaio_argerror_in(L, oidx, fname, lua_pushfstring(L, "env: invalid variable "
                                   "name '%s'", k));
        char what[64];
        snprintf(what, sizeof what, "env.%.40s", k);
        const char *v = check_cstring(L, oidx, fname, what);
        lua_pushfstring(L, "%s=%s", k, v);
        lua_rawseti(L, kidx, ++nenv);
        lua_pop(L, 1);
      }
      env = lua_newuserdatauv(L, sizeof(char *) * (size_t)(nenv + 1), 0);
      for (int i = 0; i < nenv; i++) {
        lua_rawgeti(L, kidx, i + 1);
        env[i] = (char *)lua_tostring(L, -1); /* kept by the table kidx */
        lua_pop(L, 1);
      }
      env[nenv] = NULL;
      lua_rawseti(L, sidx, nargv + 3);
      lua_rawseti(L, sidx, nargv + 4);
    }
    lua_pop(L, 1);
  }
  char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(nargv + 1), 0);
  for (int i = 0; i < nargv; i++) {
    lua_rawgeti(L, sidx, i + 1);
    argv[i] = (char *)lua_tostring(L, -1); /* kept by the scratch table */
    lua_pop(L, 1);
  }
  argv[nargv] = NULL;

  /* the Process, then the pipes (each handed to its Lua objects at once: an error later
   * leaves nothing but garbage for the collector); the child ends wait in a guard that
   * closes them however this function ends */
  pbox *box = lua_newuserdatauv(L, sizeof *box, 3);
  box->p = NULL;
  luaL_setmetatable(L, LUAIO_PROCESS);
  int bidx = lua_gettop(L);
  fdguard *g = lua_newuserdatauv(L, sizeof *g, 0);
  g->fds[0] = g->fds[1] = g->fds[2] = -1;
  luaL_setmetatable(L, FDGUARD);
  lua_toclose(L, -1);
  luaio_stream *streams[3] = {NULL, NULL, NULL};
  uv_stdio_container_t stdio[3];
  for (int i = 0; i < 3; i++) {
    if (mode[i] == IO_PIPE) {
      luaio_stream *s = luaio_stream_new(rt, SK_PIPE, (size_t)limit);
      if (!s) return luaL_error(L, "not enough memory");
      /* stdin is a socket pair, so write_eof() (a shutdown) ends the child's input;
       * stdout and stderr are pipes */
      uv_file pfd[2];
      int err = i == 0 ? uv_socketpair(SOCK_STREAM, 0, pfd, 0, 0) : uv_pipe(pfd, 0, 0);
      if (!err) {
        int mine = i == 0 ? pfd[1] : pfd[0];
        g->fds[i] = i == 0 ? pfd[0] : pfd[1];
        if (i == 0) shutdown(mine, SHUT_RD); /* the parent only writes */
#ifdef F_SETPIPE_SZ
        else (void)fcntl(mine, F_SETPIPE_SZ, PIPE_SIZE); /* fewer, larger reads */
#endif
        err = uv_pipe_open(&s->u.pipe, mine);
        if (err) close(mine);
      }
      if (err) {
        luaio_stream_abandon(s);
        return luaio_raise_oserror(L, err, "pipe");
      }
      if (i == 0) s->eof = 1; /* the parent only writes to the child's stdin: no reading */
      luaio_stream_push_pair(L, s);                  /* reader, writer */
      if (i == 0) lua_remove(L, -2);                 /* stdin: the writer */
      else lua_pop(L, 1);                            /* stdout, stderr: the reader */
      lua_setiuservalue(L, bidx, i + 1);
      streams[i] = s;
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = g->fds[i];
    } else if (mode[i] == IO_NULL) {
      stdio[i].flags = UV_IGNORE; /* libuv opens /dev/null for 0, 1 and 2 */
    } else if (mode[i] == IO_STDOUT) {
      stdio[i] = stdio[1];
    } else {
      stdio[i].flags = UV_INHERIT_FD;
      stdio[i].data.fd = fds[i];
    }
  }
  proc *p = calloc(1, sizeof *p);
  if (!p) return luaL_error(L, "not enough memory");
  p->h.data = p;
  p->ps = ps;
  luaio_list_init(&p->waiters);
  luaio_list_append(&ps->procs, &p->lnode);
  uv_process_options_t o;
  memset(&o, 0, sizeof o);
  o.exit_cb = exit_cb;
  o.file = file;
  o.args = argv;
  o.env = env;
  o.cwd = cwd;
  o.stdio_count = 3;
  o.stdio = stdio;
  int err = uv_spawn(rt->loop, &p->h, &o);
  if (err) {
    start_close(p); /* the handle was initialised: closed, then freed (no owner) */
    for (int i = 0; i < 3; i++) if (streams[i]) luaio_stream_close(streams[i]);
    return luaio_raise_oserror(L, err, file);
  }
  p->pid = p->h.pid;
  p->owned = 1;
  box->p = p;
  guard_close(g); /* the child has its copies */
  luaio_resource_open(L, rt, bidx, &process_resource, 0);
  lua_pushvalue(L, bidx);
  return 1;
}

/* create_subprocess_exec(program, args [, opts]) */
static int l_exec(lua_State *L) {
  const char *fname = "create_subprocess_exec";
  luaio_check_task(L, fname);
  const char *file = luaio_checkstring(L, 1);
  if (!*file) return luaio_argerror(L, 1, "program must not be empty");
  if (strlen(file) != lua_rawlen(L, 1)) return luaio_argerror(L, 1, "contains a zero byte");
  if (!lua_isnoneornil(L, 2) && !lua_istable(L, 2)) return luaio_typeerror(L, 2, "table");
  if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3)) return luaio_typeerror(L, 3, "table");
  lua_settop(L, 3);
  lua_Integer n = lua_istable(L, 2) ? luaL_len(L, 2) : 0;
  if (n > 1000000) return luaio_argerror(L, 2, "too many arguments");
  lua_createtable(L, (int)n + 4, 0);
  int sidx = lua_gettop(L);
  lua_pushvalue(L, 1);
  lua_rawseti(L, sidx, 1);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    char what[48];
    snprintf(what, sizeof what, "argument %lld", (long long)i);
    check_cstring(L, 2, fname, what);
    lua_rawseti(L, sidx, (int)i + 1);
  }
  return spawn(L, fname, file, sidx, (int)n + 1, lua_istable(L, 3) ? 3 : 0);
}

/* create_subprocess_shell(cmd [, opts]) */
static int l_shell(lua_State *L) {
  const char *fname = "create_subprocess_shell";
  luaio_check_task(L, fname);
  size_t len;
  const char *cmd = luaio_checklstring(L, 1, &len);
  if (strlen(cmd) != len) return luaio_argerror(L, 1, "contains a zero byte");
  if (!lua_isnoneornil(L, 2) && !lua_istable(L, 2)) return luaio_typeerror(L, 2, "table");
  lua_settop(L, 2);
  lua_createtable(L, 7, 0);
  int sidx = lua_gettop(L);
  lua_pushliteral(L, "/bin/sh");
  lua_rawseti(L, sidx, 1);
  lua_pushliteral(L, "-c");
  lua_rawseti(L, sidx, 2);
  lua_pushvalue(L, 1);
  lua_rawseti(L, sidx, 3);
  return spawn(L, fname, "/bin/sh", sidx, 3, lua_istable(L, 2) ? 2 : 0);
}

/* ---- Process ---- */
static int wait_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  luaio_raise_if_cancelled(L, luaio_rt(L)->current);
  return push_returncode(L, check_proc(L, 1));
}

static int park_exit(lua_State *L, proc *p, const char *fname) {
  luaio_task *t = luaio_check_suspend(L, fname);
  luaio_list_append(&p->waiters, &t->node);
  return luaio_park(L, t, &exit_wait, 1, wait_k);
}

static int p_wait(lua_State *L) {
  proc *p = check_proc(L, 1);
  luaio_check_task(L, "wait");
  lua_settop(L, 1);
  if (p->exited) return push_returncode(L, p);
  return park_exit(L, p, "wait");
}

static void do_kill(lua_State *L, proc *p, int sig) {
  if (p->exited || p->close_started || uv_is_closing((uv_handle_t *)&p->h)) return;
  int err = uv_process_kill(&p->h, sig);
  if (err && err != UV_ESRCH) luaio_raise_oserror(L, err, "kill");
}

static int p_send_signal(lua_State *L) {
  proc *p = check_proc(L, 1);
  int sig = luaio_check_signal(L, 2, 0, 1);
  do_kill(L, p, sig);
  return 0;
}

static int p_terminate(lua_State *L) { do_kill(L, check_proc(L, 1), SIGTERM); return 0; }
static int p_kill(lua_State *L) { do_kill(L, check_proc(L, 1), SIGKILL); return 0; }

/* <close>: a child still running is killed and waited for (inside a task) */
static int p_close(lua_State *L) {
  proc *p = check_proc(L, 1);
  lua_settop(L, 1);
  if (p->exited) return 0;
  do_kill(L, p, SIGKILL);
  luaio_runtime *rt = luaio_rt(L);
  if (!rt->current || rt->current->co != L || !lua_isyieldable(L)) return 0;
  return park_exit(L, p, "close");
}

static int p_gc(lua_State *L) {
  pbox *b = lua_touserdata(L, 1);
  proc *p = b->p;
  if (!p) return 0;
  b->p = NULL;
  p->owned = 0;
  luaio_list_init(&p->waiters); /* none can exist: they hold the Process */
  if (p->closed) proc_free(p);
  else if (p->close_started) return 0;       /* close_cb frees it */
  else if (uv_is_closing((uv_handle_t *)&p->h)) proc_free(p); /* closed by the runtime's walk */
  /* else running: exit_cb closes the handle and close_cb frees it */
  return 0;
}

static int p_index(lua_State *L) {
  pbox *b = luaio_checkudata(L, 1, LUAIO_PROCESS);
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (strcmp(k, "pid") == 0) {
      if (b->p) lua_pushinteger(L, b->p->pid);
      else lua_pushnil(L);
      return 1;
    }
    if (strcmp(k, "returncode") == 0) {
      if (b->p) return push_returncode(L, b->p);
      lua_pushnil(L);
      return 1;
    }
    for (int i = 0; i < 3; i++)
      if (strcmp(k, stdio_names[i]) == 0) { lua_getiuservalue(L, 1, i + 1); return 1; }
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(2));
  return 1;
}

static int p_tostring(lua_State *L) {
  pbox *b = luaio_checkudata(L, 1, LUAIO_PROCESS);
  proc *p = b->p;
  if (!p) lua_pushliteral(L, "Process (collected)");
  else if (!p->exited) lua_pushfstring(L, "Process<pid %d running>", p->pid);
  else {
    push_returncode(L, p);
    lua_pushfstring(L, "Process<pid %d returncode %d>", p->pid, (int)lua_tointeger(L, -1));
  }
  return 1;
}

/* The runtime's state goes (luaio_close, or lua_close): every process handle still open is
 * closed before the runtime closes its loop (the children are left running, unreaped). */
static int state_gc(lua_State *L) {
  pstate *ps = lua_touserdata(L, 1);
  while (!luaio_list_empty(&ps->procs)) {
    proc *p = luaio_container(ps->procs.next, proc, lnode);
    luaio_list_unlink(&p->lnode);
    p->ps = NULL;
    start_close(p);
  }
  luaio_part_state_forget(L, &key_state, ps);
  return 0;
}

void luaio_process_open(lua_State *L, luaio_runtime *rt) {
  luaio_wait_kind_register(rt, &exit_wait);
  luaio_resource_kind_register(rt, &process_resource);
  if (luaL_newmetatable(L, FDGUARD)) {
    lua_pushcfunction(L, fdguard_close);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, fdguard_close);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, PSTATE)) {
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  pstate *ps = luaio_part_state_new(L, rt, &key_state, sizeof *ps, PSTATE);
  luaio_list_init(&ps->procs);

  /* Process: fields through __index, methods in a table (also `__methods`, and given to
   * the Lua layer as aio._process_methods for communicate) */
  static const luaL_Reg methods[] = {
    {"wait", p_wait}, {"send_signal", p_send_signal}, {"terminate", p_terminate},
    {"kill", p_kill}, {NULL, NULL}
  };
  static const luaL_Reg meta[] = {
    {"__close", p_close}, {"__gc", p_gc}, {"__tostring", p_tostring}, {NULL, NULL}
  };
  luaL_newmetatable(L, LUAIO_PROCESS);
  luaio_register(L, meta, rt);
  lua_newtable(L);
  luaio_register(L, methods, rt);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__methods");
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "_process_methods"); /* the module table is below the metatable */
  lua_pushlightuserdata(L, rt);
  lua_insert(L, -2);
  lua_pushcclosure(L, p_index, 2);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  static const luaL_Reg funcs[] = {
    {"create_subprocess_exec", l_exec}, {"create_subprocess_shell", l_shell}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
