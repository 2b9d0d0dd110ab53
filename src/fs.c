/* fs.c — aio.fs: one-shot file-system calls (stat, mkdir, rename, ...) and read_file,
 * each a libuv uv_fs_* request made on behalf of the calling task, which waits for its
 * callback. A request is malloc'd and owned by C until its callback: a task cancelled
 * meanwhile leaves it to the callback, which frees it (read_file first closes the file it
 * opened). A request whose task is still waiting is handed to it (a light userdata pushed
 * on its stack) and the continuation frees it after reading the result.
 * lua/luaio/fs.lua adds the policy: readdir's order, makedirs, write_file, watch. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fs.h"
#include "task.h"
#include "list.h"
#include "stream.h"

#define MKDTEMP_SUFFIX "XX" "XX" "XX" /* mkdtemp's template: six X */

#define READ_MIN 65536

enum {
  C_STAT, C_LSTAT, C_READDIR, C_MKDIR, C_RMDIR, C_UNLINK, C_RENAME, C_COPYFILE, C_SYMLINK,
  C_READLINK, C_REALPATH, C_CHMOD, C_UTIME, C_MKDTEMP, C_READFILE
};
static const char *const call_names[] = {
  "stat", "lstat", "readdir", "mkdir", "rmdir", "unlink", "rename", "copyfile", "symlink",
  "readlink", "realpath", "chmod", "utime", "mkdtemp", "read_file"
};

/* read_file's steps */
enum { RF_OPEN = 1, RF_FSTAT, RF_READ, RF_CLOSE };

typedef struct fsreq {
  uv_fs_t req;
  luaio_runtime *rt;
  luaio_node waiter;      /* the task waiting for the result */
  int call;
  /* read_file */
  int stage;
  int err;                /* the first failure */
  uv_file fd;
  char *buf;
  size_t len, cap, size;  /* size: the file's size when it is a regular file, else 0 */
  uv_buf_t iov;
} fsreq;

/* "a file system call": cancelling is the default (the request completes into nothing) */
static const luaio_wait_kind call_wait = {"a file system call", NULL, NULL, 1};

int luaio_fs_raise(lua_State *L, int err, const char *op, const char *path) {
  if (path) lua_pushfstring(L, "%s %s", op, path);
  else lua_pushstring(L, op);
  return luaio_raise_oserror(L, err, lua_tostring(L, -1));
}

static const char *type_name(uint64_t mode) {
  switch (mode & S_IFMT) {
  case S_IFREG: return "file";
  case S_IFDIR: return "directory";
  case S_IFLNK: return "link";
  case S_IFIFO: return "fifo";
  case S_IFSOCK: return "socket";
  case S_IFCHR: return "char";
  case S_IFBLK: return "block";
  default: return "unknown";
  }
}

static void set_time(lua_State *L, const char *k, uv_timespec_t ts) {
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

void luaio_fs_push_stat(lua_State *L, const uv_stat_t *st) {
  lua_createtable(L, 0, 11);
  set_int(L, "size", st->st_size);
  set_int(L, "mode", st->st_mode & 07777);
  lua_pushstring(L, type_name(st->st_mode));
  lua_setfield(L, -2, "type");
  set_time(L, "mtime", st->st_mtim);
  set_time(L, "atime", st->st_atim);
  set_time(L, "ctime", st->st_ctim);
  set_int(L, "uid", st->st_uid);
  set_int(L, "gid", st->st_gid);
  set_int(L, "ino", st->st_ino);
  set_int(L, "dev", st->st_dev);
  set_int(L, "nlink", st->st_nlink);
}

static const char *dirent_type(uv_dirent_type_t t) {
  switch (t) {
  case UV_DIRENT_FILE: return "file";
  case UV_DIRENT_DIR: return "directory";
  case UV_DIRENT_LINK: return "link";
  case UV_DIRENT_FIFO: return "fifo";
  case UV_DIRENT_SOCKET: return "socket";
  case UV_DIRENT_CHAR: return "char";
  case UV_DIRENT_BLOCK: return "block";
  default: return "unknown";
  }
}

/* ---- requests ---- */
static void req_free(fsreq *r) {
  uv_fs_req_cleanup(&r->req);
  free(r->buf);
  free(r);
}

/* The request is done: to its task, or freed when nobody waits any more. */
static void finish(fsreq *r) {
  if (!luaio_list_empty(&r->waiter)) {
    luaio_task *t = luaio_container(r->waiter.next, luaio_task, node);
    if (r->rt && !r->rt->closing) {
      lua_pushlightuserdata(t->co, r); /* a parked call keeps LUA_MINSTACK free slots */
      t->nargs = 1;
      luaio_wake(r->rt, t);
      return;
    }
    luaio_list_unlink(&t->node);
  }
  req_free(r);
}

static void call_cb(uv_fs_t *req) { finish(luaio_container(req, fsreq, req)); }

/* read_file: open, fstat, read until the size (or end of file), close — chained here */
static void rf_cb(uv_fs_t *req);

static void rf_close(fsreq *r) {
  uv_loop_t *loop = r->req.loop;
  uv_fs_req_cleanup(&r->req);
  if (r->fd < 0) { finish(r); return; }
  r->stage = RF_CLOSE;
  uv_file fd = r->fd;
  r->fd = -1;
  if (uv_fs_close(loop, &r->req, fd, rf_cb) != 0) finish(r);
}

static void rf_read(fsreq *r) {
  uv_loop_t *loop = r->req.loop;
  uv_fs_req_cleanup(&r->req);
  if (r->len == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : READ_MIN;
    char *p = realloc(r->buf, cap);
    if (!p) { r->err = UV_ENOMEM; rf_close(r); return; }
    r->buf = p;
    r->cap = cap;
  }
  size_t room = r->cap - r->len;
  if (room > 0x7fffffff) room = 0x7fffffff;
  r->iov = uv_buf_init(r->buf + r->len, (unsigned)room);
  r->stage = RF_READ;
  int err = uv_fs_read(loop, &r->req, r->fd, &r->iov, 1, (int64_t)r->len, rf_cb);
  if (err) { r->err = err; rf_close(r); }
}

static void rf_cb(uv_fs_t *req) {
  fsreq *r = luaio_container(req, fsreq, req);
  ssize_t res = req->result;
  switch (r->stage) {
  case RF_OPEN:
    if (res < 0) { r->err = (int)res; uv_fs_req_cleanup(req); finish(r); return; }
    r->fd = (uv_file)res;
    uv_fs_req_cleanup(req);
    r->stage = RF_FSTAT;
    if ((r->err = uv_fs_fstat(req->loop, req, r->fd, rf_cb)) != 0) rf_close(r);
    return;
  case RF_FSTAT:
    if (res < 0) { r->err = (int)res; rf_close(r); return; }
    if ((req->statbuf.st_mode & S_IFMT) == S_IFREG) r->size = (size_t)req->statbuf.st_size;
    if (r->size > 0) { /* the whole file in one read when it does not grow */
      r->buf = malloc(r->size);
      if (!r->buf) { r->err = UV_ENOMEM; rf_close(r); return; }
      r->cap = r->size;
    }
    rf_read(r);
    return;
  case RF_READ:
    if (res < 0) { r->err = (int)res; rf_close(r); return; }
    r->len += (size_t)res;
    if (res == 0 || (r->size > 0 && r->len >= r->size)) { rf_close(r); return; }
    rf_read(r);
    return;
  default: /* RF_CLOSE */
    if (res < 0 && !r->err) r->err = (int)res;
    uv_fs_req_cleanup(req);
    finish(r);
  }
}

/* ---- the calls ---- */
static int call_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_task *t = luaio_rt(L)->current;
  fsreq *r = lua_gettop(L) > (int)ctx ? lua_touserdata(L, -1) : NULL;
  if (luaio_take_wake_cancel(t)) {
    if (r) req_free(r);
    return luaio_raise_cancelled(L, t);
  }
  lua_pop(L, 1);
  int call = r->call;
  ssize_t res = r->req.result;
  int err = call == C_READFILE ? r->err : res < 0 ? (int)res : 0;
  if (err) {
    /* the message names the path (both paths for the two-path calls) */
    req_free(r);
    if (call == C_RENAME || call == C_COPYFILE || call == C_SYMLINK)
      lua_pushfstring(L, "%s -> %s", lua_tostring(L, 1), lua_tostring(L, 2));
    else
      lua_pushvalue(L, 1);
    return luaio_fs_raise(L, err, call_names[call], lua_tostring(L, -1));
  }
  int n = 0;
  switch (call) {
  case C_STAT: case C_LSTAT:
    luaio_fs_push_stat(L, &r->req.statbuf);
    n = 1;
    break;
  case C_READDIR: {
    uv_dirent_t ent;
    lua_newtable(L);
    lua_Integer i = 0;
    while (uv_fs_scandir_next(&r->req, &ent) == 0) {
      lua_createtable(L, 0, 2);
      lua_pushstring(L, ent.name);
      lua_setfield(L, -2, "name");
      lua_pushstring(L, dirent_type(ent.type));
      lua_setfield(L, -2, "type");
      lua_rawseti(L, -2, ++i);
    }
    n = 1;
    break;
  }
  case C_READLINK: case C_REALPATH:
    lua_pushstring(L, r->req.ptr);
    n = 1;
    break;
  case C_MKDTEMP:
    lua_pushstring(L, r->req.path);
    n = 1;
    break;
  case C_READFILE:
    lua_pushlstring(L, r->buf ? r->buf : "", r->len);
    n = 1;
    break;
  default:
    break;
  }
  req_free(r);
  return n;
}

static const char *check_path(lua_State *L, int arg) {
  size_t len;
  const char *p = luaio_checklstring(L, arg, &len);
  luaio_argcheck(L, strlen(p) == len, arg, "path contains a zero byte");
  return p;
}

static int check_perm(lua_State *L, int arg, int def, int required) {
  lua_Integer perm = required ? luaio_checkinteger(L, arg) : luaio_optinteger(L, arg, def);
  luaio_argcheck(L, perm >= 0 && perm <= 07777, arg, "perm must be a mode from 0 to 0o7777");
  return (int)perm;
}

/* Issues the call: path1 (and path2), then waits for it. */
static int issue(lua_State *L, int call) {
  const char *p1 = NULL, *p2 = NULL;
  int perm = 0;
  double at = 0, mt = 0;
  switch (call) {
  case C_RENAME: case C_COPYFILE: case C_SYMLINK:
    p1 = check_path(L, 1);
    p2 = check_path(L, 2);
    break;
  case C_MKDIR:
    p1 = check_path(L, 1);
    perm = check_perm(L, 2, 0777, 0);
    break;
  case C_CHMOD:
    p1 = check_path(L, 1);
    perm = check_perm(L, 2, 0, 1);
    break;
  case C_UTIME:
    p1 = check_path(L, 1);
    at = (double)luaio_checknumber(L, 2);
    mt = (double)luaio_checknumber(L, 3);
    break;
  default:
    p1 = check_path(L, 1);
  }
  luaio_task *t = luaio_check_suspend(L, call_names[call]);
  luaio_runtime *rt = luaio_rt(L);
  if (call == C_MKDTEMP) { /* the prefix, then the six characters mkdtemp replaces */
    lua_pushfstring(L, "%s%s", p1, MKDTEMP_SUFFIX);
    p1 = lua_tostring(L, -1);
  }
  fsreq *r = calloc(1, sizeof *r);
  if (!r) return luaL_error(L, "not enough memory");
  r->rt = rt;
  r->call = call;
  r->fd = -1;
  luaio_list_init(&r->waiter);
  uv_loop_t *loop = rt->loop;
  int err;
  switch (call) {
  case C_STAT: err = uv_fs_stat(loop, &r->req, p1, call_cb); break;
  case C_LSTAT: err = uv_fs_lstat(loop, &r->req, p1, call_cb); break;
  case C_READDIR: err = uv_fs_scandir(loop, &r->req, p1, 0, call_cb); break;
  case C_MKDIR: err = uv_fs_mkdir(loop, &r->req, p1, perm, call_cb); break;
  case C_RMDIR: err = uv_fs_rmdir(loop, &r->req, p1, call_cb); break;
  case C_UNLINK: err = uv_fs_unlink(loop, &r->req, p1, call_cb); break;
  case C_RENAME: err = uv_fs_rename(loop, &r->req, p1, p2, call_cb); break;
  case C_COPYFILE: err = uv_fs_copyfile(loop, &r->req, p1, p2, 0, call_cb); break;
  case C_SYMLINK: err = uv_fs_symlink(loop, &r->req, p1, p2, 0, call_cb); break;
  case C_READLINK: err = uv_fs_readlink(loop, &r->req, p1, call_cb); break;
  case C_REALPATH: err = uv_fs_realpath(loop, &r->req, p1, call_cb); break;
  case C_CHMOD: err = uv_fs_chmod(loop, &r->req, p1, perm, call_cb); break;
  case C_UTIME: err = uv_fs_utime(loop, &r->req, p1, at, mt, call_cb); break;
  case C_MKDTEMP: err = uv_fs_mkdtemp(loop, &r->req, p1, call_cb); break;
  default: /* C_READFILE */
    r->stage = RF_OPEN;
    err = uv_fs_open(loop, &r->req, p1, UV_FS_O_RDONLY, 0, rf_cb);
  }
  if (err) {
    req_free(r);
    return luaio_fs_raise(L, err, call_names[call], p1);
  }
  /* the waited object (for dumps): the path; the request arrives above it */
  lua_pushstring(L, p1);
  luaio_list_append(&r->waiter, &t->node);
  return luaio_park(L, t, &call_wait, lua_gettop(L), call_k);
}

static int l_stat(lua_State *L) { return issue(L, C_STAT); }
static int l_lstat(lua_State *L) { return issue(L, C_LSTAT); }
static int l_readdir(lua_State *L) { return issue(L, C_READDIR); }
static int l_mkdir(lua_State *L) { return issue(L, C_MKDIR); }
static int l_rmdir(lua_State *L) { return issue(L, C_RMDIR); }
static int l_unlink(lua_State *L) { return issue(L, C_UNLINK); }
static int l_rename(lua_State *L) { return issue(L, C_RENAME); }
static int l_copyfile(lua_State *L) { return issue(L, C_COPYFILE); }
static int l_symlink(lua_State *L) { return issue(L, C_SYMLINK); }
static int l_readlink(lua_State *L) { return issue(L, C_READLINK); }
static int l_realpath(lua_State *L) { return issue(L, C_REALPATH); }
static int l_chmod(lua_State *L) { return issue(L, C_CHMOD); }
static int l_utime(lua_State *L) { return issue(L, C_UTIME); }
static int l_mkdtemp(lua_State *L) { return issue(L, C_MKDTEMP); }
static int l_read_file(lua_State *L) { return issue(L, C_READFILE); }

void luaio_fs_open(lua_State *L, luaio_runtime *rt) {
  static const luaL_Reg funcs[] = {
    {"stat", l_stat}, {"lstat", l_lstat}, {"readdir", l_readdir}, {"mkdir", l_mkdir},
    {"rmdir", l_rmdir}, {"unlink", l_unlink}, {"rename", l_rename}, {"copyfile", l_copyfile},
    {"symlink", l_symlink}, {"readlink", l_readlink}, {"realpath", l_realpath},
    {"chmod", l_chmod}, {"utime", l_utime}, {"mkdtemp", l_mkdtemp},
    {"read_file", l_read_file}, {NULL, NULL}
  };
  luaio_wait_kind_register(rt, &call_wait);
  lua_newtable(L);
  luaio_register(L, funcs, rt);
  lua_setfield(L, -2, "fs");
}
