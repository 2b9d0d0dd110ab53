/* file.c — File (aio.open): an open file whose reads, writes, seeks and closes run on
 * libuv's file-system requests, so a slow disk never blocks the loop. Reads accept io's
 * formats and answer exactly as io does on the same bytes.
 *
 * The C state is malloc'd, never inside the userdata: a request in flight (a read filling
 * the buffer, a write sending a copy of the data) may complete after the task that made
 * it was cancelled and after the File was collected. Each File has one uv_fs_t and at most
 * one request in flight; the callback applies the result to the state (bytes read join the
 * buffer, so a cancelled read loses nothing) and only then wakes the task waiting on it.
 * One task at a time runs an operation on a File (its "user"); others wait their turn.
 * A collected File is closed by an asynchronous uv_fs_close made from its __gc (after the
 * request in flight, if any), and freed in that request's callback: no Lua code runs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <locale.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include "file.h"
#include "resources.h"
#include "fs.h"
#include "task.h"
#include "list.h"

#define CHUNK 65536               /* the least a read asks the system for */
#define READ_AHEAD 262144         /* a read of a byte count asks the system for at least this */
#define KEEP_CAP (256 * 1024)     /* an emptied read buffer bigger than this is given back */
#define MAXLENNUM 200             /* io's longest numeral ("n") */
#define MAXFORMATS 250            /* io's limit on lines() formats */
#define DEFAULT_PERM 0666

enum { OP_NONE = 0, OP_OPEN, OP_READ, OP_WRITE, OP_FSTAT, OP_FSYNC, OP_CLOSE, OP_CLOSE_QUIET };

typedef struct lfile {
  uv_fs_t req;             /* the one request in flight (busy) */
  uv_loop_t *loop;
  luaio_runtime *rt;       /* NULL once the userdata is gone */
  char *path;
  uv_file fd;              /* -1 until opened and once closed */
  char *buf;               /* read buffer: bytes [off, off + len) are read but not taken */
  size_t off, len, cap;
  size_t scan;             /* "l": bytes of the buffer searched for "\n" so far */
  char *wbuf;              /* the data of the write under way */
  size_t wlen, wdone;
  uv_buf_t iov;
  uv_stat_t st;            /* the last fstat */
  luaio_task *user;        /* the task in the middle of an operation */
  luaio_node waiter;       /* the task waiting on the request in flight */
  luaio_node turn;         /* tasks waiting for the user to finish */
  int err;                 /* failure of the last request (libuv code), taken by the user */
  unsigned char op;        /* what the request in flight does */
  unsigned char busy;      /* a request is in flight */
  unsigned char eof;       /* a read returned 0 (within the current operation) */
  unsigned char orphan;    /* the userdata is gone: close, then free */
  unsigned char close_pending; /* close() was asked where it could not wait */
  unsigned char opened;    /* the open succeeded */
} lfile;

typedef struct fref { lfile *f; } fref;

/* wait kinds: a read, any other operation (and a turn), an open */
static const luaio_wait_kind read_wait = {"a file read", NULL, NULL, 1};
static const luaio_wait_kind op_wait = {"a file operation", NULL, NULL, 1};

static void file_cb(uv_fs_t *req);

/* ---- lifetime ---- */
static void file_free(lfile *f) {
  free(f->buf);
  free(f->wbuf);
  free(f->path);
  free(f);
}

static void quiet_close_cb(uv_fs_t *req) {
  lfile *f = luaio_container(req, lfile, req);
  uv_fs_req_cleanup(req);
  f->busy = 0;
  if (f->orphan) { file_free(f); return; }
  /* a task may wait for its turn: it will see the file closed */
  if (f->rt && !f->rt->closing && !f->user && !luaio_list_empty(&f->turn))
    luaio_wake(f->rt, luaio_container(f->turn.next, luaio_task, node));
}

/* Closes the descriptor without anyone waiting (a collected File, close() outside a task),
 * as soon as no request is in flight. Returns 1 if it has nothing more to do. */
static int close_quietly(lfile *f) {
  if (f->busy) return 0;
  if (f->fd < 0) return 1;
  uv_file fd = f->fd;
  f->fd = -1;
  f->op = OP_CLOSE_QUIET;
  if (f->loop && uv_fs_close(f->loop, &f->req, fd, quiet_close_cb) == 0) {
    f->busy = 1;
    return 0;
  }
  uv_fs_t req; /* no loop any more (the runtime was released): close in place */
  uv_fs_close(NULL, &req, fd, NULL);
  uv_fs_req_cleanup(&req);
  return 1;
}

static int can_wake(lfile *f) { return f->rt && !f->rt->closing; }

/* Hands the file to the first task waiting for its turn once nobody uses it. */
static void pass_turn(lfile *f) {
  if (f->user || f->busy || !can_wake(f) || luaio_list_empty(&f->turn)) return;
  luaio_wake(f->rt, luaio_container(f->turn.next, luaio_task, node));
}

/* The end of an operation (done, failed or cancelled). */
static void release(lfile *f, luaio_task *t) {
  if (f->user == t) f->user = NULL;
  if (!f->busy && f->wbuf) { free(f->wbuf); f->wbuf = NULL; }
  if (f->close_pending && !f->user) close_quietly(f);
  pass_turn(f);
}

static void file_cb(uv_fs_t *req) {
  lfile *f = luaio_container(req, lfile, req);
  ssize_t r = req->result;
  int op = f->op;
  if (op == OP_FSTAT && r >= 0) f->st = req->statbuf;
  uv_fs_req_cleanup(req);
  f->busy = 0;
  f->op = OP_NONE;
  switch (op) {
  case OP_OPEN:
    if (r >= 0) { f->fd = (uv_file)r; f->opened = 1; }
    else f->err = (int)r;
    break;
  case OP_READ:
    if (r > 0) f->len += (size_t)r;
    else if (r == 0) f->eof = 1;
    else f->err = (int)r;
    break;
  case OP_WRITE:
    if (r >= 0) f->wdone += (size_t)r;
    else f->err = (int)r;
    break;
  default:
    if (r < 0) f->err = (int)r;
  }
  int waited = !luaio_list_empty(&f->waiter);
  if (f->orphan) { /* the userdata was collected meanwhile */
    if (close_quietly(f)) file_free(f);
    return;
  }
  if (waited && can_wake(f)) {
    luaio_wake(f->rt, luaio_container(f->waiter.next, luaio_task, node));
    return;
  }
  /* nobody waits: the operation was cancelled (its result stays in the state) */
  if (op == OP_WRITE && f->wbuf && f->user == NULL) { free(f->wbuf); f->wbuf = NULL; }
  if (f->close_pending && !f->user) close_quietly(f);
  pass_turn(f);
}

/* ---- access ---- */
static fref *toref(lua_State *L, int idx) { return luaio_checkudata(L, idx, LUAIO_FILE); }

static lfile *tofile(lua_State *L) {
  fref *r = toref(L, 1);
  if (!r->f) luaL_error(L, "File: used after it was collected");
  return r->f;
}

static int is_closed(lfile *f) { return f->fd < 0 || f->close_pending; }

static int raise_closed(lua_State *L, lfile *f, luaio_task *t) {
  release(f, t);
  return luaio_raise(L, "ValueError", "I/O operation on closed file %s", f->path);
}

static int raise_err(lua_State *L, lfile *f, luaio_task *t, int err, const char *op) {
  release(f, t);
  return luaio_fs_raise(L, err, op, f->path);
}

/* A method that suspends: needs a task also when it would not wait (as every luaio call). */
static lfile *begin(lua_State *L, const char *fname) {
  lfile *f = tofile(L);
  luaio_check_task(L, fname);
  return f;
}

/* Takes the file for the running task, or returns 0 when it must wait for its turn. */
static int acquire(lfile *f, luaio_task *t) {
  if (f->user == t) return 1;
  if (f->user || f->busy) return 0;
  f->user = t;
  f->eof = 0; /* a new operation reads again after an earlier end of file (tail -f) */
  f->err = 0; /* a failure of an abandoned request is nobody's */
  return 1;
}

/* a pending cancellation is delivered before a real suspension */
static void deliver_cancel(lua_State *L, lfile *f, luaio_task *t) {
  if (t->must_cancel) {
    t->must_cancel = 0;
    release(f, t);
    luaio_raise_cancelled(L, t);
  }
}

static int wait_turn(lua_State *L, lfile *f, luaio_task *t, lua_KFunction k) {
  deliver_cancel(L, f, t);
  luaio_list_append(&f->turn, &t->node);
  return luaio_park(L, t, &op_wait, 1, k);
}

/* After a request is issued: waits for its callback. */
static int wait_request(lua_State *L, lfile *f, luaio_task *t, const luaio_wait_kind *kind,
                        lua_KFunction k) {
  f->busy = 1;
  luaio_list_append(&f->waiter, &t->node);
  return luaio_park(L, t, kind, 1, k);
}

/* Every continuation starts here: a cancelled operation ends (its request, if still in
 * flight, completes into the state later). */
static lfile *resumed(lua_State *L) {
  lfile *f = toref(L, 1)->f;
  luaio_task *t = luaio_rt(L)->current;
  if (luaio_take_wake_cancel(t)) {
    release(f, t);
    luaio_raise_cancelled(L, t);
  }
  return f;
}

/* ---- the read buffer ---- */
static void consume(lfile *f, size_t n) {
  f->off += n;
  f->len -= n;
  f->scan = 0;
  if (f->len == 0) {
    f->off = 0;
    if (f->cap > KEEP_CAP) { free(f->buf); f->buf = NULL; f->cap = 0; }
  }
}

static void drop_buffer(lfile *f) {
  f->off = f->len = f->scan = 0;
  if (f->cap > KEEP_CAP) { free(f->buf); f->buf = NULL; f->cap = 0; }
}

/* Room for `want` more bytes after the buffered ones; 0 when memory is short. */
static int make_room(lfile *f, size_t want) {
  if (f->off + f->len + want <= f->cap) return 1;
  if (f->off > 0) {
    memmove(f->buf, f->buf + f->off, f->len);
    f->off = 0;
    if (f->len + want <= f->cap) return 1;
  }
  size_t cap = f->len + want;
  char *p = realloc(f->buf, cap);
  if (!p) return 0;
  f->buf = p;
  f->cap = cap;
  return 1;
}

static int read_k(lua_State *L, int status, lua_KContext ctx);
static int read_step(lua_State *L);

/* Reads more into the buffer (at least `want` bytes of room) and parks until it lands. */
static int fill(lua_State *L, lfile *f, luaio_task *t, size_t want) {
  deliver_cancel(L, f, t);
  if (!make_room(f, want)) { release(f, t); return luaL_error(L, "not enough memory"); }
  size_t room = f->cap - f->off - f->len;
  if (room > INT_MAX) room = INT_MAX;
  f->iov = uv_buf_init(f->buf + f->off + f->len, (unsigned)room);
  f->op = OP_READ;
  int err = uv_fs_read(f->loop, &f->req, f->fd, &f->iov, 1, -1, file_cb);
  if (err) return raise_err(L, f, t, err, "read");
  return wait_request(L, f, t, &read_wait, read_k);
}

/* ---- io's formats on the buffer ---- */
enum { FMT_DONE, FMT_FAIL, FMT_MORE };

/* "n": io's read_number on the buffer, which holds at least MAXLENNUM + 1 bytes or all
 * that is left. Consumes what io would (every accepted char, not the look-ahead). */
typedef struct rn { const char *p; size_t i, end; int c, n; char buff[MAXLENNUM + 1]; } rn;
static void rn_get(rn *r) { r->c = r->i < r->end ? (unsigned char)r->p[r->i] : EOF; }
static int nextc(rn *r) {
  if (r->n >= MAXLENNUM) { r->buff[0] = '\0'; return 0; }
  r->buff[r->n++] = (char)r->c;
  r->i++;
  rn_get(r);
  return 1;
}
static int test2(rn *r, const char *set) {
  if (r->c != EOF && (r->c == set[0] || r->c == set[1])) return nextc(r);
  return 0;
}
static int readdigits(rn *r, int hex) {
  int count = 0;
  while (r->c != EOF && (hex ? isxdigit(r->c) : isdigit(r->c)) && nextc(r)) count++;
  return count;
}

static int read_number(lua_State *L, lfile *f, size_t *want) {
  /* spaces first: any number of them */
  while (f->len > 0 && isspace((unsigned char)f->buf[f->off])) consume(f, 1);
  if (f->len == 0 && !f->eof) { *want = CHUNK; return FMT_MORE; }
  if (f->len <= MAXLENNUM && !f->eof) { *want = CHUNK; return FMT_MORE; }
  rn r;
  r.p = f->buf + f->off;
  r.i = 0;
  r.end = f->len;
  r.n = 0;
  rn_get(&r);
  char decp[2] = {lua_getlocaledecpoint(), '.'};
  int count = 0, hex = 0;
  test2(&r, "-+");
  if (test2(&r, "00")) {
    if (test2(&r, "xX")) hex = 1;
    else count = 1;
  }
  count += readdigits(&r, hex);
  if (test2(&r, decp)) count += readdigits(&r, hex);
  if (count > 0 && test2(&r, hex ? "pP" : "eE")) {
    test2(&r, "-+");
    readdigits(&r, 0);
  }
  r.buff[r.n] = '\0';
  consume(f, r.i);
  if (lua_stringtonumber(L, r.buff)) return FMT_DONE;
  lua_pushnil(L);
  return FMT_FAIL;
}

static int read_line(lua_State *L, lfile *f, int chop, size_t *want) {
  const char *p = f->len > f->scan ? memchr(f->buf + f->off + f->scan, '\n', f->len - f->scan) : NULL;
  if (p) {
    size_t n = (size_t)(p - (f->buf + f->off)) + 1;
    lua_pushlstring(L, f->buf + f->off, chop ? n - 1 : n);
    consume(f, n);
    return FMT_DONE;
  }
  f->scan = f->len;
  if (!f->eof) { *want = f->len > CHUNK ? f->len : CHUNK; return FMT_MORE; }
  if (f->len == 0) { lua_pushnil(L); return FMT_FAIL; }
  lua_pushlstring(L, f->buf + f->off, f->len);
  consume(f, f->len);
  return FMT_DONE;
}

/* One format (at stack index fi): pushes its value, or says how much to read first. */
static int one_format(lua_State *L, lfile *f, int fi, size_t *want) {
  if (lua_type(L, fi) == LUA_TNUMBER) {
    size_t n = (size_t)lua_tointeger(L, fi);
    if (n == 0) {
      if (f->len > 0) { lua_pushliteral(L, ""); return FMT_DONE; }
      if (f->eof) { lua_pushnil(L); return FMT_FAIL; }
      *want = CHUNK;
      return FMT_MORE;
    }
    if (f->len >= n || (f->eof && f->len > 0)) {
      size_t k = f->len < n ? f->len : n;
      lua_pushlstring(L, f->buf + f->off, k);
      consume(f, k);
      return FMT_DONE;
    }
    if (f->eof) { lua_pushnil(L); return FMT_FAIL; }
    *want = n - f->len > READ_AHEAD ? n - f->len : READ_AHEAD;
    return FMT_MORE;
  }
  const char *p = lua_tostring(L, fi);
  if (*p == '*') p++;
  switch (*p) {
  case 'n': return read_number(L, f, want);
  case 'l': return read_line(L, f, 1, want);
  case 'L': return read_line(L, f, 0, want);
  default: /* 'a' */
    if (!f->eof) { *want = f->len > CHUNK ? f->len : CHUNK; return FMT_MORE; }
    lua_pushlstring(L, f->buf + f->off, f->len);
    consume(f, f->len);
    return FMT_DONE;
  }
}

/* Stack: file, nfmt, formats..., the values read so far. */
static int read_step(lua_State *L) {
  lfile *f = toref(L, 1)->f;
  luaio_task *t = luaio_rt(L)->current;
  int nfmt = (int)lua_tointeger(L, 2);
  if (is_closed(f)) return raise_closed(L, f, t);
  if (!acquire(f, t)) return wait_turn(L, f, t, read_k);
  if (f->err) { int e = f->err; f->err = 0; return raise_err(L, f, t, e, "read"); }
  for (;;) {
    int done = lua_gettop(L) - 2 - nfmt;
    if (done >= nfmt) break;
    size_t want = 0;
    luaL_checkstack(L, 2, NULL);
    int r = one_format(L, f, 3 + done, &want);
    if (r == FMT_MORE) return fill(L, f, t, want);
    if (r == FMT_FAIL) break;
  }
  release(f, t);
  return lua_gettop(L) - 2 - nfmt;
}

static int read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  resumed(L);
  return read_step(L);
}

/* Checks the formats at 2..top and lays the stack out for read_step. */
static int start_read(lua_State *L, const char *fname) {
  int nfmt = lua_gettop(L) - 1;
  for (int i = 2; i <= nfmt + 1; i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {
      lua_Integer n = luaio_checkinteger(L, i);
      luaio_argcheck(L, n >= 0, i, "byte count must be >= 0");
    } else {
      const char *p = luaio_checkstring(L, i);
      if (*p == '*') p++;
      if (!*p || !strchr("nlLa", *p)) return luaio_argerror(L, i, "invalid format");
    }
  }
  if (nfmt == 0) { lua_pushliteral(L, "l"); nfmt = 1; }
  (void)fname;
  luaL_checkstack(L, nfmt + LUA_MINSTACK, "too many formats");
  lua_pushinteger(L, nfmt);
  lua_insert(L, 2);
  return read_step(L);
}

static int f_read(lua_State *L) {
  begin(L, "read");
  return start_read(L, "read");
}

/* lines(...): upvalues 2 the file, 3.. the formats */
static int lines_iter(lua_State *L) {
  int nup = (int)lua_tointeger(L, lua_upvalueindex(2));
  lua_settop(L, 0);
  luaL_checkstack(L, nup + LUA_MINSTACK, "too many formats");
  lua_pushvalue(L, lua_upvalueindex(3));
  fref *r = toref(L, 1);
  if (!r->f) return luaL_error(L, "File: used after it was collected");
  luaio_check_task(L, "lines");
  if (is_closed(r->f)) return luaL_error(L, "file is already closed");
  lua_pushinteger(L, nup);
  for (int i = 0; i < nup; i++) lua_pushvalue(L, lua_upvalueindex(4 + i));
  return read_step(L);
}

static int f_lines(lua_State *L) {
  tofile(L);
  int n = lua_gettop(L) - 1;
  luaio_argcheck(L, n <= MAXFORMATS, MAXFORMATS + 2, "too many arguments");
  for (int i = 2; i <= n + 1; i++) {
    if (lua_type(L, i) == LUA_TNUMBER) {
      luaio_argcheck(L, luaio_checkinteger(L, i) >= 0, i, "byte count must be >= 0");
    } else {
      const char *p = luaio_checkstring(L, i);
      if (*p == '*') p++;
      if (!*p || !strchr("nlLa", *p)) return luaio_argerror(L, i, "invalid format");
    }
  }
  if (n == 0) { lua_pushliteral(L, "l"); n = 1; }
  lua_pushvalue(L, lua_upvalueindex(1)); /* the runtime */
  lua_pushinteger(L, n);
  lua_pushvalue(L, 1);
  for (int i = 0; i < n; i++) lua_pushvalue(L, 2 + i);
  lua_pushcclosure(L, lines_iter, 3 + n);
  return 1;
}

/* ---- writing ---- */
static int write_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: file, values. The data is copied once into wbuf (C-owned until the callback). */
static int write_step(lua_State *L) {
  lfile *f = toref(L, 1)->f;
  luaio_task *t = luaio_rt(L)->current;
  if (is_closed(f)) return raise_closed(L, f, t);
  if (!acquire(f, t)) return wait_turn(L, f, t, write_k);
  if (f->err) { int e = f->err; f->err = 0; return raise_err(L, f, t, e, "write"); }
  if (!f->wbuf) { /* first step */
    int top = lua_gettop(L);
    size_t total = 0;
    for (int i = 2; i <= top; i++) {
      size_t l;
      if (lua_type(L, i) == LUA_TNUMBER) { /* as io writes numbers */
        char nb[64];
        if (lua_isinteger(L, i)) snprintf(nb, sizeof nb, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, i));
        else snprintf(nb, sizeof nb, LUA_NUMBER_FMT, (LUAI_UACNUMBER)lua_tonumber(L, i));
        lua_pushstring(L, nb);
        lua_replace(L, i);
      }
      lua_tolstring(L, i, &l);
      total += l;
    }
    if (total == 0) { release(f, t); lua_settop(L, 1); return 1; }
    if (f->len > 0) { /* bytes read ahead: the file position goes back to what was taken */
      if (lseek(f->fd, -(off_t)f->len, SEEK_CUR) < 0 && errno != ESPIPE)
        return raise_err(L, f, t, uv_translate_sys_error(errno), "write");
    }
    drop_buffer(f);
    f->wbuf = malloc(total);
    if (!f->wbuf) { release(f, t); return luaL_error(L, "not enough memory"); }
    size_t at = 0;
    for (int i = 2; i <= top; i++) {
      size_t l;
      const char *s = lua_tolstring(L, i, &l);
      memcpy(f->wbuf + at, s, l);
      at += l;
    }
    f->wlen = total;
    f->wdone = 0;
    lua_settop(L, 1);
  }
  if (f->wdone >= f->wlen) { release(f, t); lua_settop(L, 1); return 1; }
  deliver_cancel(L, f, t);
  size_t n = f->wlen - f->wdone;
  if (n > INT_MAX) n = INT_MAX;
  f->iov = uv_buf_init(f->wbuf + f->wdone, (unsigned)n);
  f->op = OP_WRITE;
  int err = uv_fs_write(f->loop, &f->req, f->fd, &f->iov, 1, -1, file_cb);
  if (err) return raise_err(L, f, t, err, "write");
  return wait_request(L, f, t, &op_wait, write_k);
}

static int write_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  resumed(L);
  return write_step(L);
}

static int f_write(lua_State *L) {
  lfile *f = begin(L, "write");
  int top = lua_gettop(L);
  for (int i = 2; i <= top; i++) {
    int tp = lua_type(L, i);
    if (tp != LUA_TSTRING && tp != LUA_TNUMBER) return luaio_typeerror(L, i, "string or number");
  }
  (void)f;
  return write_step(L);
}

/* ---- fstat, fsync, open, close: one request each ---- */
static int simple_k(lua_State *L, int status, lua_KContext ctx);

/* Stack: file, op (integer). */
static int simple_step(lua_State *L) {
  lfile *f = toref(L, 1)->f;
  luaio_task *t = luaio_rt(L)->current;
  int op = (int)lua_tointeger(L, 2);
  int issued = lua_toboolean(L, 3);
  if (issued) { /* the request completed */
    int e = f->err;
    f->err = 0;
    if (op == OP_CLOSE) {
      release(f, t);
      if (e) return luaio_fs_raise(L, e, "close", f->path);
      lua_pushboolean(L, 1);
      return 1;
    }
    if (e) return raise_err(L, f, t, e, op == OP_FSTAT ? "stat" : "sync");
    release(f, t);
    if (op == OP_FSTAT) { luaio_fs_push_stat(L, &f->st); return 1; }
    lua_settop(L, 1);
    return 1;
  }
  if (is_closed(f)) {
    if (op == OP_CLOSE) { lua_pushboolean(L, 1); return 1; } /* idempotent */
    return raise_closed(L, f, t);
  }
  if (!acquire(f, t)) return wait_turn(L, f, t, simple_k);
  f->err = 0;
  deliver_cancel(L, f, t);
  int err;
  f->op = (unsigned char)op;
  if (op == OP_FSTAT) err = uv_fs_fstat(f->loop, &f->req, f->fd, file_cb);
  else if (op == OP_FSYNC) err = uv_fs_fsync(f->loop, &f->req, f->fd, file_cb);
  else {
    uv_file fd = f->fd;
    f->fd = -1;
    drop_buffer(f);
    err = uv_fs_close(f->loop, &f->req, fd, file_cb);
  }
  if (err) return raise_err(L, f, t, err, op == OP_FSTAT ? "stat" : op == OP_FSYNC ? "sync" : "close");
  lua_settop(L, 2);
  lua_pushboolean(L, 1);
  return wait_request(L, f, t, &op_wait, simple_k);
}

static int simple_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  lfile *f = toref(L, 1)->f;
  luaio_task *t = luaio_rt(L)->current;
  if (luaio_take_wake_cancel(t)) {
    release(f, t);
    luaio_raise_cancelled(L, t);
  }
  return simple_step(L);
}

static int simple(lua_State *L, int op) {
  lua_settop(L, 1);
  lua_pushinteger(L, op);
  return simple_step(L);
}

static int f_stat(lua_State *L) { begin(L, "stat"); return simple(L, OP_FSTAT); }
static int f_sync(lua_State *L) { begin(L, "sync"); return simple(L, OP_FSYNC); }

static int f_flush(lua_State *L) {
  lfile *f = begin(L, "flush");
  if (is_closed(f)) return luaio_raise(L, "ValueError", "I/O operation on closed file %s", f->path);
  lua_settop(L, 1); /* writes are not buffered: nothing waits in luaio */
  return 1;
}

/* close(): waits for the close inside a task; elsewhere (a plain callback, a <close>
 * variable outside a task) it only starts it. */
static int f_close(lua_State *L) {
  lfile *f = tofile(L);
  luaio_task *t = luaio_rt(L)->current;
  if (!t || t->co != L || !lua_isyieldable(L)) {
    if (!is_closed(f)) {
      f->close_pending = 1;
      if (!f->user) close_quietly(f);
    }
    lua_pushboolean(L, 1);
    return 1;
  }
  return simple(L, OP_CLOSE);
}

static int f_seek(lua_State *L);
static int seek_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  resumed(L);
  return f_seek(L);
}

static int f_seek(lua_State *L) {
  static const char *const modes[] = {"set", "cur", "end", NULL};
  static const int whences[] = {SEEK_SET, SEEK_CUR, SEEK_END};
  lfile *f = begin(L, "seek");
  luaio_task *t = luaio_rt(L)->current;
  const char *w = luaio_optstring(L, 2, "cur");
  int op = -1;
  for (int i = 0; modes[i]; i++) if (strcmp(w, modes[i]) == 0) op = i;
  if (op < 0) return luaio_argerror(L, 2, lua_pushfstring(L, "invalid option '%s'", w));
  lua_Integer off = luaio_optinteger(L, 3, 0);
  lua_settop(L, 3);
  if (is_closed(f)) return raise_closed(L, f, t);
  if (!acquire(f, t)) return wait_turn(L, f, t, seek_k);
  if (whences[op] == SEEK_CUR) off -= (lua_Integer)f->len; /* what was read ahead */
  /* lseek only moves the descriptor's offset: no disk access, done in place */
  off_t pos = lseek(f->fd, (off_t)off, whences[op]);
  if (pos < 0) return raise_err(L, f, t, uv_translate_sys_error(errno), "seek");
  drop_buffer(f);
  release(f, t);
  lua_pushinteger(L, (lua_Integer)pos);
  return 1;
}

/* ---- the userdata ---- */
static int f_gc(lua_State *L) {
  fref *r = toref(L, 1);
  lfile *f = r->f;
  if (!f) return 0;
  r->f = NULL;
  if (!f->rt || !f->rt->loop) f->loop = NULL; /* the runtime was released: close in place */
  f->rt = NULL;
  f->orphan = 1;
  /* tasks cannot wait on it (they hold the File): forget the heads */
  luaio_list_init(&f->waiter);
  luaio_list_init(&f->turn);
  f->user = NULL;
  if (close_quietly(f)) file_free(f);
  return 0;
}

static int f_tostring(lua_State *L) {
  fref *r = toref(L, 1);
  if (!r->f) lua_pushliteral(L, "File (collected)");
  else lua_pushfstring(L, "File<%s>%s", r->f->path, is_closed(r->f) ? " (closed)" : "");
  return 1;
}

/* ---- aio.open(path [, mode [, perm]]) ---- */
/* io.open's modes ([rwa]+?b*), plus "x" with "w": fail if the file exists (as C11's fopen) */
static int parse_mode(const char *m, int *flags) {
  int plus = 0, x = 0, base = *m;
  if (!base || !strchr("rwa", base)) return 0;
  for (m++; *m; m++) {
    if (*m == '+' && !plus) plus = 1;
    else if (*m == 'x' && !x && base == 'w') x = 1;
    else if (*m != 'b') return 0;
  }
  int acc = plus ? UV_FS_O_RDWR : base == 'r' ? UV_FS_O_RDONLY : UV_FS_O_WRONLY;
  if (base == 'w') acc |= UV_FS_O_CREAT | UV_FS_O_TRUNC;
  if (base == 'a') acc |= UV_FS_O_CREAT | UV_FS_O_APPEND;
  if (x) acc |= UV_FS_O_EXCL;
  *flags = acc;
  return 1;
}

/* an open resource ("file") until close() */
static int file_is_open(lua_State *L, int idx) {
  fref *r = luaL_testudata(L, idx, LUAIO_FILE);
  return r && r->f && !is_closed(r->f);
}

static const luaio_resource_kind file_resource = {"file", file_is_open};

static int open_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  luaio_task *t = luaio_rt(L)->current;
  lfile *f = toref(L, 1)->f;
  if (luaio_take_wake_cancel(t)) {
    f->user = NULL;
    luaio_raise_cancelled(L, t); /* the File is garbage: its __gc closes what opened */
  }
  f->user = NULL;
  if (f->err) { int e = f->err; f->err = 0; return luaio_fs_raise(L, e, "open", f->path); }
  lua_settop(L, 1);
  luaio_resource_open(L, luaio_rt(L), 1, &file_resource, 0);
  return 1;
}

static int l_open(lua_State *L) {
  size_t plen;
  const char *path = luaio_checklstring(L, 1, &plen);
  const char *mode = luaio_optstring(L, 2, "r");
  lua_Integer perm = luaio_optinteger(L, 3, DEFAULT_PERM);
  int flags;
  if (!parse_mode(mode, &flags)) return luaio_argerror(L, 2, "invalid mode");
  luaio_argcheck(L, perm >= 0 && perm <= 07777, 3, "perm must be a mode from 0 to 0o7777");
  luaio_argcheck(L, strlen(path) == plen, 1, "path contains a zero byte");
  luaio_task *t = luaio_check_suspend(L, "open");
  luaio_runtime *rt = luaio_rt(L);
  lua_settop(L, 0);
  fref *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->f = NULL;
  luaL_setmetatable(L, LUAIO_FILE);
  lfile *f = calloc(1, sizeof *f);
  char *p = malloc(plen + 1);
  if (!f || !p) { free(f); free(p); return luaL_error(L, "not enough memory"); }
  memcpy(p, path, plen + 1);
  f->path = p;
  f->fd = -1;
  f->rt = rt;
  f->loop = rt->loop;
  luaio_list_init(&f->waiter);
  luaio_list_init(&f->turn);
  r->f = f;
  f->user = t;
  f->op = OP_OPEN;
  int err = uv_fs_open(f->loop, &f->req, f->path, flags, (int)perm, file_cb);
  if (err) { f->user = NULL; return luaio_fs_raise(L, err, "open", f->path); }
  return wait_request(L, f, t, &op_wait, open_k);
}

static const luaL_Reg file_methods[] = {
  {"read", f_read}, {"lines", f_lines}, {"write", f_write}, {"flush", f_flush},
  {"sync", f_sync}, {"seek", f_seek}, {"stat", f_stat}, {"close", f_close},
  {"__close", f_close}, {"__gc", f_gc}, {"__tostring", f_tostring}, {NULL, NULL}
};

void luaio_file_open(lua_State *L, luaio_runtime *rt) {
  luaio_new_class(L, LUAIO_FILE, file_methods, rt);
  luaio_resource_kind_register(rt, &file_resource);
  luaio_wait_kind_register(rt, &read_wait);
  luaio_wait_kind_register(rt, &op_wait);
  static const luaL_Reg funcs[] = {{"open", l_open}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
}
