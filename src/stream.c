/* stream.c — StreamReader / StreamWriter over a libuv stream (TCP or pipe): the read
 * buffer with its limit and flow control, writes that never suspend, drain, close. */
#include <stdlib.h>
#include <string.h>
#include "stream.h"
#include "task.h"
#include "tls.h"
#include "resources.h"

#define DEFAULT_LIMIT 65536
#define DEFAULT_HIGH 65536
/* Free space offered to a read starts small and grows while reads fill it (bulk
 * transfers); a reader that waits with nothing buffered holds no buffer at all. */
#define READ_MIN 256
#define READ_MAX 65536
#define KEEP_CAP (256 * 1024)   /* an emptied buffer bigger than this is given back */
#define TLS_READ 16384          /* TLS: ciphertext read at a time (one full record) */

/* Both userdata hold the same pointer. The reader owns the stream (its __gc closes it);
 * the writer keeps the reader alive through its uservalue, so a stream cannot be freed
 * while either object is reachable. The reader's uservalue anchors the strings of queued
 * writes, so they live at least as long as libuv may read them. */
typedef struct sref {
  luaio_stream *s;
} sref;

/* ---- errors ---- */
int luaio_push_oserror(lua_State *L, int err, const char *what) {
  if (what) lua_pushfstring(L, "%s: %s", what, uv_strerror(err));
  else lua_pushstring(L, uv_strerror(err));
  luaio_push_error(L, "OSError", lua_tostring(L, -1));
  lua_pushstring(L, uv_err_name(err));
  lua_setfield(L, -2, "code");
  lua_remove(L, -2);
  return 1;
}

int luaio_raise_oserror(lua_State *L, int err, const char *what) {
  luaio_push_oserror(L, err, what);
  return lua_error(L);
}

/* ---- lifetime ---- */
static void stream_free(luaio_stream *s) {
  luaio_sbuf_free(&s->rb);
  luaio_tls_free(s->tls);
  free(s);
}

/* Callbacks wake tasks only while the Lua side exists and the runtime is not tearing down
 * (then the parked tasks may already be freed). */
static int can_wake(luaio_stream *s) { return s->rt && !s->rt->closing; }

static void wake_list(luaio_stream *s, luaio_node *head) {
  if (!can_wake(s)) return;
  while (!luaio_list_empty(head))
    luaio_wake(s->rt, luaio_container(head->next, luaio_task, node));
}

static void close_cb(uv_handle_t *h) {
  luaio_stream *s = h->data;
  s->closed = 1;
  s->eof = 1;
  if (s->server) { s->server->conn_closed(s->server); s->server = NULL; }
  if (!s->owned) { stream_free(s); return; }
  wake_list(s, &s->rwait);
  wake_list(s, &s->wwait);
}

static void start_close(luaio_stream *s) {
  s->closing = 1;
  if (s->kind == SK_NONE || s->close_started || uv_is_closing(&s->u.h)) return;
  s->close_started = 1;
  s->reading = 0;
  uv_close(&s->u.h, close_cb);
}

luaio_stream *luaio_stream_new(luaio_runtime *rt, int kind, size_t limit) {
  /* a TCP stream stops after its uv_tcp_t (smaller than the union's uv_pipe_t) */
  size_t size = offsetof(luaio_stream, u) + (kind == SK_PIPE ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t));
  luaio_stream *s = calloc(1, size);
  if (!s) return NULL;
  s->rt = rt;
  s->end_ref = LUA_NOREF;
  s->kind = (unsigned char)kind;
  s->limit = limit;
  s->high = DEFAULT_HIGH;
  s->low = DEFAULT_HIGH / 4;
  s->rsize = READ_MIN;
  luaio_list_init(&s->rwait);
  luaio_list_init(&s->wwait);
  int err = 0;
  if (kind == SK_TCP) err = uv_tcp_init(rt->loop, &s->u.tcp);
  else if (kind == SK_PIPE) err = uv_pipe_init(rt->loop, &s->u.pipe, 0);
  if (err) { free(s); return NULL; }
  s->u.h.data = s;
  return s;
}

void luaio_stream_abandon(luaio_stream *s) {
  s->owned = 0;
  if (s->kind == SK_NONE) { stream_free(s); return; }
  start_close(s);
}

/* The reader's __gc: the last Lua reference to the stream is gone. */
static int reader_gc(lua_State *L) {
  sref *r = luaio_checkudata(L, 1, LUAIO_READER);
  luaio_stream *s = r->s;
  if (!s) return 0;
  r->s = NULL;
  s->owned = 0;
  s->rt = NULL;
  luaio_list_unlink(&s->end.node); /* its client_cb task no longer ends it */
  /* waiters cannot exist (they hold the reader); forget the heads without touching nodes */
  luaio_list_init(&s->rwait);
  luaio_list_init(&s->wwait);
  if (s->kind == SK_NONE || s->closed) { stream_free(s); return 0; }
  if (s->close_started) return 0; /* close_cb frees it */
  if (uv_is_closing(&s->u.h)) {
    /* closed without a callback by the runtime's uv_walk, whose loop has already run */
    if (s->server) { s->server->conn_closed(s->server); s->server = NULL; }
    stream_free(s);
    return 0;
  }
  s->close_started = 1;
  uv_close(&s->u.h, close_cb);
  return 0;
}

/* ---- reading ---- */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  luaio_stream *s = h->data;
  size_t avail = 0;
  (void)suggested;
  if (s->tls) { /* ciphertext: a buffer of its own, given to the engine in read_cb */
    char *c = malloc(TLS_READ);
    *buf = uv_buf_init(c, c ? TLS_READ : 0);
    return;
  }
  char *p = luaio_sbuf_reserve(&s->rb, s->rsize, &avail);
  *buf = uv_buf_init(p, p ? (unsigned)(avail > 0x7fffffff ? 0x7fffffff : avail) : 0);
}

static void stop_reading(luaio_stream *s) {
  if (!s->reading) return;
  s->reading = 0;
  uv_read_stop(&s->u.s);
}

static void tls_read_cb(luaio_stream *s, ssize_t nread, const uv_buf_t *buf);

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf) {
  luaio_stream *s = h->data;
  if (s->tls) { tls_read_cb(s, nread, buf); return; }
  if (nread > 0) {
    if ((size_t)nread == buf->len && s->rsize < READ_MAX) s->rsize *= 4; /* more is waiting */
    luaio_sbuf_commit(&s->rb, (size_t)nread);
    if (!luaio_list_empty(&s->rwait)) wake_list(s, &s->rwait);
    else if (luaio_sbuf_len(&s->rb) > s->limit) stop_reading(s); /* backpressure */
    return;
  }
  if (nread == 0) return; /* EAGAIN */
  if (nread != UV_EOF && !s->err) s->err = (int)nread;
  s->eof = 1;
  stop_reading(s);
  wake_list(s, &s->rwait);
  if (s->err) wake_list(s, &s->wwait);
}

static void tls_pump(luaio_stream *s, int force);

static void want_read(luaio_stream *s) {
  if (s->tls && !s->reading && !s->eof && !s->closing) {
    tls_pump(s, 0); /* records already received first: the socket may have paused on them */
  }
  if (s->reading || s->eof || s->closing || s->kind == SK_NONE) return;
  int err = uv_read_start(&s->u.s, alloc_cb, read_cb);
  if (err) { if (!s->err) s->err = err; s->eof = 1; return; }
  s->reading = 1;
}

/* ---- TLS: the engine (tls.c) between the socket and the buffers ----
 * Ciphertext read goes into the engine, which decrypts into the reader's buffer (rb)
 * under the same limit; plaintext written is encrypted and its ciphertext written with
 * buffers of its own (tpending counts them). The handshake advances as records come. */
static void tls_write_cb(uv_write_t *req, int status) {
  luaio_stream *s = req->handle->data;
  free(req);
  s->tpending--;
  if (status < 0 && status != UV_ECANCELED && !s->err) s->err = status;
  if (s->close_when_flushed && s->wdone == s->wqueued && s->tpending == 0) start_close(s);
  if (status < 0 || s->u.s.write_queue_size <= s->low) wake_list(s, &s->wwait);
}

/* Sends the ciphertext the engine has ready: 0 or a libuv error (also kept in s->err). */
static int tls_flush(luaio_stream *s) {
  size_t n = luaio_tls_pending_out(s->tls);
  if (n == 0 || s->close_started || s->closed || s->kind == SK_NONE) return 0;
  uv_write_t *req = malloc(sizeof *req + n);
  if (!req) { if (!s->err) s->err = UV_ENOMEM; return UV_ENOMEM; }
  char *p = (char *)(req + 1);
  luaio_tls_take_out(s->tls, p, n);
  uv_buf_t buf = uv_buf_init(p, (unsigned)n);
  int w = uv_try_write(&s->u.s, &buf, 1);
  if (w == (int)n) { free(req); return 0; }
  if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
    free(req);
    if (!s->err) s->err = w;
    return w;
  }
  if (w < 0) w = 0;
  buf = uv_buf_init(p + w, (unsigned)(n - (size_t)w));
  int err = uv_write(req, &s->u.s, &buf, 1, tls_write_cb);
  if (err) { free(req); if (!s->err) s->err = err; return err; }
  s->tpending++;
  return 0;
}

/* Decrypts what the engine holds into rb while under the limit (or past it once, when
 * `force`: a waiter needs more than the limit), sends what the engine has to say
 * (handshake, alerts), wakes the reader on news and pauses the socket on a full buffer. */
static void tls_pump(luaio_stream *s, int force) {
  luaio_tls *t = s->tls;
  int was_done = luaio_tls_handshake_done(t);
  size_t before = luaio_sbuf_len(&s->rb);
  int was_eof = s->eof;
  while (!s->eof && (force || luaio_sbuf_len(&s->rb) <= s->limit)) {
    size_t avail = 0;
    char *p = luaio_sbuf_reserve(&s->rb, s->rsize, &avail);
    if (!p) { if (!s->err) s->err = UV_ENOMEM; s->eof = 1; break; }
    int r = luaio_tls_read(t, p, avail);
    if (r > 0) {
      if ((size_t)r == avail && s->rsize < READ_MAX) s->rsize *= 4;
      luaio_sbuf_commit(&s->rb, (size_t)r);
      continue;
    }
    if (r == LUAIO_TLS_AGAIN) break;
    if (r == LUAIO_TLS_FAILED && !s->err) s->err = UV_EPROTO;
    s->eof = 1; /* close_notify (or a failure): no more data */
  }
  tls_flush(s);
  if (s->eof) stop_reading(s);
  else if (luaio_sbuf_len(&s->rb) > s->limit && luaio_list_empty(&s->rwait)) stop_reading(s);
  if (luaio_sbuf_len(&s->rb) > before || s->eof != was_eof ||
      was_done != luaio_tls_handshake_done(t))
    wake_list(s, &s->rwait);
  if (s->err) wake_list(s, &s->wwait);
}

static void tls_read_cb(luaio_stream *s, ssize_t nread, const uv_buf_t *buf) {
  if (nread > 0) {
    int err = luaio_tls_feed(s->tls, buf->base, (size_t)nread);
    free(buf->base);
    if (err && !s->err) s->err = UV_ENOMEM;
    tls_pump(s, !luaio_list_empty(&s->rwait));
    return;
  }
  free(buf->base);
  if (nread == 0) return;
  /* a peer gone without close_notify ends the data (EOF), unless in the handshake */
  if (nread == UV_EOF) luaio_tls_eof(s->tls);
  else if (!s->err) s->err = (int)nread;
  if (luaio_tls_failed(s->tls) && !s->err) s->err = UV_EPROTO;
  s->eof = 1;
  stop_reading(s);
  wake_list(s, &s->rwait);
  if (s->err) wake_list(s, &s->wwait);
}

/* pushes the error a failed stream raises: SSLError from the engine, else OSError */
static void push_stream_error(lua_State *L, luaio_stream *s, const char *what) {
  if (s->tls && luaio_tls_failed(s->tls)) luaio_tls_push_error(L, s->tls);
  else luaio_push_oserror(L, s->err, what);
}

/* A server connection read or written by another task than its client_cb's has been
 * handed on: it then stays open when client_cb returns (see streams.lua). */
static void note_user(luaio_stream *s) {
  luaio_task *cur = s->rt ? s->rt->current : NULL;
  if (cur && s->end.ctx && (void *)cur != s->end.ctx) s->shared = 1;
}

static luaio_stream *tor(lua_State *L) {
  sref *r = luaio_checkudata(L, 1, LUAIO_READER);
  if (!r->s) luaL_error(L, "StreamReader: used after it was collected");
  return r->s;
}

/* the reading methods: async in asyncio, so they need a task even when the buffer could
 * answer at once (every suspending function raises outside a task, whether or not it would
 * wait); their use by another task counts as a hand-off */
static luaio_stream *tor_io(lua_State *L, const char *fname) {
  luaio_stream *s = tor(L);
  luaio_check_task(L, fname);
  note_user(s);
  return s;
}

/* Pushes the first n bytes (minus `strip` at the end) and drops them from the buffer;
 * resumes a paused socket once the buffer is back under the limit. */
static void take(lua_State *L, luaio_stream *s, size_t n, size_t strip) {
  lua_pushlstring(L, luaio_sbuf_ptr(&s->rb), n - strip);
  luaio_sbuf_consume(&s->rb, n);
  s->scan = 0;
  if (luaio_sbuf_len(&s->rb) == 0 && s->rb.cap > KEEP_CAP) luaio_sbuf_free(&s->rb);
  if (!s->reading && luaio_sbuf_len(&s->rb) <= s->limit) want_read(s);
}

/* Parks the running task until data, EOF or an error arrives. Only one task may wait. */
/* what a task waits on in a read, drain() or wait_closed(); cancelling is the default */
static const luaio_wait_kind read_wait = {"a stream read", NULL, NULL, 0};
static const luaio_wait_kind drain_wait = {"a stream drain", NULL, NULL, 0};
static const luaio_wait_kind closing_wait = {"a stream closing", NULL, NULL, 0};

static int wait_data(lua_State *L, luaio_stream *s, const char *fname, lua_KFunction k) {
  if (!luaio_list_empty(&s->rwait))
    return luaio_raise(L, "RuntimeError", "%s() called while another task is already "
                       "waiting for incoming data", fname);
  luaio_task *t = luaio_check_suspend(L, fname);
  /* an empty buffer is given back while the task waits: an idle connection holds none
   * (the next read allocates one again, a cheap small malloc beside a round trip) */
  if (luaio_sbuf_len(&s->rb) == 0) luaio_sbuf_free(&s->rb);
  if (s->tls && !s->eof && !s->closing) {
    /* records the engine holds may already answer: past the limit if need be */
    size_t before = luaio_sbuf_len(&s->rb);
    tls_pump(s, 1);
    if (luaio_sbuf_len(&s->rb) > before || s->eof) return k(L, LUA_OK, 0);
  }
  want_read(s); /* a paused socket resumes: this waiter needs more than the buffer has */
  luaio_list_append(&s->rwait, &t->node);
  return luaio_park(L, t, &read_wait, 1, k);
}

static void check_resumed(lua_State *L) {
  luaio_raise_if_cancelled(L, luaio_rt(L)->current);
}

static int raise_stream_error(lua_State *L, luaio_stream *s) {
  push_stream_error(L, s, NULL);
  return lua_error(L);
}

/* read(n): up to n bytes; n = -1 (or absent): everything until EOF. */
static int read_step(lua_State *L);
static int read_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_resumed(L);
  return read_step(L);
}

static int read_step(lua_State *L) {
  luaio_stream *s = tor(L);
  lua_Integer n = luaio_optinteger(L, 2, -1);
  size_t len = luaio_sbuf_len(&s->rb);
  if (n == 0) { lua_pushliteral(L, ""); return 1; }
  if (n < 0) {
    if (!s->eof) return wait_data(L, s, "read", read_k);
    if (len == 0 && s->err) return raise_stream_error(L, s);
    take(L, s, len, 0);
    return 1;
  }
  if (len == 0) {
    if (!s->eof) return wait_data(L, s, "read", read_k);
    if (s->err) return raise_stream_error(L, s);
    lua_pushliteral(L, "");
    return 1;
  }
  take(L, s, (size_t)n < len ? (size_t)n : len, 0);
  return 1;
}

static int r_read(lua_State *L) {
  tor_io(L, "read");
  lua_Integer n = luaio_optinteger(L, 2, -1);
  luaio_argcheck(L, n >= -1, 2, "must be -1 (until EOF) or a byte count >= 0");
  lua_settop(L, 2);
  return read_step(L);
}

/* readexactly(n) */
static int readexactly_step(lua_State *L);
static int readexactly_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_resumed(L);
  return readexactly_step(L);
}

static int readexactly_step(lua_State *L) {
  luaio_stream *s = tor(L);
  size_t n = (size_t)lua_tointeger(L, 2);
  size_t len = luaio_sbuf_len(&s->rb);
  if (len >= n) { take(L, s, n, 0); return 1; }
  if (!s->eof) return wait_data(L, s, "readexactly", readexactly_k);
  if (s->err && len == 0) return raise_stream_error(L, s);
  take(L, s, len, 0);
  int pidx = lua_gettop(L);
  lua_pushfstring(L, "%I bytes read on a total of %I expected bytes", (lua_Integer)len,
                  (lua_Integer)n);
  luaio_push_error(L, "IncompleteReadError", lua_tostring(L, -1));
  lua_pushvalue(L, pidx);
  lua_setfield(L, -2, "partial");
  lua_pushinteger(L, (lua_Integer)n);
  lua_setfield(L, -2, "expected");
  return lua_error(L);
}

static int r_readexactly(lua_State *L) {
  tor_io(L, "readexactly");
  lua_Integer n = luaio_checkinteger(L, 2);
  if (n < 0) return luaio_raise(L, "ValueError", "readexactly size can not be less than zero");
  lua_settop(L, 2);
  return readexactly_step(L);
}

/* readuntil(sep) / readline() / the lines() iterator share one loop over
 * luaio_sbuf_until; `mode` says what happens at the limit and at EOF. */
enum { U_UNTIL, U_LINE, U_LINES };

static int until_step(lua_State *L, int mode, int fresh);
static int until_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_resumed(L);
  return until_step(L, U_UNTIL, 0);
}
static int line_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_resumed(L);
  return until_step(L, U_LINE, 0);
}
static int lines_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_resumed(L);
  return until_step(L, U_LINES, 0);
}

static int raise_overrun(lua_State *L, size_t consumed, int found) {
  luaio_push_error(L, "LimitOverrunError", found
                   ? "Separator is found, but chunk is longer than limit"
                   : "Separator is not found, and chunk exceed the limit");
  lua_pushinteger(L, (lua_Integer)consumed);
  lua_setfield(L, -2, "consumed");
  return lua_error(L);
}

/* `fresh`: a new call, not a resumed wait. s->scan belongs to the task waiting for data:
 * a call made while another task waits searches with an offset of its own (it takes data
 * or raises, and must not leave the waiter's offset set for a different separator). */
static int until_step(lua_State *L, int mode, int fresh) {
  luaio_stream *s = tor(L);
  size_t seplen = 1, n = 0, own = 0, *scan = &s->scan;
  const char *sep = mode == U_UNTIL ? lua_tolstring(L, 2, &seplen) : "\n";
  if (fresh) {
    if (luaio_list_empty(&s->rwait)) s->scan = 0;
    else scan = &own;
  }
  int r = luaio_sbuf_until(&s->rb, sep, seplen, s->limit, s->eof, scan, &n);
  switch (r) {
  case SEP_FOUND: {
    size_t strip = 0;
    if (mode == U_LINES) strip = (n >= 2 && luaio_sbuf_ptr(&s->rb)[n - 2] == '\r') ? 2 : 1;
    take(L, s, n, strip);
    return 1;
  }
  case SEP_MORE:
    return wait_data(L, s, mode == U_UNTIL ? "readuntil" : "readline",
                     mode == U_UNTIL ? until_k : mode == U_LINE ? line_k : lines_k);
  case SEP_OVERRUN: {
    if (mode != U_UNTIL) { /* as asyncio's readline: drop the line so reading can go on */
      size_t len = luaio_sbuf_len(&s->rb);
      int found = n + seplen <= len && memcmp(luaio_sbuf_ptr(&s->rb) + n, sep, seplen) == 0;
      take(L, s, found ? n + seplen : len, 0);
      lua_pop(L, 1);
      return raise_overrun(L, n, found);
    }
    int found = n + seplen <= luaio_sbuf_len(&s->rb) &&
                memcmp(luaio_sbuf_ptr(&s->rb) + n, sep, seplen) == 0;
    return raise_overrun(L, n, found);
  }
  default: /* SEP_EOF */
    if (n == 0 && s->err) return raise_stream_error(L, s);
    if (mode == U_LINES && n == 0) { lua_pushnil(L); return 1; }
    take(L, s, n, 0);
    if (mode != U_UNTIL) return 1;
    int pidx = lua_gettop(L);
    lua_pushfstring(L, "%I bytes read on a total of undefined expected bytes", (lua_Integer)n);
    luaio_push_error(L, "IncompleteReadError", lua_tostring(L, -1));
    lua_pushvalue(L, pidx);
    lua_setfield(L, -2, "partial");
    return lua_error(L);
  }
}

static int r_readuntil(lua_State *L) {
  tor_io(L, "readuntil");
  size_t seplen;
  if (lua_isnoneornil(L, 2)) { lua_settop(L, 1); lua_pushliteral(L, "\n"); }
  if (lua_type(L, 2) != LUA_TSTRING) return luaio_typeerror(L, 2, "string");
  lua_tolstring(L, 2, &seplen);
  if (seplen == 0) return luaio_raise(L, "ValueError", "Separator should be at least one-byte string");
  lua_settop(L, 2);
  return until_step(L, U_UNTIL, 1);
}

static int r_readline(lua_State *L) {
  tor_io(L, "readline");
  lua_settop(L, 1);
  return until_step(L, U_LINE, 1);
}

/* the lines() iterator: upvalue 2 is the reader */
static int lines_iter(lua_State *L) {
  lua_settop(L, 0);
  lua_pushvalue(L, lua_upvalueindex(2));
  tor_io(L, "lines");
  return until_step(L, U_LINES, 1);
}

static int r_lines(lua_State *L) {
  note_user(tor(L)); /* the iterator it returns is what suspends */
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_pushvalue(L, 1);
  lua_pushcclosure(L, lines_iter, 2);
  return 1;
}

static int r_at_eof(lua_State *L) {
  luaio_stream *s = tor(L);
  lua_pushboolean(L, s->eof && luaio_sbuf_len(&s->rb) == 0);
  return 1;
}

static int r_exception(lua_State *L) {
  luaio_stream *s = tor(L);
  if (!s->err) lua_pushnil(L);
  else push_stream_error(L, s, NULL);
  return 1;
}

static int r_buffered(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)luaio_sbuf_len(&tor(L)->rb));
  return 1;
}

/* feed_data / feed_eof: what a transport does; lets a StreamReader be fed by hand. */
static int r_feed_data(lua_State *L) {
  luaio_stream *s = tor(L);
  size_t len;
  if (lua_type(L, 2) != LUA_TSTRING) return luaio_typeerror(L, 2, "string");
  const char *p = lua_tolstring(L, 2, &len);
  if (s->eof) return luaio_raise(L, "RuntimeError", "feed_data after feed_eof");
  if (luaio_sbuf_append(&s->rb, p, len) != 0) return luaL_error(L, "not enough memory");
  if (len) wake_list(s, &s->rwait);
  return 0;
}

static int r_feed_eof(lua_State *L) {
  luaio_stream *s = tor(L);
  s->eof = 1;
  wake_list(s, &s->rwait);
  return 0;
}

static int r_tostring(lua_State *L) {
  sref *r = luaio_checkudata(L, 1, LUAIO_READER);
  luaio_stream *s = r->s;
  if (!s) lua_pushliteral(L, "StreamReader (collected)");
  else lua_pushfstring(L, "StreamReader<%d bytes buffered%s>", (int)luaio_sbuf_len(&s->rb),
                       s->eof ? ", eof" : "");
  return 1;
}

/* pushes a reader owning s (which must be unowned) */
static sref *push_reader(lua_State *L, luaio_stream *s) {
  sref *r = lua_newuserdatauv(L, sizeof *r, 1);
  r->s = s;
  s->owned = 1;
  luaL_setmetatable(L, LUAIO_READER);
  return r;
}

static int l_stream_reader(lua_State *L) {
  static const char *const keys[] = {"limit", NULL};
  luaio_check_opts(L, 1, "StreamReader", keys);
  lua_Integer limit = DEFAULT_LIMIT;
  if (lua_istable(L, 1) && lua_getfield(L, 1, "limit") != LUA_TNIL) {
    limit = luaio_checkinteger(L, -1);
    if (limit <= 0) return luaio_raise(L, "ValueError", "Limit cannot be <= 0");
  }
  luaio_stream *s = luaio_stream_new(luaio_rt(L), SK_NONE, (size_t)limit);
  if (!s) return luaL_error(L, "not enough memory");
  push_reader(L, s);
  return 1;
}

/* ---- writing ---- */
static luaio_stream *tow(lua_State *L) {
  luaio_checkudata(L, 1, LUAIO_WRITER);
  lua_getiuservalue(L, 1, 1);
  sref *r = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (!r || !r->s) luaL_error(L, "StreamWriter: used after its stream was collected");
  return r->s;
}

/* the writing methods: their use by another task counts as a hand-off */
static luaio_stream *tow_io(lua_State *L) {
  luaio_stream *s = tow(L);
  note_user(s);
  return s;
}

static int w_shared(lua_State *L) {
  lua_pushboolean(L, tow(L)->shared);
  return 1;
}

/* The anchor table (the reader's uservalue) of writer 1, created on demand, on top. */
static void push_anchors(lua_State *L) {
  lua_getiuservalue(L, 1, 1);
  if (lua_getiuservalue(L, -1, 1) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, -3, 1);
  }
  lua_remove(L, -2);
}

/* Writes complete in order, so entries wreleased+1 .. wdone can go. */
static void release_anchors(lua_State *L, luaio_stream *s) {
  if (s->wreleased == s->wdone) return;
  push_anchors(L);
  while (s->wreleased != s->wdone) {
    lua_pushnil(L);
    lua_rawseti(L, -2, (lua_Integer)++s->wreleased);
  }
  lua_pop(L, 1);
}

static void write_cb(uv_write_t *req, int status) {
  luaio_stream *s = req->handle->data;
  free(req);
  s->wdone++;
  if (status < 0 && status != UV_ECANCELED && !s->err) s->err = status;
  if (s->wdone == s->wqueued && s->tpending == 0 && s->close_when_flushed) start_close(s);
  if (status < 0 || s->u.s.write_queue_size <= s->low) wake_list(s, &s->wwait);
}

/* Returns 1 when the data is to be dropped: after our own close(), as asyncio's transport
 * does; a broken connection raises its OSError. */
static int check_writable(lua_State *L, luaio_stream *s, const char *fname) {
  if (s->err) { push_stream_error(L, s, fname); return lua_error(L); }
  if (s->closing || s->closed) return 1;
  if (s->eof_written)
    return luaio_raise(L, "RuntimeError", "%s: cannot write after write_eof()", fname);
  return 0;
}

/* Writes the string at sidx: straight to the socket when it takes it, else queued with the
 * string itself as the buffer (anchored until the write completes). Never suspends. */
static void write_string(lua_State *L, luaio_stream *s, int sidx) {
  size_t len;
  const char *p = lua_tolstring(L, sidx, &len);
  if (len == 0) return;
  if (s->tls) { /* encrypted into buffers of its own: nothing to anchor */
    if (luaio_tls_write(s->tls, p, len) != 0) {
      if (!s->err) s->err = UV_EPROTO;
      luaio_tls_push_error(L, s->tls);
      lua_error(L);
    }
    int err = tls_flush(s);
    if (err) luaio_raise_oserror(L, err, "write");
    return;
  }
  uv_buf_t buf = uv_buf_init((char *)p, (unsigned)len);
  int n = uv_try_write(&s->u.s, &buf, 1);
  if (n == (int)len) return;
  if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) {
    if (!s->err) s->err = n;
    luaio_raise_oserror(L, n, "write");
  }
  if (n < 0) n = 0;
  buf = uv_buf_init((char *)p + n, (unsigned)(len - (size_t)n));
  uv_write_t *req = luaio_realloc(L, NULL, sizeof *req);
  int err = uv_write(req, &s->u.s, &buf, 1, write_cb);
  if (err) {
    free(req);
    if (!s->err) s->err = err;
    luaio_raise_oserror(L, err, "write");
  }
  push_anchors(L);
  lua_pushvalue(L, sidx);
  lua_rawseti(L, -2, (lua_Integer)++s->wqueued);
  lua_pop(L, 1);
}

static int w_write(lua_State *L) {
  luaio_stream *s = tow_io(L);
  if (lua_type(L, 2) != LUA_TSTRING) return luaio_typeerror(L, 2, "string");
  if (check_writable(L, s, "write")) return 0;
  release_anchors(L, s);
  write_string(L, s, 2);
  return 0;
}

static int w_writelines(lua_State *L) {
  luaio_stream *s = tow_io(L);
  luaio_checktype(L, 2, LUA_TTABLE);
  lua_Integer n = luaL_len(L, 2);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, 2, i) != LUA_TSTRING)
      return luaio_argerror_in(L, 2, "writelines", lua_pushfstring(L, "string expected at index %I, "
                               "got %s", i, luaL_typename(L, -1)));
    lua_pop(L, 1);
  }
  if (check_writable(L, s, "writelines")) return 0;
  release_anchors(L, s);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 2, i);
    write_string(L, s, lua_gettop(L));
    lua_pop(L, 1);
  }
  return 0;
}

static int drain_step(lua_State *L);
static int drain_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_resumed(L);
  return drain_step(L);
}

static int drain_step(lua_State *L) {
  luaio_stream *s = tow_io(L);
  release_anchors(L, s);
  if (s->err) { push_stream_error(L, s, "drain"); return lua_error(L); }
  if (s->closing || s->closed || s->close_started) /* as asyncio: the connection is lost */
    return luaio_raise_oserror(L, UV_ECONNRESET, "drain: the writer is closed");
  if (s->u.s.write_queue_size <= s->high) return 0;
  luaio_task *t = luaio_check_suspend(L, "drain");
  luaio_list_append(&s->wwait, &t->node);
  return luaio_park(L, t, &drain_wait, 1, drain_k);
}

static int w_drain(lua_State *L) {
  luaio_checkudata(L, 1, LUAIO_WRITER);
  luaio_check_task(L, "drain"); /* also when it would not wait: it is a suspending function */
  lua_settop(L, 1);
  return drain_step(L);
}

void luaio_stream_close(luaio_stream *s) {
  if (s->closing || s->close_started) return;
  s->closing = 1;
  s->eof = 1; /* a task blocked in a read gets EOF, as asyncio's connection_lost */
  stop_reading(s);
  wake_list(s, &s->rwait);
  if (s->tls && !s->err) { luaio_tls_shutdown(s->tls); tls_flush(s); } /* close_notify */
  /* buffered writes are flushed first, as asyncio's transport.close() */
  if ((s->wdone == s->wqueued && s->tpending == 0) || s->err) start_close(s);
  else s->close_when_flushed = 1;
}

static int w_close(lua_State *L) {
  luaio_stream *s = tow(L);
  release_anchors(L, s);
  luaio_stream_close(s);
  return 0;
}

static int wait_closed_step(lua_State *L);
static int wait_closed_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_resumed(L);
  return wait_closed_step(L);
}

static int wait_closed_step(lua_State *L) {
  luaio_stream *s = tow(L);
  release_anchors(L, s);
  if (s->closed) return 0;
  luaio_task *t = luaio_check_suspend(L, "wait_closed");
  luaio_list_append(&s->wwait, &t->node);
  return luaio_park(L, t, &closing_wait, 1, wait_closed_k);
}

static int w_wait_closed(lua_State *L) {
  luaio_checkudata(L, 1, LUAIO_WRITER);
  luaio_check_task(L, "wait_closed");
  lua_settop(L, 1);
  return wait_closed_step(L);
}

static int w_is_closing(lua_State *L) {
  luaio_stream *s = tow(L);
  lua_pushboolean(L, s->closing || s->close_started || s->closed);
  return 1;
}

static int w_can_write_eof(lua_State *L) {
  lua_pushboolean(L, tow(L)->tls == NULL); /* TLS has no half-close */
  return 1;
}

static void shutdown_cb(uv_shutdown_t *req, int status) {
  (void)status; /* a failure shows up on the next write or read */
  free(req);
}

static int w_write_eof(lua_State *L) {
  luaio_stream *s = tow_io(L);
  if (s->eof_written) return 0;
  if (s->tls) return luaio_raise(L, "RuntimeError", "write_eof: a TLS connection cannot half-close");
  if (check_writable(L, s, "write_eof")) return 0;
  uv_shutdown_t *req = luaio_realloc(L, NULL, sizeof *req);
  int err = uv_shutdown(req, &s->u.s, shutdown_cb); /* after the queued writes */
  if (err) { free(req); return luaio_raise_oserror(L, err, "write_eof"); }
  s->eof_written = 1;
  return 0;
}

/* pushes host, port (TCP) or the path (pipe) of a name; returns the count */
static int push_sockaddr(lua_State *L, const struct sockaddr *sa) {
  char host[64];
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    uv_ip4_name(a, host, sizeof host);
    lua_pushstring(L, host);
    lua_pushinteger(L, ntohs(a->sin_port));
    return 2;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    uv_ip6_name(a, host, sizeof host);
    lua_pushstring(L, host);
    lua_pushinteger(L, ntohs(a->sin6_port));
    return 2;
  }
  lua_pushnil(L);
  return 1;
}

int luaio_push_name(lua_State *L, luaio_uvstream *u, int kind, int peer) {
  if (kind == SK_TCP) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    int err = peer ? uv_tcp_getpeername(&u->tcp, (struct sockaddr *)&ss, &len)
                   : uv_tcp_getsockname(&u->tcp, (struct sockaddr *)&ss, &len);
    if (err) { lua_pushnil(L); return 1; }
    return push_sockaddr(L, (struct sockaddr *)&ss);
  }
  if (kind == SK_PIPE) {
    char path[1024];
    size_t len = sizeof path;
    int err = peer ? uv_pipe_getpeername(&u->pipe, path, &len)
                   : uv_pipe_getsockname(&u->pipe, path, &len);
    if (err) { lua_pushnil(L); return 1; }
    lua_pushlstring(L, path, len);
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

static int w_get_extra_info(lua_State *L) {
  luaio_stream *s = tow(L);
  const char *name = luaio_checkstring(L, 2);
  lua_settop(L, 3);
  int peer = strcmp(name, "peername") == 0, sock = strcmp(name, "sockname") == 0;
  if ((peer && (s->named & 1)) || (sock && (s->named & 2)))
    return push_sockaddr(L, (const struct sockaddr *)&s->names[peer ? 0 : 1]);
  if (s->tls && luaio_tls_extra_info(L, s->tls, name)) return 1;
  if (s->close_started || s->closed) { lua_pushvalue(L, 3); return 1; }
  if (peer) return luaio_push_name(L, &s->u, s->kind, 1);
  if (sock) return luaio_push_name(L, &s->u, s->kind, 0);
  if (strcmp(name, "socket") == 0) {
    uv_os_fd_t fd;
    if (uv_fileno(&s->u.h, &fd) == 0) lua_pushinteger(L, (lua_Integer)fd);
    else lua_pushnil(L);
    return 1;
  }
  lua_pushvalue(L, 3);
  return 1;
}

/* _start_tls(ctx, server_side, hostname): puts a TLS engine under the stream and starts
 * the handshake (tls.lua's start_tls and the ssl options then wait in _handshake). Bytes
 * already buffered are the peer's first records: they go to the engine. */
static int w_start_tls(lua_State *L) {
  luaio_stream *s = tow_io(L);
  int server = lua_toboolean(L, 3);
  const char *host = luaio_optstring(L, 4, NULL);
  if (s->tls) return luaio_raise(L, "RuntimeError", "start_tls: the connection already uses TLS");
  if (s->kind == SK_NONE) return luaio_raise(L, "RuntimeError", "start_tls: not a connection");
  if (s->err) { push_stream_error(L, s, "start_tls"); return lua_error(L); }
  if (s->closing || s->closed || s->eof)
    return luaio_raise_oserror(L, UV_ECONNRESET, "start_tls: the connection is closed");
  if (s->eof_written) return luaio_raise(L, "RuntimeError", "start_tls: after write_eof()");
  luaio_tls *t = luaio_tls_new(L, 2, server, host);
  size_t len = luaio_sbuf_len(&s->rb);
  if (len && luaio_tls_feed(t, luaio_sbuf_ptr(&s->rb), len) != 0) {
    luaio_tls_free(t);
    return luaL_error(L, "not enough memory");
  }
  luaio_sbuf_free(&s->rb);
  luaio_sbuf_init(&s->rb);
  s->scan = 0;
  s->tls = t;
  tls_pump(s, 0); /* a client says hello now */
  want_read(s);
  return 0;
}

static const luaio_wait_kind handshake_wait = {"a TLS handshake", NULL, NULL, 0};

static int handshake_step(lua_State *L);
static int handshake_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  check_resumed(L);
  return handshake_step(L);
}

static int handshake_step(lua_State *L) {
  luaio_stream *s = tow(L);
  if (!s->tls) return luaio_raise(L, "RuntimeError", "handshake: the connection does not use TLS");
  if (luaio_tls_failed(s->tls)) { luaio_tls_push_error(L, s->tls); return lua_error(L); }
  if (luaio_tls_handshake_done(s->tls)) return 0;
  if (s->err) return luaio_raise_oserror(L, s->err, "TLS handshake");
  if (s->eof || s->closing || s->closed) {
    luaio_tls_eof(s->tls);
    luaio_tls_push_error(L, s->tls);
    return lua_error(L);
  }
  if (!luaio_list_empty(&s->rwait))
    return luaio_raise(L, "RuntimeError", "TLS handshake while another task is waiting for incoming data");
  luaio_task *t = luaio_check_suspend(L, "start_tls");
  want_read(s);
  luaio_list_append(&s->rwait, &t->node);
  return luaio_park(L, t, &handshake_wait, 1, handshake_k);
}

/* _handshake(): waits until the TLS handshake is done; raises SSLError when it fails */
static int w_handshake(lua_State *L) {
  luaio_checkudata(L, 1, LUAIO_WRITER);
  luaio_check_task(L, "start_tls");
  lua_settop(L, 1);
  return handshake_step(L);
}

static int w_set_write_buffer_limits(lua_State *L) {
  luaio_stream *s = tow(L);
  lua_Integer high, low;
  if (lua_isnoneornil(L, 2)) {
    low = luaio_optinteger(L, 3, -1);
    high = low < 0 ? DEFAULT_HIGH : 4 * low;
  } else {
    high = luaio_checkinteger(L, 2);
  }
  low = lua_isnoneornil(L, 3) ? high / 4 : luaio_checkinteger(L, 3);
  if (!(high >= low && low >= 0))
    return luaio_raise(L, "ValueError", "high (%I) must be >= low (%I) must be >= 0", high, low);
  s->high = (size_t)high;
  s->low = (size_t)low;
  if (s->u.s.write_queue_size <= s->low) wake_list(s, &s->wwait);
  return 0;
}

static int w_get_write_buffer_size(lua_State *L) {
  luaio_stream *s = tow(L);
  lua_pushinteger(L, s->closed ? 0 : (lua_Integer)s->u.s.write_queue_size);
  return 1;
}

static int w_get_write_buffer_limits(lua_State *L) {
  luaio_stream *s = tow(L);
  lua_pushinteger(L, (lua_Integer)s->low);
  lua_pushinteger(L, (lua_Integer)s->high);
  return 2;
}

static int w_tostring(lua_State *L) {
  luaio_checkudata(L, 1, LUAIO_WRITER);
  lua_pushfstring(L, "StreamWriter: %p", lua_touserdata(L, 1));
  return 1;
}

/* Pushes reader, writer for a connected stream no Lua object owns yet, and starts reading
 * (asyncio reads as soon as the connection is made; the limit bounds what it buffers). */
/* A TCP connection's addresses, kept at its start (as asyncio does): get_extra_info
 * still answers after close() or a reset. An address that does not fit stays unknown. */
static void keep_names(luaio_stream *s) {
  if (s->kind != SK_TCP) return;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  s->named = 0;
  if (uv_tcp_getpeername(&s->u.tcp, (struct sockaddr *)&ss, &len) == 0 && (size_t)len <= sizeof s->names[0]) {
    memcpy(&s->names[0], &ss, (size_t)len);
    s->named |= 1;
  }
  len = sizeof ss;
  if (uv_tcp_getsockname(&s->u.tcp, (struct sockaddr *)&ss, &len) == 0 && (size_t)len <= sizeof s->names[1]) {
    memcpy(&s->names[1], &ss, (size_t)len);
    s->named |= 2;
  }
}

void luaio_stream_push_pair(lua_State *L, luaio_stream *s) {
  luaL_checkstack(L, 4, NULL);
  keep_names(s);
  push_reader(L, s);
  sref *w = lua_newuserdatauv(L, sizeof *w, 1);
  w->s = s;
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, 1);
  luaL_setmetatable(L, LUAIO_WRITER);
  want_read(s);
}

/* ---- an open resource: the writer, until close() (or a close of the runtime's) ---- */
static int stream_is_open(lua_State *L, int idx) {
  if (!luaL_testudata(L, idx, LUAIO_WRITER)) return 0;
  lua_getiuservalue(L, idx, 1);
  sref *r = lua_touserdata(L, -1);
  lua_pop(L, 1);
  luaio_stream *s = r ? r->s : NULL;
  return s && !s->closing && !s->close_started && !s->closed;
}

static const luaio_resource_kind stream_resource = {"stream", stream_is_open};

void luaio_stream_track(lua_State *L, int widx, int from) {
  sref *w = lua_touserdata(L, widx);
  luaio_resource_open(L, w->s->rt, widx, &stream_resource, from);
}

static const luaL_Reg reader_methods[] = {
  {"read", r_read}, {"readline", r_readline}, {"readexactly", r_readexactly},
  {"readuntil", r_readuntil}, {"lines", r_lines}, {"at_eof", r_at_eof},
  {"exception", r_exception}, {"feed_data", r_feed_data}, {"feed_eof", r_feed_eof},
  {"buffered", r_buffered}, {"__gc", reader_gc}, {"__tostring", r_tostring}, {NULL, NULL}
};

static const luaL_Reg writer_methods[] = {
  {"write", w_write}, {"writelines", w_writelines}, {"drain", w_drain}, {"close", w_close},
  {"wait_closed", w_wait_closed}, {"is_closing", w_is_closing},
  {"can_write_eof", w_can_write_eof}, {"write_eof", w_write_eof},
  {"get_extra_info", w_get_extra_info}, {"_start_tls", w_start_tls}, {"_handshake", w_handshake}, {"_shared", w_shared}, {"set_write_buffer_limits", w_set_write_buffer_limits},
  {"get_write_buffer_limits", w_get_write_buffer_limits},
  {"get_write_buffer_size", w_get_write_buffer_size}, {"__close", w_close},
  {"__tostring", w_tostring}, {NULL, NULL}
};

void luaio_stream_open(lua_State *L, luaio_runtime *rt) {
  luaio_new_class(L, LUAIO_READER, reader_methods, rt);
  luaio_new_class(L, LUAIO_WRITER, writer_methods, rt);
  luaio_wait_kind_register(rt, &read_wait);
  luaio_wait_kind_register(rt, &drain_wait);
  luaio_wait_kind_register(rt, &closing_wait);
  luaio_wait_kind_register(rt, &handshake_wait);
  luaio_resource_kind_register(rt, &stream_resource);
  static const luaL_Reg funcs[] = {{"StreamReader", l_stream_reader}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
}
