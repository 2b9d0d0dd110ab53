/* net.c — the C mechanism under streams.lua: asynchronous name resolution, connecting one
 * address (TCP or Unix), listening sockets that start a task per connection. The policy
 * (trying each address, the Server object, option checking) is in lua/luaio/streams.lua. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>
#include "net.h"
#include "stream.h"
#include "task.h"
#include "handle.h"
#include "loop.h"
#include "report.h"
#include "resources.h"

/* ---- addresses: a resolved address travels through Lua as the bytes of its sockaddr ---- */
static const struct sockaddr *check_sockaddr(lua_State *L, int idx, struct sockaddr_storage *ss) {
  size_t len;
  const char *p = luaio_checklstring(L, idx, &len);
  if (len != sizeof(struct sockaddr_in) && len != sizeof(struct sockaddr_in6))
    luaio_argerror(L, idx, "not a packed address");
  memset(ss, 0, sizeof *ss);
  memcpy(ss, p, len);
  return (const struct sockaddr *)ss;
}

static void push_packed(lua_State *L, const struct sockaddr *sa) {
  lua_pushlstring(L, (const char *)sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                                   : sizeof(struct sockaddr_in));
}

/* Writes the address's host into host[n] and returns its port. */
static int addr_name(const struct sockaddr *sa, char *host, size_t n) {
  if (sa->sa_family == AF_INET6) {
    uv_ip6_name((const struct sockaddr_in6 *)sa, host, n);
    return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  }
  uv_ip4_name((const struct sockaddr_in *)sa, host, n);
  return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

/* _addr_info(packed) -> family, host, port */
static int l_addr_info(lua_State *L) {
  struct sockaddr_storage ss;
  const struct sockaddr *sa = check_sockaddr(L, 1, &ss);
  char host[64];
  int port = addr_name(sa, host, sizeof host);
  lua_pushstring(L, sa->sa_family == AF_INET6 ? "inet6" : "inet");
  lua_pushstring(L, host);
  lua_pushinteger(L, port);
  return 3;
}

static int family_of(const char *f) {
  if (!f) return AF_UNSPEC;
  if (strcmp(f, "inet") == 0) return AF_INET;
  if (strcmp(f, "inet6") == 0) return AF_INET6;
  return -1;
}

/* ---- name resolution on libuv's thread pool ---- */
typedef struct gai_op {
  uv_getaddrinfo_t req;
  luaio_runtime *rt;
  luaio_task *t;          /* NULL once the caller has gone: the callback then frees */
  struct addrinfo *res;
  int status, done;
} gai_op;

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  gai_op *op = req->data;
  op->done = 1;
  op->status = status;
  op->res = res;
  if (!op->t || op->rt->closing) { uv_freeaddrinfo(res); free(op); return; }
  luaio_wake(op->rt, op->t);
}

static int resolve_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_task *t = luaio_rt(L)->current;
  gai_op *op = lua_touserdata(L, (int)ctx);
  if (luaio_take_wake_cancel(t)) {
    if (op->done) { uv_freeaddrinfo(op->res); free(op); }
    else { op->t = NULL; uv_cancel((uv_req_t *)&op->req); } /* the callback frees it */
    return luaio_raise_cancelled(L, t);
  }
  struct addrinfo *res = op->res;
  int err = op->status;
  free(op);
  if (err) {
    uv_freeaddrinfo(res);
    const char *host = lua_tostring(L, 1);
    lua_pushfstring(L, "getaddrinfo %s", host ? host : "(nil)");
    return luaio_raise_oserror(L, err, lua_tostring(L, -1));
  }
  lua_newtable(L);
  int n = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    push_packed(L, ai->ai_addr);
    lua_rawseti(L, -2, ++n);
  }
  uv_freeaddrinfo(res);
  return 1;
}

/* _resolve(host, port, family, passive) -> list of packed addresses. Numeric hosts (and
 * nil, meaning every interface) are answered at once, without the thread pool. */
/* what a task waits on here; cancelling is the default (the continuation cleans up) */
static const luaio_wait_kind resolve_wait = {"a name lookup", NULL, NULL, 1};
static const luaio_wait_kind connect_wait = {"a connection", NULL, NULL, 0};
static const luaio_wait_kind server_closing_wait = {"a server closing", NULL, NULL, 0};

static int l_resolve(lua_State *L) {
  const char *host = luaio_optstring(L, 1, NULL);
  int port = (int)luaio_checkinteger(L, 2);
  int family = family_of(luaio_optstring(L, 3, NULL));
  int passive = lua_toboolean(L, 4);
  luaio_argcheck(L, family >= 0, 3, "family must be 'inet' or 'inet6'");
  luaio_argcheck(L, port >= 0 && port <= 65535, 2, "port out of range");
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  if (!host || !*host) {
    lua_newtable(L);
    int n = 0;
    if (family != AF_INET6 && uv_ip4_addr(passive ? "0.0.0.0" : "127.0.0.1", port, &a4) == 0) {
      push_packed(L, (struct sockaddr *)&a4);
      lua_rawseti(L, -2, ++n);
    }
    if (family != AF_INET && uv_ip6_addr(passive ? "::" : "::1", port, &a6) == 0) {
      push_packed(L, (struct sockaddr *)&a6);
      lua_rawseti(L, -2, ++n);
    }
    return 1;
  }
  if (family != AF_INET6 && uv_ip4_addr(host, port, &a4) == 0) {
    lua_createtable(L, 1, 0);
    push_packed(L, (struct sockaddr *)&a4);
    lua_rawseti(L, -2, 1);
    return 1;
  }
  if (family != AF_INET && strchr(host, ':') && uv_ip6_addr(host, port, &a6) == 0) {
    lua_createtable(L, 1, 0);
    push_packed(L, (struct sockaddr *)&a6);
    lua_rawseti(L, -2, 1);
    return 1;
  }
  luaio_task *t = luaio_check_suspend(L, "getaddrinfo");
  lua_settop(L, 4);
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  gai_op *op = luaio_realloc(L, NULL, sizeof *op);
  memset(op, 0, sizeof *op);
  op->rt = luaio_rt(L);
  op->t = t;
  op->req.data = op;
  int err = uv_getaddrinfo(op->rt->loop, &op->req, gai_cb, host, service, &hints);
  if (err) {
    free(op);
    lua_pushfstring(L, "getaddrinfo %s", host);
    return luaio_raise_oserror(L, err, lua_tostring(L, -1));
  }
  lua_pushlightuserdata(L, op);
  return luaio_park(L, t, &resolve_wait, lua_gettop(L), resolve_k);
}

/* ---- connecting one address ---- */
typedef struct conn_op {
  uv_connect_t req;
  luaio_stream *s;
  luaio_runtime *rt;
  luaio_task *t;          /* NULL once the caller has gone: the callback then frees */
  int status, done;
} conn_op;

static void connect_cb(uv_connect_t *req, int status) {
  conn_op *op = req->data;
  op->done = 1;
  op->status = status;
  if (!op->t || op->rt->closing) { free(op); return; }
  luaio_wake(op->rt, op->t);
}

static int connect_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  luaio_task *t = luaio_rt(L)->current;
  conn_op *op = lua_touserdata(L, (int)ctx);
  luaio_stream *s = op->s;
  if (luaio_take_wake_cancel(t)) {
    /* closing the handle cancels the request; its callback frees op */
    if (op->done) free(op);
    else op->t = NULL;
    luaio_stream_abandon(s);
    return luaio_raise_cancelled(L, t);
  }
  int err = op->status;
  free(op);
  if (err) {
    luaio_stream_abandon(s);
    if (lua_toboolean(L, 4)) /* a Unix path */
      return luaio_raise_oserror(L, err, lua_pushfstring(L, "connect %s", lua_tostring(L, 2)));
    struct sockaddr_storage ss;
    const struct sockaddr *sa = check_sockaddr(L, 2, &ss);
    char host[64];
    int port = addr_name(sa, host, sizeof host);
    lua_pushfstring(L, sa->sa_family == AF_INET6 ? "connect [%s]:%d" : "connect %s:%d", host, port);
    return luaio_raise_oserror(L, err, lua_tostring(L, -1));
  }
  if (s->kind == SK_TCP) uv_tcp_nodelay(&s->u.tcp, 1);
  luaio_stream_push_pair(L, s);
  luaio_stream_track(L, -1, 0);
  return 2;
}

/* A Unix socket path must fit sockaddr_un (with its NUL): libuv would cut a longer one
 * short and bind or connect to another path. */
static void check_unix_path(lua_State *L, const char *path, const char *what) {
  size_t len = strlen(path), max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
  if (len <= max) return;
  lua_pushfstring(L, "%s %s: path too long for a Unix socket (%d bytes, at most %d)", what, path,
                  (int)len, (int)max);
  luaio_push_error(L, "OSError", lua_tostring(L, -1));
  lua_pushliteral(L, "ENAMETOOLONG");
  lua_setfield(L, -2, "code");
  lua_error(L);
}

/* _connect(kind, packed_address_or_path, limit, is_path) -> reader, writer */
static int l_connect(lua_State *L) {
  const char *kind = luaio_checkstring(L, 1);
  lua_Integer limit = luaio_checkinteger(L, 3);
  int pipe = strcmp(kind, "unix") == 0;
  struct sockaddr_storage ss;
  const struct sockaddr *sa = NULL;
  const char *path = NULL;
  if (pipe) check_unix_path(L, path = luaio_checkstring(L, 2), "connect");
  else sa = check_sockaddr(L, 2, &ss);
  lua_settop(L, 3);
  lua_pushboolean(L, pipe);
  luaio_task *t = luaio_check_suspend(L, pipe ? "open_unix_connection" : "open_connection");
  luaio_runtime *rt = luaio_rt(L);
  conn_op *op = luaio_realloc(L, NULL, sizeof *op);
  memset(op, 0, sizeof *op);
  op->s = luaio_stream_new(rt, pipe ? SK_PIPE : SK_TCP, (size_t)limit);
  if (!op->s) { free(op); return luaL_error(L, "cannot create a socket"); }
  op->rt = rt;
  op->t = t;
  op->req.data = op;
  if (pipe) {
    uv_pipe_connect(&op->req, &op->s->u.pipe, path, connect_cb); /* reports through the callback */
  } else {
    int err = uv_tcp_connect(&op->req, &op->s->u.tcp, sa, connect_cb);
    if (err) {
      luaio_stream_abandon(op->s);
      free(op);
      return luaio_raise_oserror(L, err, "connect");
    }
  }
  lua_pushlightuserdata(L, op);
  return luaio_park(L, t, &connect_wait, lua_gettop(L), connect_k);
}

/* ---- listening ---- */
static void ls_maybe_free(luaio_listener *ls) {
  if (!ls->owned && ls->active == 0 && ls->closed) free(ls);
}

static void ls_wake(luaio_listener *ls) {
  if (!ls->rt || ls->rt->closing || !ls->closed || ls->active) return;
  while (!luaio_list_empty(&ls->cwait))
    luaio_wake(ls->rt, luaio_container(ls->cwait.next, luaio_task, node));
}

static void ls_close_cb(uv_handle_t *h) {
  luaio_listener *ls = h->data;
  if (--ls->nopen > 0) return;
  ls->closed = 1;
  ls_wake(ls);
  ls_maybe_free(ls);
}

static void listener_conn_closed(luaio_listener *ls) {
  ls->active--;
  ls_wake(ls);
  ls_maybe_free(ls);
}

/* ---- a connection's end ----
 * When the task running client_cb ends, the Lua layer's conn_done(task, writer) runs from
 * the loop (a later round, so a task the connection was handed to has had its turn): it
 * closes the connection — unless client_cb returned normally and another task has used
 * the stream since (handed on: asyncio closes a writer once nothing refers to it; Lua has
 * no reference counts, so use by another task stands for "still referred to") — and
 * reports an error that escaped client_cb (nobody awaits these tasks). A watch on the
 * task starts it: an idle connection costs no callback object, only the writer's anchor. */
const char luaio_hook_conn_done = 'D';

static int queue_conn_done(lua_State *L) { /* protected: (task, writer) */
  luaio_runtime *rt = ((luaio_future *)lua_touserdata(L, 1))->rt;
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &luaio_hook_conn_done) != LUA_TFUNCTION) return 0;
  lua_insert(L, 1);
  luaio_handle_push_new(L, rt, 1, 2);
  luaio_ready_push(rt, &((luaio_handle *)lua_touserdata(L, -1))->node);
  return 0;
}

static void conn_end(lua_State *L, luaio_watch *w, int fidx) {
  luaio_stream *s = luaio_container(w, luaio_stream, end);
  luaio_future *f = lua_touserdata(L, fidx);
  luaio_runtime *rt = f->rt;
  if (!s->end_requeued) { /* after the task's other waiters, as a done callback added last */
    s->end_requeued = 1;
    luaio_list_append(&f->waiters, &w->node);
    return;
  }
  /* w->ctx stays: a task the connection was handed to still marks it shared until then */
  if (rt->closing || s->end_ref == LUA_NOREF || !lua_checkstack(L, 6)) return;
  lua_pushcfunction(L, queue_conn_done);
  lua_pushvalue(L, fidx);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_rawgeti(L, -1, s->end_ref);
  luaL_unref(L, -2, s->end_ref);
  s->end_ref = LUA_NOREF;
  lua_remove(L, -2);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) { /* out of memory: say it plainly */
    luaio_report_c_error(rt, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* A task running client_cb(reader, writer), watched for its end. */
static int accept_lua(lua_State *L) {
  luaio_listener *ls = lua_touserdata(L, 1);
  luaio_stream *s = lua_touserdata(L, 2);
  luaio_runtime *rt = ls->rt;
  lua_settop(L, 0);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);  /* 1 */
  lua_rawgeti(L, 1, ls->ref);
  lua_getiuservalue(L, 2, 1);                      /* 3: client_cb */
  luaio_stream_push_pair(L, s);                    /* 4: reader, 5: writer */
  luaio_stream_track(L, 5, 2); /* its site: where the server was started */
  lua_pushvalue(L, 5);
  s->end_ref = luaL_ref(L, 1); /* the writer, for conn_done (serve_connection frees it on error) */
  luaio_task_push_new(L, rt, 2);
  luaio_task *t = lua_touserdata(L, -1);
  s->end.node.kind = NODE_WATCH;
  s->end.fire = conn_end;
  s->end.ctx = t;
  luaio_list_append(&t->fut.waiters, &s->end.node);
  return 0;
}

/* ---- accepting ----
 * net.c accepts connections itself (a poll on the listening socket) instead of libuv's
 * uv_listen, whose answer to running out of file descriptors is to accept and close the
 * pending connections silently. Here, as asyncio does, a listener out of descriptors says
 * so once to the exception handler and pauses accepting for a moment; the connections
 * wait in the backlog meanwhile. */
#define ACCEPT_RETRY_MS 1000
#define ACCEPT_BATCH 64 /* per readable event: other work gets its turn */

/* Runs inside libuv: no user code here, only a new task queued with (reader, writer). */
static void serve_connection(luaio_listener *ls, int fd) {
  luaio_runtime *rt = ls->rt;
  luaio_stream *s = luaio_stream_new(rt, ls->kind, ls->limit);
  if (!s) { close(fd); return; }
  int err = ls->kind == SK_TCP ? uv_tcp_open(&s->u.tcp, fd) : uv_pipe_open(&s->u.pipe, fd);
  if (err) { close(fd); luaio_stream_abandon(s); return; }
  if (ls->kind == SK_TCP) uv_tcp_nodelay(&s->u.tcp, 1);
  s->server = ls;
  ls->active++;
  lua_State *L = rt->runL ? rt->runL : rt->L;
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) { luaio_stream_abandon(s); return; }
  lua_pushcfunction(L, accept_lua);
  lua_pushlightuserdata(L, ls);
  lua_pushlightuserdata(L, s);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    if (s->end_ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
      luaL_unref(L, -1, s->end_ref);
      s->end_ref = LUA_NOREF;
    }
    if (!s->owned) luaio_stream_abandon(s);
  }
  lua_settop(L, top);
}

static int report_starved(lua_State *L) { /* protected: (listener, errno) */
  luaio_listener *ls = lua_touserdata(L, 1);
  int err = uv_translate_sys_error((int)lua_tointeger(L, 2));
  lua_createtable(L, 0, 3);
  lua_pushfstring(L, "accept: out of system resources (%s); accepting again in %d ms",
                  uv_err_name(err), ACCEPT_RETRY_MS);
  lua_setfield(L, -2, "message");
  luaio_push_oserror(L, err, "accept");
  lua_setfield(L, -2, "exception");
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->rt->anchors);
  lua_rawgeti(L, -1, ls->ref); /* the ServerSocket */
  lua_setfield(L, -3, "socket");
  lua_pop(L, 1);
  luaio_report(ls->rt, L, -1);
  return 0;
}

static void on_readable(uv_poll_t *p, int status, int events);

static void retry_cb(uv_timer_t *t) {
  luaio_listener *ls = t->data;
  if (!ls->close_started) uv_poll_start(&ls->poll, UV_READABLE, on_readable);
}

static void starve(luaio_listener *ls, int errnum) {
  uv_poll_stop(&ls->poll);
  uv_timer_start(&ls->retry, retry_cb, ACCEPT_RETRY_MS, 0);
  if (ls->starved) return;
  ls->starved = 1;
  lua_State *L = ls->rt->runL ? ls->rt->runL : ls->rt->L;
  if (!lua_checkstack(L, 8)) return;
  lua_pushcfunction(L, report_starved);
  lua_pushlightuserdata(L, ls);
  lua_pushinteger(L, errnum);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) lua_pop(L, 1);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  luaio_listener *ls = p->data;
  uv_os_fd_t lfd;
  /* a level-triggered poll left running would call back forever: stop it */
  if (!ls->rt || ls->rt->closing || ls->close_started || uv_fileno(&ls->u.h, &lfd) != 0) {
    uv_poll_stop(p);
    return;
  }
  if (status < 0) { /* the socket itself failed: say so once, try again after the pause */
    starve(ls, EIO);
    return;
  }
  for (int n = 0; n < ACCEPT_BATCH && !ls->close_started; n++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) starve(ls, errno);
      return; /* EAGAIN: none left; anything else: the next event tries again */
    }
    ls->starved = 0;
    serve_connection(ls, fd);
  }
}

static luaio_listener *tols(lua_State *L) {
  luaio_listener **p = luaio_checkudata(L, 1, LUAIO_LISTENER);
  if (!*p) luaL_error(L, "ServerSocket: used after it was collected");
  return *p;
}

static void ls_unanchor(lua_State *L, luaio_listener *ls) {
  if (ls->ref == LUA_NOREF) return;
  lua_rawgeti(L, LUA_REGISTRYINDEX, ls->rt->anchors);
  luaL_unref(L, -1, ls->ref);
  lua_pop(L, 1);
  ls->ref = LUA_NOREF;
}

/* The poll goes first: it watches the socket the listening handle then closes. A handle
 * the runtime's uv_walk already closed (no callback of ours comes) counts as closed. */
static void ls_start_close(luaio_listener *ls) {
  if (ls->close_started) return;
  ls->close_started = 1;
  uv_handle_t *hs[] = {(uv_handle_t *)&ls->poll, (uv_handle_t *)&ls->retry, &ls->u.h};
  for (int i = ls->listening ? 0 : 2; i < 3; i++) {
    if (uv_is_closing(hs[i])) ls->nopen--;
    else uv_close(hs[i], ls_close_cb);
  }
  if (ls->nopen == 0) ls->closed = 1;
}

static int ls_close(lua_State *L) {
  luaio_listener *ls = tols(L);
  ls_unanchor(L, ls);
  ls_start_close(ls);
  return 0;
}

static int ls_gc(lua_State *L) {
  luaio_listener **p = luaio_checkudata(L, 1, LUAIO_LISTENER);
  luaio_listener *ls = *p;
  if (!ls) return 0;
  *p = NULL;
  ls->owned = 0;
  ls->rt = NULL;
  luaio_list_init(&ls->cwait);
  ls_start_close(ls);
  ls_maybe_free(ls);
  return 0;
}

static int ls_wait_closed_k(lua_State *L, int status, lua_KContext ctx);
static int ls_wait_closed_step(lua_State *L) {
  luaio_listener *ls = tols(L);
  if (ls->closed && ls->active == 0) return 0;
  luaio_task *t = luaio_check_suspend(L, "wait_closed");
  luaio_list_append(&ls->cwait, &t->node);
  return luaio_park(L, t, &server_closing_wait, 1, ls_wait_closed_k);
}

static int ls_wait_closed_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  luaio_raise_if_cancelled(L, luaio_rt(L)->current);
  return ls_wait_closed_step(L);
}

static int ls_wait_closed(lua_State *L) {
  lua_settop(L, 1);
  return ls_wait_closed_step(L);
}

static int ls_getsockname(lua_State *L) {
  luaio_listener *ls = tols(L);
  if (ls->close_started) { lua_pushnil(L); return 1; }
  return luaio_push_name(L, &ls->u, ls->kind, 0);
}

static int ls_is_serving(lua_State *L) {
  lua_pushboolean(L, !tols(L)->close_started);
  return 1;
}

static int ls_active(lua_State *L) {
  lua_pushinteger(L, tols(L)->active);
  return 1;
}

static int ls_fileno(lua_State *L) {
  luaio_listener *ls = tols(L);
  uv_os_fd_t fd;
  if (!ls->close_started && uv_fileno(&ls->u.h, &fd) == 0) lua_pushinteger(L, (lua_Integer)fd);
  else lua_pushnil(L);
  return 1;
}

static int ls_tostring(lua_State *L) {
  luaio_listener **p = luaio_checkudata(L, 1, LUAIO_LISTENER);
  lua_pushfstring(L, "ServerSocket: %p", (void *)*p);
  return 1;
}

/* Whether the directory a path names its entry in exists. */
static int dir_exists(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return 1; /* the current directory */
  if (slash == path) return 1;
  char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
  size_t n = (size_t)(slash - path);
  if (n >= sizeof dir) return 1;
  memcpy(dir, path, n);
  dir[n] = '\0';
  struct stat st;
  return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Binds as libuv's uv_tcp_bind does (SO_REUSEADDR; IPv6 only for an IPv6 address), but
 * says at once when the address is in use (libuv defers that to uv_listen). */
static int bind_tcp(luaio_uvstream *u, const struct sockaddr *sa, int reuse_port) {
  uv_os_fd_t fd;
  if (uv_fileno(&u->h, &fd) != 0) return UV_EBADF;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) return uv_translate_sys_error(errno);
  if (reuse_port) {
#ifdef SO_REUSEPORT
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) return uv_translate_sys_error(errno);
#else
    return UV_ENOTSUP;
#endif
  }
  if (sa->sa_family == AF_INET6 &&
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)
    return uv_translate_sys_error(errno);
  socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  return bind(fd, sa, len) != 0 ? uv_translate_sys_error(errno) : 0;
}

/* an open resource ("server") until close() */
static int server_is_open(lua_State *L, int idx) {
  luaio_listener **p = luaL_testudata(L, idx, LUAIO_LISTENER);
  return p && *p && !(*p)->close_started;
}

static const luaio_resource_kind server_resource = {"server", server_is_open};

/* _listen(main, kind, packed_address_or_path, backlog, limit, reuse_port) -> ServerSocket.
 * Listening when it returns; each connection runs main(reader, writer) as a new task. */
static int l_listen(lua_State *L) {
  luaio_checktype(L, 1, LUA_TFUNCTION);
  const char *kind = luaio_checkstring(L, 2);
  int backlog = (int)luaio_checkinteger(L, 4);
  lua_Integer limit = luaio_checkinteger(L, 5);
  int reuse_port = lua_toboolean(L, 6);
  int pipe = strcmp(kind, "unix") == 0;
  struct sockaddr_storage ss;
  const struct sockaddr *sa = NULL;
  const char *path = NULL;
  if (pipe) check_unix_path(L, path = luaio_checkstring(L, 3), "bind");
  else sa = check_sockaddr(L, 3, &ss);
  luaio_runtime *rt = luaio_rt(L);
  luaio_listener **box = lua_newuserdatauv(L, sizeof *box, 1);
  *box = NULL;
  luaL_setmetatable(L, LUAIO_LISTENER);
  luaio_listener *ls = luaio_realloc(L, NULL, sizeof *ls);
  memset(ls, 0, sizeof *ls);
  ls->rt = rt;
  ls->ref = LUA_NOREF;
  ls->kind = pipe ? SK_PIPE : SK_TCP;
  ls->limit = (size_t)limit;
  ls->conn_closed = listener_conn_closed;
  luaio_list_init(&ls->cwait);
  int err;
  const char *what;
  if (pipe) {
    err = uv_pipe_init(rt->loop, &ls->u.pipe, 0);
    if (err) { free(ls); return luaio_raise_oserror(L, err, "socket"); }
    ls->u.h.data = ls;
    /* a socket file left by an earlier server is replaced, as asyncio does */
    struct stat st;
    if (path[0] && stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
    err = uv_pipe_bind(&ls->u.pipe, path);
    /* libuv reports a missing directory as EACCES: say what bind(2) said */
    if (err == UV_EACCES && !dir_exists(path)) err = UV_ENOENT;
    what = "bind";
  } else {
    err = uv_tcp_init_ex(rt->loop, &ls->u.tcp, sa->sa_family);
    if (err) { free(ls); return luaio_raise_oserror(L, err, "socket"); }
    ls->u.h.data = ls;
    what = "bind";
    err = bind_tcp(&ls->u, sa, reuse_port);
  }
  ls->nopen = 1;
  uv_os_fd_t lfd = -1;
  if (!err) {
    what = "listen";
    if (uv_fileno(&ls->u.h, &lfd) != 0 || listen(lfd, backlog) != 0) err = uv_translate_sys_error(errno);
  }
  if (!err) err = uv_poll_init_socket(rt->loop, &ls->poll, lfd);
  if (!err) {
    uv_timer_init(rt->loop, &ls->retry);
    ls->poll.data = ls->retry.data = ls;
    ls->listening = 1;
    ls->nopen = 3;
    err = uv_poll_start(&ls->poll, UV_READABLE, on_readable);
  }
  if (err) {
    ls_start_close(ls); /* unowned: ls_close_cb frees it */
    if (pipe) return luaio_raise_oserror(L, err, lua_pushfstring(L, "%s %s", what, path));
    char host[64];
    int port = addr_name(sa, host, sizeof host);
    return luaio_raise_oserror(L, err, lua_pushfstring(L, "%s %s:%d", what, host, port));
  }
  *box = ls;
  ls->owned = 1;
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  /* anchored while listening: a server serves whether or not the script keeps it */
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_pushvalue(L, -2);
  ls->ref = luaL_ref(L, -2);
  lua_pop(L, 1);
  luaio_resource_open(L, rt, -1, &server_resource, 0);
  return 1;
}

static const luaL_Reg listener_methods[] = {
  {"getsockname", ls_getsockname}, {"close", ls_close}, {"wait_closed", ls_wait_closed},
  {"is_serving", ls_is_serving}, {"active", ls_active}, {"fileno", ls_fileno},
  {"__gc", ls_gc}, {"__tostring", ls_tostring}, {NULL, NULL}
};

void luaio_net_open(lua_State *L, luaio_runtime *rt) {
  /* a peer that goes away must never kill the process: writes then fail with EPIPE.
   * Left alone when the host installed its own handler. */
  struct sigaction sa;
  if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) signal(SIGPIPE, SIG_IGN);
  luaio_new_class(L, LUAIO_LISTENER, listener_methods, rt);
  luaio_wait_kind_register(rt, &resolve_wait);
  luaio_wait_kind_register(rt, &connect_wait);
  luaio_wait_kind_register(rt, &server_closing_wait);
  luaio_resource_kind_register(rt, &server_resource);
  static const luaL_Reg funcs[] = {
    {"_resolve", l_resolve}, {"_connect", l_connect}, {"_listen", l_listen},
    {"_addr_info", l_addr_info}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
