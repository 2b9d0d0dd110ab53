/* thread.c — aio.to_thread(fn, ...): fn runs on one of libuv's worker threads
 * (uv_queue_work), in a Lua state of its own opened with the standard libraries and the
 * caller's package.path / package.cpath; the calling task waits for it.
 *
 * Nothing crosses between the states but bytes: fn is dumped (lua_dump, with its debug
 * information, so the worker's traceback names the caller's source lines) and its
 * arguments serialized into one buffer the C call record owns; the worker loads and runs
 * it and serializes the results (or the error and its traceback) into a second buffer;
 * the continuation, back on the loop thread, rebuilds them on the task's stack. The worker
 * never sees the caller's state, and the loop thread never sees a worker's state while it
 * is in use.
 *
 * Ownership. A call record (tcall, malloc'd) is owned by a small userdata (the "box") on
 * the waiting task's stack while the task may still read it, and by the work request
 * while libuv has it: after_cb frees a record the box has let go of (the task was
 * cancelled, or was collected at close), the box frees a finished one. A record whose
 * work has not started yet when its task lets go is cancelled in the pool (uv_cancel).
 *
 * Worker states. Each runtime has one pool (a malloc'd struct behind a userdata anchored
 * in the registry of the main state): a LIFO free list of idle worker states, linked
 * through each state's extra space and guarded by a mutex, since workers take and give
 * states back on their own threads. A state is taken when a work item starts and given
 * back when it ends, so there are never more states than libuv has worker threads
 * (UV_THREADPOOL_SIZE), and sequential calls always land on the same state. The pool's
 * __gc (the main state closing) closes the idle states; a state still in use is closed
 * by its worker when it sees the pool dead. The struct itself lives until the last work
 * item in flight has been through after_cb (refs). */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lualib.h>
#include "thread.h"
#include "task.h"
#include "stream.h"

#define LUAIO_THREADPOOL "luaio.ThreadPool"
#define LUAIO_THREADCALL "luaio.ThreadCall"
#define MAX_DEPTH 200 /* tables nested deeper are refused (the copy recurses in C) */

/* registry light key: the pool userdata of this state's runtime */
static const char key_pool = 'P';

/* ---- a growable byte buffer (plain malloc: the worker side must not raise to grow) ---- */
typedef struct sbuf {
  char *p;
  size_t n, cap;
} sbuf;

static int sb_reserve(sbuf *b, size_t extra) {
  if (b->cap - b->n >= extra) return 1;
  if (extra > SIZE_MAX / 2 - b->n) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->n < extra) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return 0;
  b->p = p;
  b->cap = cap;
  return 1;
}

static int sb_put(sbuf *b, const void *s, size_t n) {
  if (!sb_reserve(b, n)) return 0;
  memcpy(b->p + b->n, s, n);
  b->n += n;
  return 1;
}

static void sb_free(sbuf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

/* ---- the copy format: a tag byte, then the payload in native byte order ----
 * A table is its tag, a size hint for the array part, the number of pairs and the
 * pairs (key, value). Integers and floats keep their subtype and their exact bits. */
enum { V_NIL = 0, V_FALSE, V_TRUE, V_INT, V_FLT, V_STR, V_TAB };
enum { S_OK = 0, S_NOMEM, S_BAD };

typedef struct ser {
  lua_State *L;
  sbuf *b;
  int depth;
  int bad_key;              /* the refused value is a key of the innermost table */
  const char *what;         /* what was refused: "a function", ... */
  char whatbuf[96];
  char at[200];             /* the keys leading to it, ".x[3]", built while unwinding */
  const void *path[MAX_DEPTH]; /* the tables being copied, outermost first (cycles) */
} ser;

static void ser_init(ser *s, lua_State *L, sbuf *b) {
  s->L = L;
  s->b = b;
  s->depth = 0;
  s->bad_key = 0;
  s->what = NULL;
  s->at[0] = '\0';
}

static void prepend(ser *s, const char *seg) {
  size_t ls = strlen(seg), la = strlen(s->at), cap = sizeof s->at - 1;
  if (ls >= cap) return;
  if (ls + la > cap) la = cap - ls;
  memmove(s->at + ls, s->at, la);
  memcpy(s->at, seg, ls);
  s->at[ls + la] = '\0';
}

/* The path segment naming the key at idx: .name, ["str"], [3], [1.5], [true] ... */
static void key_segment(lua_State *L, int idx, char *out, size_t size) {
  switch (lua_type(L, idx)) {
  case LUA_TSTRING: {
    size_t len;
    const char *k = lua_tolstring(L, idx, &len); /* a string: no conversion in place */
    int ident = len > 0 && len <= 40 && (k[0] == '_' || (k[0] | 32) >= 'a') && (k[0] | 32) <= 'z';
    for (size_t i = 0; ident && i < len; i++)
      ident = k[i] == '_' || ((k[i] | 32) >= 'a' && (k[i] | 32) <= 'z') || (k[i] >= '0' && k[i] <= '9');
    if (ident) { snprintf(out, size, ".%s", k); return; }
    char shown[24];
    size_t n = len < 20 ? len : 20;
    for (size_t i = 0; i < n; i++) shown[i] = (k[i] >= 32 && k[i] < 127 && k[i] != '"') ? k[i] : '?';
    shown[n] = '\0';
    snprintf(out, size, "[\"%s%s\"]", shown, len > n ? "..." : "");
    return;
  }
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) snprintf(out, size, "[%lld]", (long long)lua_tointeger(L, idx));
    else snprintf(out, size, "[%.14g]", (double)lua_tonumber(L, idx));
    return;
  case LUA_TBOOLEAN:
    snprintf(out, size, "[%s]", lua_toboolean(L, idx) ? "true" : "false");
    return;
  default:
    snprintf(out, size, "[(a table key)]");
  }
}

static int ser_value(ser *s, int idx);

static int ser_table(ser *s, int idx) {
  lua_State *L = s->L;
  const void *p = lua_topointer(L, idx);
  for (int i = 0; i < s->depth; i++)
    if (s->path[i] == p) { s->what = "a table that contains itself (a cycle)"; return S_BAD; }
  if (s->depth >= MAX_DEPTH) { s->what = "tables nested more than 200 deep"; return S_BAD; }
  if (lua_getmetatable(L, idx)) {
    lua_pop(L, 1);
    s->what = "a table with a metatable";
    return S_BAD;
  }
  if (!lua_checkstack(L, 4)) return S_NOMEM;
  uint64_t narr = (uint64_t)lua_rawlen(L, idx), npairs = 0;
  unsigned char tag = V_TAB;
  if (!sb_put(s->b, &tag, 1) || !sb_put(s->b, &narr, sizeof narr)) return S_NOMEM;
  size_t at = s->b->n;
  if (!sb_put(s->b, &npairs, sizeof npairs)) return S_NOMEM;
  s->path[s->depth++] = p;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    int top = lua_gettop(L);
    int r = ser_value(s, top - 1);
    if (r == S_BAD && s->at[0] == '\0' && !s->bad_key) s->bad_key = 1;
    else if (r == S_BAD) prepend(s, "[(a table key)]");
    if (r == S_OK) {
      r = ser_value(s, top);
      if (r == S_BAD) {
        char seg[64];
        key_segment(L, top - 1, seg, sizeof seg);
        prepend(s, seg);
      }
    }
    if (r != S_OK) {
      lua_pop(L, 2);
      s->depth--;
      return r;
    }
    lua_pop(L, 1);
    npairs++;
  }
  memcpy(s->b->p + at, &npairs, sizeof npairs);
  s->depth--;
  return S_OK;
}

static int ser_value(ser *s, int idx) {
  lua_State *L = s->L;
  unsigned char tag;
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    tag = V_NIL;
    return sb_put(s->b, &tag, 1) ? S_OK : S_NOMEM;
  case LUA_TBOOLEAN:
    tag = lua_toboolean(L, idx) ? V_TRUE : V_FALSE;
    return sb_put(s->b, &tag, 1) ? S_OK : S_NOMEM;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      lua_Integer i = lua_tointeger(L, idx);
      tag = V_INT;
      return sb_put(s->b, &tag, 1) && sb_put(s->b, &i, sizeof i) ? S_OK : S_NOMEM;
    } else {
      lua_Number n = lua_tonumber(L, idx);
      tag = V_FLT;
      return sb_put(s->b, &tag, 1) && sb_put(s->b, &n, sizeof n) ? S_OK : S_NOMEM;
    }
  case LUA_TSTRING: {
    size_t len;
    const char *str = lua_tolstring(L, idx, &len);
    uint64_t n = len;
    tag = V_STR;
    return sb_put(s->b, &tag, 1) && sb_put(s->b, &n, sizeof n) && sb_put(s->b, str, len)
             ? S_OK : S_NOMEM;
  }
  case LUA_TTABLE:
    return ser_table(s, lua_absindex(L, idx));
  case LUA_TFUNCTION:
    s->what = lua_iscfunction(L, idx) ? "a C function" : "a function";
    return S_BAD;
  case LUA_TTHREAD:
    s->what = "a coroutine";
    return S_BAD;
  case LUA_TLIGHTUSERDATA:
    s->what = "a light userdata";
    return S_BAD;
  default: { /* a full userdata: named by its metatable's __name when it has one */
    const char *name = NULL;
    if (lua_getmetatable(L, idx)) {
      lua_pushliteral(L, "__name");
      lua_rawget(L, -2);
      name = lua_tostring(L, -1);
      if (name) snprintf(s->whatbuf, sizeof s->whatbuf, "a userdata (%s)", name);
      lua_pop(L, 2);
    }
    s->what = name ? s->whatbuf : "a userdata";
    return S_BAD;
  }
  }
}

/* Pushes the message for a refused value: "cannot copy a function at .x[3]". */
static const char *push_refusal(lua_State *L, const ser *s) {
  const char *what = s->what ? s->what : "a value";
  if (s->bad_key)
    return lua_pushfstring(L, "cannot copy %s used as a table key%s%s", what,
                           s->at[0] ? " at " : "", s->at);
  if (s->at[0]) return lua_pushfstring(L, "cannot copy %s at %s", what, s->at);
  return lua_pushfstring(L, "cannot copy %s", what);
}

/* ---- reading the copy back (the buffer is our own: it is trusted) ---- */
typedef struct rd {
  const char *p;
  size_t pos;
} rd;

static void rd_get(rd *r, void *dst, size_t n) {
  memcpy(dst, r->p + r->pos, n);
  r->pos += n;
}

static int clamp_int(uint64_t n) { return n > INT_MAX ? INT_MAX : (int)n; }

static void des_value(lua_State *L, rd *r) {
  luaL_checkstack(L, 3, "copying a value");
  unsigned char tag = (unsigned char)r->p[r->pos++];
  switch (tag) {
  case V_NIL: lua_pushnil(L); break;
  case V_FALSE: lua_pushboolean(L, 0); break;
  case V_TRUE: lua_pushboolean(L, 1); break;
  case V_INT: {
    lua_Integer i;
    rd_get(r, &i, sizeof i);
    lua_pushinteger(L, i);
    break;
  }
  case V_FLT: {
    lua_Number n;
    rd_get(r, &n, sizeof n);
    lua_pushnumber(L, n);
    break;
  }
  case V_STR: {
    uint64_t n;
    rd_get(r, &n, sizeof n);
    lua_pushlstring(L, r->p + r->pos, (size_t)n);
    r->pos += (size_t)n;
    break;
  }
  default: { /* V_TAB */
    uint64_t narr, npairs;
    rd_get(r, &narr, sizeof narr);
    rd_get(r, &npairs, sizeof npairs);
    if (narr > npairs) narr = npairs;
    lua_createtable(L, clamp_int(narr), clamp_int(npairs - narr));
    for (uint64_t i = 0; i < npairs; i++) {
      des_value(L, r);
      des_value(L, r);
      lua_rawset(L, -3);
    }
  }
  }
}

/* ---- the pool of worker states ---- */
typedef struct tpool {
  uv_mutex_t mu;
  lua_State *idle;    /* LIFO free list, next pointer in each state's extra space (mu) */
  int dead;           /* the main state is closing: states given back are closed (mu) */
  int refs;           /* the userdata + work items in flight (loop thread only) */
  luaio_runtime *rt;  /* NULL once the userdata is collected (loop thread only) */
} tpool;

#define NEXT_IDLE(W) (*(lua_State **)lua_getextraspace(W))

static void pool_unref(tpool *p) {
  if (--p->refs > 0) return;
  uv_mutex_destroy(&p->mu);
  free(p);
}

static int open_libs(lua_State *W) {
  luaL_openlibs(W);
  return 0;
}

static lua_State *pool_take(tpool *p) {
  uv_mutex_lock(&p->mu);
  lua_State *W = p->idle;
  if (W) p->idle = NEXT_IDLE(W);
  uv_mutex_unlock(&p->mu);
  if (W) return W;
  W = luaL_newstate();
  if (!W) return NULL;
  lua_pushcfunction(W, open_libs);
  if (lua_pcall(W, 0, 0, 0) != LUA_OK) {
    lua_close(W);
    return NULL;
  }
  return W;
}

static void pool_give(tpool *p, lua_State *W) {
  lua_settop(W, 0);
  uv_mutex_lock(&p->mu);
  int dead = p->dead;
  if (!dead) {
    NEXT_IDLE(W) = p->idle;
    p->idle = W;
  }
  uv_mutex_unlock(&p->mu);
  if (dead) lua_close(W);
}

static int pool_gc(lua_State *L) {
  tpool **ud = luaL_checkudata(L, 1, LUAIO_THREADPOOL);
  tpool *p = *ud;
  if (!p) return 0;
  *ud = NULL;
  p->rt = NULL;
  uv_mutex_lock(&p->mu);
  p->dead = 1;
  lua_State *W = p->idle;
  p->idle = NULL;
  uv_mutex_unlock(&p->mu);
  while (W) {
    lua_State *next = NEXT_IDLE(W);
    lua_close(W);
    W = next;
  }
  pool_unref(p);
  return 0;
}

/* ---- one call ---- */
enum { C_OK = 0, C_RAISED, C_FAILED, C_CANCELED };

typedef struct tcall {
  uv_work_t work;
  tpool *pool;
  luaio_node waiters;   /* the task waiting for it, until woken */
  sbuf in;              /* fn's dump, package.path, package.cpath, the arguments */
  sbuf out;             /* the results, or a message (C_RAISED, C_FAILED) */
  uint32_t nres;
  int status;           /* written by the worker, read after after_cb */
  unsigned char queued, done, orphan;
} tcall;

static void free_call(tcall *c) {
  while (!luaio_list_empty(&c->waiters)) luaio_list_unlink(c->waiters.next);
  sb_free(&c->in);
  sb_free(&c->out);
  free(c);
}

static void call_fail(tcall *c, int status, const char *msg, size_t len) {
  c->status = status;
  c->out.n = 0;
  if (!sb_put(&c->out, msg, len)) c->out.n = 0; /* the caller then says "not enough memory" */
}

/* Message handler of fn on the worker: the error as a string, with the worker's traceback. */
static int worker_msgh(lua_State *W) {
  const char *msg = lua_tostring(W, 1);
  if (!msg) {
    if (luaL_callmeta(W, 1, "__tostring") && lua_type(W, -1) == LUA_TSTRING) msg = lua_tostring(W, -1);
    else msg = lua_pushfstring(W, "(error object is a %s value)", luaL_typename(W, 1));
  }
  luaL_traceback(W, W, msg, 1);
  return 1;
}

/* On the worker, in a protected call: load fn, rebuild the arguments, run it, copy the
 * results out. An error here (out of memory) is the call's failure (work_cb). */
static int worker_run(lua_State *W) {
  tcall *c = lua_touserdata(W, 1);
  lua_settop(W, 0);
  rd r = {c->in.p, 0};
  uint64_t dlen;
  rd_get(&r, &dlen, sizeof dlen);
  lua_pushcfunction(W, worker_msgh);
  if (luaL_loadbufferx(W, r.p + r.pos, (size_t)dlen, "=to_thread", "b") != LUA_OK) lua_error(W);
  r.pos += (size_t)dlen;
  luaL_getsubtable(W, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(W, -1, "package");
  const char *const fields[] = {"path", "cpath"};
  for (int i = 0; i < 2; i++) {
    des_value(W, &r);
    if (lua_istable(W, -2) && lua_isstring(W, -1)) lua_setfield(W, -2, fields[i]);
    else lua_pop(W, 1);
  }
  lua_pop(W, 2);
  uint32_t nargs;
  rd_get(&r, &nargs, sizeof nargs);
  for (uint32_t i = 0; i < nargs; i++) des_value(W, &r);
  if (lua_pcall(W, (int)nargs, LUA_MULTRET, 1) != LUA_OK) {
    size_t len;
    const char *msg = lua_tolstring(W, -1, &len);
    if (!msg) msg = "(error in the error handler)", len = strlen(msg);
    call_fail(c, C_RAISED, msg, len);
    return 0;
  }
  int nres = lua_gettop(W) - 1;
  ser s;
  ser_init(&s, W, &c->out);
  c->out.n = 0;
  for (int i = 2; i <= nres + 1; i++) {
    int res = ser_value(&s, i);
    if (res == S_NOMEM) return luaL_error(W, "not enough memory");
    if (res == S_BAD) {
      size_t len;
      const char *why = push_refusal(W, &s);
      const char *msg = lua_pushfstring(W, "cannot copy result #%d of the function back: %s", i - 1, why);
      len = strlen(msg);
      call_fail(c, C_FAILED, msg, len);
      return 0;
    }
  }
  c->nres = (uint32_t)nres;
  c->status = C_OK;
  return 0;
}

static void work_cb(uv_work_t *w) {
  tcall *c = w->data;
  lua_State *W = pool_take(c->pool);
  if (!W) {
    call_fail(c, C_FAILED, "", 0); /* out of memory */
    return;
  }
  lua_pushcfunction(W, worker_run);
  lua_pushlightuserdata(W, c);
  if (lua_pcall(W, 1, 0, 0) != LUA_OK) {
    size_t len = 0;
    const char *msg = lua_tolstring(W, -1, &len);
    call_fail(c, C_FAILED, msg ? msg : "", msg ? len : 0);
  }
  pool_give(c->pool, W);
}

/* On the loop thread, once the work is done or was cancelled before it started. */
static void after_cb(uv_work_t *w, int status) {
  tcall *c = w->data;
  tpool *p = c->pool;
  c->done = 1;
  if (status == UV_ECANCELED) c->status = C_CANCELED;
  if (c->orphan) {
    free_call(c);
  } else if (!luaio_list_empty(&c->waiters) && p->rt && !p->rt->closing) {
    luaio_wake(p->rt, luaio_container(c->waiters.next, luaio_task, node));
  }
  pool_unref(p);
}

/* The box lets go of its record: freed now if libuv is done with it, else by after_cb
 * (and taken out of the pool's queue if no worker has started it yet). */
static void release_box(tcall **box) {
  tcall *c = *box;
  if (!c) return;
  *box = NULL;
  while (!luaio_list_empty(&c->waiters)) luaio_list_unlink(c->waiters.next);
  if (c->queued && !c->done) {
    c->orphan = 1;
    uv_cancel((uv_req_t *)&c->work); /* fails harmlessly once a worker has it */
  } else {
    free_call(c);
  }
}

static int call_gc(lua_State *L) {
  release_box(lua_touserdata(L, 1));
  return 0;
}

/* ---- aio.to_thread ---- */
static const luaio_wait_kind thread_wait = {"a worker thread (aio.to_thread)", NULL, NULL, 1};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud) {
  (void)L;
  return sb_put(ud, p, sz) ? 0 : 1;
}

static int no_memory(lua_State *L) { return luaL_error(L, "not enough memory"); }

/* fn: a Lua function whose only upvalue, if any, is _ENV (it becomes the worker's globals). */
static void check_fn(lua_State *L) {
  if (lua_type(L, 1) != LUA_TFUNCTION) luaio_typeerror(L, 1, "function");
  if (lua_iscfunction(L, 1))
    luaio_argerror(L, 1, "cannot copy a C function (to_thread runs a Lua function)");
  for (int i = 1;; i++) {
    const char *name = lua_getupvalue(L, 1, i);
    if (!name) break;
    lua_pop(L, 1);
    if (strcmp(name, "_ENV") == 0) continue;
    luaio_argerror(L, 1, lua_pushfstring(L, "the function has an upvalue '%s' (a function "
                   "run on a thread may use only its arguments and globals)", name));
  }
}

static void push_error_result(lua_State *L, tcall *c, const char *prefix) {
  if (c->out.n == 0) lua_pushliteral(L, "not enough memory");
  else lua_pushlstring(L, c->out.p, c->out.n);
  lua_pushfstring(L, "%s%s", prefix, lua_tostring(L, -1));
  luaio_push_error(L, "RuntimeError", lua_tostring(L, -1));
}

static int call_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  int bidx = (int)ctx;
  tcall **box = lua_touserdata(L, bidx);
  luaio_task *t = luaio_rt(L)->current;
  if (luaio_take_wake_cancel(t)) {
    release_box(box);
    return luaio_raise_cancelled(L, t);
  }
  tcall *c = *box;
  switch (c->status) {
  case C_OK: {
    luaL_checkstack(L, (int)c->nres + 8, "too many results from to_thread");
    int top = lua_gettop(L);
    rd r = {c->out.p, 0};
    for (uint32_t i = 0; i < c->nres; i++) des_value(L, &r);
    release_box(box);
    return lua_gettop(L) - top;
  }
  case C_RAISED:
    push_error_result(L, c, "");
    break;
  case C_CANCELED: /* not expected: only an abandoned call is cancelled */
    luaio_push_error(L, "RuntimeError", "to_thread: the work was cancelled");
    break;
  default:
    push_error_result(L, c, "to_thread: ");
  }
  release_box(box);
  return lua_error(L);
}

static int l_to_thread(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  tpool *p = *(tpool **)lua_touserdata(L, lua_upvalueindex(2));
  check_fn(L);
  luaio_check_task(L, "to_thread");
  if (!p || !rt->loop || rt->closing)
    return luaio_raise(L, "RuntimeError", "to_thread: the runtime is closed");
  int nargs = lua_gettop(L) - 1;
  if ((lua_Unsigned)nargs > UINT32_MAX) luaio_argerror(L, 2, "too many arguments");
  luaL_checkstack(L, 8, NULL);
  /* the box owns the record from here: an error below frees it through __gc */
  tcall **box = lua_newuserdatauv(L, sizeof *box, 0);
  *box = NULL;
  luaL_setmetatable(L, LUAIO_THREADCALL);
  int bidx = lua_gettop(L);
  tcall *c = luaio_realloc(L, NULL, sizeof *c);
  memset(c, 0, sizeof *c);
  luaio_list_init(&c->waiters);
  c->pool = p;
  c->work.data = c;
  *box = c;
  /* fn's dump, its length in front */
  uint64_t dlen = 0;
  if (!sb_put(&c->in, &dlen, sizeof dlen)) no_memory(L);
  lua_pushvalue(L, 1);
  if (lua_dump(L, dump_writer, &c->in, 0) != 0) no_memory(L);
  lua_pop(L, 1);
  dlen = c->in.n - sizeof dlen;
  memcpy(c->in.p, &dlen, sizeof dlen);
  /* the caller's package.path and package.cpath (nil when not strings) */
  ser s;
  ser_init(&s, L, &c->in);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "package");
  const char *const fields[] = {"path", "cpath"};
  for (int i = 0; i < 2; i++) {
    if (lua_istable(L, -1)) lua_getfield(L, -1, fields[i]);
    else lua_pushnil(L);
    if (lua_type(L, -1) != LUA_TSTRING) { lua_pop(L, 1); lua_pushnil(L); }
    if (ser_value(&s, -1) != S_OK) no_memory(L);
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  uint32_t n32 = (uint32_t)nargs;
  if (!sb_put(&c->in, &n32, sizeof n32)) no_memory(L);
  for (int i = 2; i <= nargs + 1; i++) {
    int r = ser_value(&s, i);
    if (r == S_NOMEM) no_memory(L);
    if (r == S_BAD) luaio_argerror(L, i, push_refusal(L, &s));
  }
  luaio_task *t = luaio_check_suspend(L, "to_thread"); /* a pending cancel: nothing queued */
  int err = uv_queue_work(rt->loop, &c->work, work_cb, after_cb);
  if (err) return luaio_raise_oserror(L, err, "to_thread");
  c->queued = 1;
  p->refs++;
  luaio_list_append(&c->waiters, &t->node);
  return luaio_park(L, t, &thread_wait, bidx, call_k);
}

void luaio_thread_open(lua_State *L, luaio_runtime *rt) {
  luaio_wait_kind_register(rt, &thread_wait);
  /* the module table is on top */
  if (luaL_newmetatable(L, LUAIO_THREADCALL)) {
    lua_pushcfunction(L, call_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  /* the userdata first: a failure below leaves nothing to leak */
  tpool **ud = lua_newuserdatauv(L, sizeof *ud, 0);
  *ud = NULL;
  if (luaL_newmetatable(L, LUAIO_THREADPOOL)) {
    lua_pushcfunction(L, pool_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  tpool *p = luaio_realloc(L, NULL, sizeof *p);
  memset(p, 0, sizeof *p);
  if (uv_mutex_init(&p->mu) != 0) {
    free(p);
    luaL_error(L, "luaio: cannot create a mutex");
  }
  p->refs = 1;
  p->rt = rt;
  *ud = p;
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &key_pool);
  /* aio.to_thread: upvalues the runtime (as every luaio function) and the pool */
  lua_pushlightuserdata(L, rt);
  lua_insert(L, -2);
  lua_pushcclosure(L, l_to_thread, 2);
  lua_setfield(L, -2, "to_thread");
  static const luaL_Reg names[] = {{"to_thread", l_to_thread}, {NULL, NULL}};
  luaio_name_functions(L, names);
}
