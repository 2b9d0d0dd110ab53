/* udp.c — DatagramSocket: a UDP endpoint on libuv's uv_udp_t.
 *
 * A DatagramSocket userdata points at a malloc'd `udp` holding the handle: libuv may call
 * back (a queued send finishing, the close) after the Lua object is gone, so the C side
 * is freed only once the handle has closed and the userdata has been collected.
 *
 * Receiving is always on: every datagram is read into one 64 KiB buffer shared by the
 * runtime's sockets (libuv reads one datagram at a time and the copy is made before the
 * next read), then copied into a ring of slots whose buffers are reused, so a steady flow
 * of small datagrams allocates nothing. The ring keeps up to `queue` datagrams while no
 * task receives; a datagram that arrives while a task waits in recvfrom is kept for that
 * task (the task is woken with a mark on its stack: its datagram is "reserved") whatever
 * the queue holds. Anything beyond is dropped and counted (dropped()).
 *
 * Sends never suspend: uv_udp_try_send first; when the socket cannot take the datagram
 * now (or earlier sends are still queued) a copy owned by C is queued with uv_udp_send.
 * An error reported later (a queued send that failed, an ICMP error on a connected
 * socket, which Linux reports through the next receive) is kept and raised by the next
 * send or receive; a task waiting in recvfrom gets it at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include "udp.h"
#include "stream.h"
#include "task.h"
#include "list.h"
#include "resources.h"

#define DEFAULT_QUEUE 1024
#define MAX_DATAGRAM 65507     /* the largest UDP payload over IPv4 */
#define RBUF_SIZE 65536
#define KEEP_SLOT 2048         /* a slot buffer bigger than this is given back once read */
#define USTATE "luaio.DatagramState"

static const char key_state = 'U';

/* ---- the runtime's sockets and their shared receive buffer ---- */
typedef struct ustate {
  luaio_runtime *rt;
  luaio_node socks;        /* every socket whose handle is not closed yet */
  char *rbuf;              /* RBUF_SIZE bytes, made with the first socket */
} ustate;

typedef struct slot {
  char *data;
  size_t len, cap;
  struct sockaddr_in6 addr; /* holds a sockaddr_in too */
} slot;

typedef struct udp {
  uv_udp_t h;
  luaio_node lnode;        /* in us->socks */
  ustate *us;              /* NULL once the runtime's state is gone */
  luaio_node waiters;      /* tasks in recvfrom / recv */
  slot *ring;              /* cap slots, count of them from head */
  size_t head, count, cap;
  size_t queue;            /* datagrams kept while no task receives */
  size_t reserved;         /* kept for woken receivers that have not run yet */
  lua_Integer dropped;
  int err;                 /* an error for the next send or receive (libuv code), 0 if none */
  int family;
  struct sockaddr_in6 peer; /* connected: the only peer */
  struct sockaddr_in6 last_from; /* the address recvfrom last named (uservalue 1: its host) */
  struct sockaddr_in6 last_to;   /* sendto's last address (uservalue 2: its host string) */
  int last_to_port;
  unsigned char connected, closing, close_started, closed, owned, has_from, has_to;
} udp;

typedef struct ubox { udp *u; } ubox;

typedef struct sreq {      /* a queued send and its copy of the datagram */
  uv_udp_send_t req;
  uv_buf_t buf;
  char data[];
} sreq;

/* a task in recvfrom / recv: cancelling is the default (the continuation passes a
 * datagram kept for it on to the next receiver) */
static const luaio_wait_kind recv_wait = {"a datagram", NULL, NULL, 0};

static ustate *get_state(lua_State *L) { return luaio_part_state(L, &key_state); }

/* ---- lifetime ---- */
static void udp_free(udp *u) {
  for (size_t i = 0; i < u->cap; i++) free(u->ring[i].data);
  free(u->ring);
  free(u);
}

static void close_cb(uv_handle_t *h) {
  udp *u = h->data;
  u->closed = 1;
  luaio_list_unlink(&u->lnode);
  if (!u->owned) udp_free(u);
}

static int can_wake(udp *u) { return u->us && !u->us->rt->closing; }

static luaio_task *first_waiter(udp *u) {
  return luaio_container(u->waiters.next, luaio_task, node);
}

static void wake_all(udp *u) {
  if (!can_wake(u)) return;
  while (!luaio_list_empty(&u->waiters)) luaio_wake(u->us->rt, first_waiter(u));
}

/* Wakes the first receiver with a datagram kept for it (the mark on its stack). */
static void wake_for_datagram(udp *u) {
  luaio_task *t = first_waiter(u);
  lua_pushboolean(t->co, 1); /* a parked receive holds 1 of its LUA_MINSTACK slots */
  t->nargs = 1;
  u->reserved++;
  luaio_wake(u->us->rt, t);
}

static void start_close(udp *u) {
  if (!u->closing) {
    u->closing = 1;
    wake_all(u); /* they raise OSError ECANCELED */
  }
  if (u->close_started || uv_is_closing((uv_handle_t *)&u->h)) return;
  u->close_started = 1;
  uv_close((uv_handle_t *)&u->h, close_cb);
}

/* ---- receiving ---- */
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  udp *u = h->data;
  if (u->us && u->us->rbuf) *buf = uv_buf_init(u->us->rbuf, RBUF_SIZE);
  else *buf = uv_buf_init(NULL, 0); /* libuv reports ENOBUFS */
}

static int ring_grow(udp *u) {
  size_t cap = u->cap ? u->cap * 2 : 8;
  slot *r = realloc(u->ring, cap * sizeof *r);
  if (!r) return 0;
  /* the wrapped part [0, head) moves after the old end: the ring stays contiguous */
  memset(r + u->cap, 0, (cap - u->cap) * sizeof *r);
  for (size_t i = 0; i < u->head; i++) {
    r[u->cap + i] = r[i];
    memset(&r[i], 0, sizeof *r);
  }
  u->ring = r;
  u->cap = cap;
  return 1;
}

static slot *ring_at(udp *u, size_t i) {
  size_t p = u->head + i;
  return &u->ring[p >= u->cap ? p - u->cap : p];
}

static void set_error(udp *u, int err) {
  if (u->closing || err == UV_ECANCELED) return;
  if (!u->err) u->err = err;
  if (can_wake(u) && !luaio_list_empty(&u->waiters)) luaio_wake(u->us->rt, first_waiter(u));
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags) {
  (void)buf;
  udp *u = h->data;
  if (nread < 0) { set_error(u, (int)nread); return; }
  if (!addr || u->closing) return; /* nothing more to read now */
  if (flags & UV_UDP_PARTIAL) { u->dropped++; return; }
  int waiting = can_wake(u) && !luaio_list_empty(&u->waiters);
  if (!waiting && u->count - u->reserved >= u->queue) { u->dropped++; return; }
  if (u->count == u->cap && !ring_grow(u)) { u->dropped++; return; }
  slot *s = ring_at(u, u->count);
  size_t n = (size_t)nread;
  if (n > s->cap) {
    char *d = realloc(s->data, n);
    if (!d) { u->dropped++; return; }
    s->data = d;
    s->cap = n;
  }
  if (n) memcpy(s->data, buf->base, n);
  s->len = n;
  memset(&s->addr, 0, sizeof s->addr);
  memcpy(&s->addr, addr, addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                       : sizeof(struct sockaddr_in));
  u->count++;
  if (waiting) wake_for_datagram(u);
}

/* ---- addresses ---- */
static int same_addr(const struct sockaddr_in6 *a, const struct sockaddr_in6 *b) {
  if (a->sin6_family != b->sin6_family) return 0;
  if (a->sin6_family == AF_INET6)
    return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id &&
           memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
  const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
  return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static int addr_port(const struct sockaddr_in6 *a) {
  return ntohs(a->sin6_family == AF_INET6 ? a->sin6_port : ((const struct sockaddr_in *)a)->sin_port);
}

static void addr_host(const struct sockaddr_in6 *a, char *host, size_t n) {
  if (a->sin6_family == AF_INET6) uv_ip6_name(a, host, n);
  else uv_ip4_name((const struct sockaddr_in *)a, host, n);
}

/* Parses a numeric host (or "localhost") of the family into *out. */
static int parse_addr(int family, const char *host, int port, struct sockaddr_in6 *out) {
  memset(out, 0, sizeof *out);
  if (strcmp(host, "localhost") == 0) host = family == AF_INET6 ? "::1" : "127.0.0.1";
  if (family == AF_INET6) return uv_ip6_addr(host, port, out) == 0;
  return uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0;
}

static const char *family_name(int family) { return family == AF_INET6 ? "IPv6" : "IPv4"; }

/* the address of sendto(data, host, port) at hidx, hidx + 1; the last one is kept with its
 * host string (uservalue 2) so a reply loop parses nothing */
static void check_dest(lua_State *L, udp *u, int hidx, struct sockaddr_in6 *out) {
  if (lua_type(L, hidx) != LUA_TSTRING) luaio_typeerror(L, hidx, "string");
  lua_Integer port = luaio_checkinteger(L, hidx + 1);
  if (port < 0 || port > 65535) luaio_argerror(L, hidx + 1, "port must be an integer from 0 to 65535");
  if (u->has_to && port == u->last_to_port) {
    lua_getiuservalue(L, 1, 2);
    int same = lua_rawequal(L, -1, hidx);
    lua_pop(L, 1);
    if (same) { *out = u->last_to; return; }
  }
  const char *host = lua_tostring(L, hidx);
  if (strlen(host) != lua_rawlen(L, hidx) || !parse_addr(u->family, host, (int)port, out))
    luaio_argerror(L, hidx, lua_pushfstring(L, "host must be a numeric %s address (names are "
                   "resolved by aio.getaddrinfo), got '%s'", family_name(u->family), host));
  u->last_to = *out;
  u->last_to_port = (int)port;
  u->has_to = 1;
  lua_pushvalue(L, hidx);
  lua_setiuservalue(L, 1, 2);
}

/* pushes "fname" or, on a connected socket, "fname host:port" */
static const char *what(lua_State *L, udp *u, const char *fname) {
  if (!u->connected) return lua_pushstring(L, fname);
  char host[64];
  addr_host(&u->peer, host, sizeof host);
  return lua_pushfstring(L, u->family == AF_INET6 ? "%s [%s]:%d" : "%s %s:%d", fname, host,
                         addr_port(&u->peer));
}

/* ---- the object ---- */
static udp *check_udp(lua_State *L) {
  ubox *b = luaio_checkudata(L, 1, LUAIO_UDP);
  if (!b->u) luaL_error(L, "DatagramSocket: used after it was collected");
  return b->u;
}

static int raise_closed(lua_State *L, int code, const char *fname) {
  luaio_push_oserror(L, code, NULL);
  lua_pushfstring(L, "%s: the socket is closed", fname);
  lua_setfield(L, -2, "message");
  return lua_error(L);
}

static int raise_pending(lua_State *L, udp *u, const char *fname) {
  int err = u->err;
  u->err = 0;
  return luaio_raise_oserror(L, err, what(L, u, fname));
}

/* ---- sending ---- */
static void send_cb(uv_udp_send_t *req, int status) {
  sreq *q = luaio_container(req, sreq, req);
  if (status < 0) set_error(req->handle->data, status);
  free(q);
}

static int do_send(lua_State *L, udp *u, const char *data, size_t len,
                   const struct sockaddr_in6 *to, const char *fname) {
  if (u->closing) return raise_closed(L, UV_EBADF, fname);
  if (u->err) return raise_pending(L, u, fname);
  const struct sockaddr *addr = to ? (const struct sockaddr *)to : NULL;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
  int r = uv_udp_try_send(&u->h, &b, 1, addr);
  if (r >= 0) return 0;
  if (r == UV_EAGAIN) { /* the socket is full or sends are queued: queue a copy */
    sreq *q = luaio_realloc(L, NULL, sizeof *q + (len ? len : 1));
    if (len) memcpy(q->data, data, len);
    q->buf = uv_buf_init(q->data, (unsigned)len);
    r = uv_udp_send(&q->req, &u->h, &q->buf, 1, addr, send_cb);
    if (r == 0) return 0;
    free(q);
  }
  if (!to) return luaio_raise_oserror(L, r, what(L, u, fname));
  char host[64];
  addr_host(to, host, sizeof host);
  return luaio_raise_oserror(L, r, lua_pushfstring(L, u->family == AF_INET6 ? "%s [%s]:%d" :
                             "%s %s:%d", fname, host, addr_port(to)));
}

static const char *check_data(lua_State *L, int idx, size_t *len) {
  const char *data = luaio_checklstring(L, idx, len);
  if (*len > MAX_DATAGRAM)
    luaio_argerror(L, idx, lua_pushfstring(L, "datagram too large (%I bytes, at most %d)",
                   (lua_Integer)*len, MAX_DATAGRAM));
  return data;
}

/* sendto(data, host, port) */
static int u_sendto(lua_State *L) {
  udp *u = check_udp(L);
  size_t len;
  const char *data = check_data(L, 2, &len);
  struct sockaddr_in6 to;
  check_dest(L, u, 3, &to);
  if (u->connected) {
    if (!same_addr(&to, &u->peer)) {
      char host[64];
      addr_host(&u->peer, host, sizeof host);
      return luaio_argerror(L, 3, lua_pushfstring(L, "the socket is connected to %s port %d: "
                            "use send(data), or sendto that address", host, addr_port(&u->peer)));
    }
    return do_send(L, u, data, len, NULL, "sendto");
  }
  return do_send(L, u, data, len, &to, "sendto");
}

/* send(data): to the connected peer */
static int u_send(lua_State *L) {
  udp *u = check_udp(L);
  size_t len;
  const char *data = check_data(L, 2, &len);
  return do_send(L, u, data, len, NULL, "send");
}

/* ---- receiving: recvfrom() -> data, host, port; recv() -> data ---- */
static int recv_step(lua_State *L, udp *u, int with_addr, int again);

static int push_datagram(lua_State *L, udp *u, int with_addr) {
  slot *s = &u->ring[u->head];
  lua_pushlstring(L, s->data ? s->data : "", s->len);
  if (with_addr) {
    /* the host string of the last sender is kept (uservalue 1): a reply loop makes none */
    if (u->has_from && same_addr(&s->addr, &u->last_from)) {
      lua_getiuservalue(L, 1, 1);
    } else {
      char host[64];
      addr_host(&s->addr, host, sizeof host);
      lua_pushstring(L, host);
      lua_pushvalue(L, -1);
      lua_setiuservalue(L, 1, 1);
      u->last_from = s->addr;
      u->has_from = 1;
    }
    lua_pushinteger(L, addr_port(&s->addr));
  }
  if (s->cap > KEEP_SLOT) { free(s->data); s->data = NULL; s->cap = 0; }
  u->head = u->head + 1 == u->cap ? 0 : u->head + 1;
  u->count--;
  return with_addr ? 3 : 1;
}

/* Resumed: a datagram may have been kept for it (the mark on its stack). */
static int recv_cont(lua_State *L, int with_addr) {
  udp *u = check_udp(L);
  luaio_task *t = luaio_rt(L)->current;
  int marked = lua_gettop(L) >= 2;
  lua_settop(L, 1);
  if (marked) u->reserved--;
  if (luaio_take_wake_cancel(t)) {
    /* a datagram kept for it goes to the next receiver */
    if (marked && u->count > u->reserved && can_wake(u) && !luaio_list_empty(&u->waiters))
      wake_for_datagram(u);
    return luaio_raise_cancelled(L, t);
  }
  return recv_step(L, u, with_addr, 1);
}

static int recvfrom_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return recv_cont(L, 1);
}

static int recv_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  return recv_cont(L, 0);
}

/* `again`: resumed after waiting (a close then raises ECANCELED, not EBADF) */
static int recv_step(lua_State *L, udp *u, int with_addr, int again) {
  const char *fname = with_addr ? "recvfrom" : "recv";
  if (u->closing || u->closed) return raise_closed(L, again ? UV_ECANCELED : UV_EBADF, fname);
  if (u->err) return raise_pending(L, u, fname);
  if (u->count > 0) return push_datagram(L, u, with_addr);
  luaio_task *t = luaio_check_suspend(L, with_addr ? "DatagramSocket:recvfrom" : "DatagramSocket:recv");
  /* woken and robbed by a receiver that did not wait: first in line again */
  luaio_list_append(again ? u->waiters.next : &u->waiters, &t->node);
  return luaio_park(L, t, &recv_wait, 1, with_addr ? recvfrom_k : recv_k);
}

static int u_recvfrom(lua_State *L) {
  udp *u = check_udp(L);
  luaio_check_task(L, "DatagramSocket:recvfrom");
  lua_settop(L, 1);
  return recv_step(L, u, 1, 0);
}

static int u_recv(lua_State *L) {
  udp *u = check_udp(L);
  luaio_check_task(L, "DatagramSocket:recv");
  lua_settop(L, 1);
  return recv_step(L, u, 0, 0);
}

/* ---- the rest ---- */
static int u_getsockname(lua_State *L) {
  udp *u = check_udp(L);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (u->closing || uv_udp_getsockname(&u->h, (struct sockaddr *)&ss, &len) != 0) {
    lua_pushnil(L);
    return 1;
  }
  char host[64];
  addr_host((struct sockaddr_in6 *)&ss, host, sizeof host);
  lua_pushstring(L, host);
  lua_pushinteger(L, addr_port((struct sockaddr_in6 *)&ss));
  return 2;
}

static int u_dropped(lua_State *L) {
  lua_pushinteger(L, check_udp(L)->dropped);
  return 1;
}

static int membership(lua_State *L, uv_membership m, const char *fname) {
  udp *u = check_udp(L);
  const char *group = luaio_checkstring(L, 2);
  const char *iface = luaio_optstring(L, 3, NULL);
  struct sockaddr_in6 a;
  if (strlen(group) != lua_rawlen(L, 2) || !parse_addr(u->family, group, 0, &a))
    return luaio_argerror(L, 2, lua_pushfstring(L, "group must be a numeric %s address, got '%s'",
                          family_name(u->family), group));
  if (u->closing) return raise_closed(L, UV_EBADF, fname);
  int r = uv_udp_set_membership(&u->h, group, iface, m);
  if (r) return luaio_raise_oserror(L, r, lua_pushfstring(L, "%s %s", fname, group));
  return 0;
}

static int u_join_group(lua_State *L) { return membership(L, UV_JOIN_GROUP, "join_group"); }
static int u_leave_group(lua_State *L) { return membership(L, UV_LEAVE_GROUP, "leave_group"); }

static int u_set_broadcast(lua_State *L) {
  udp *u = check_udp(L);
  luaio_checktype(L, 2, LUA_TBOOLEAN);
  if (u->closing) return raise_closed(L, UV_EBADF, "set_broadcast");
  int r = uv_udp_set_broadcast(&u->h, lua_toboolean(L, 2));
  if (r) return luaio_raise_oserror(L, r, "set_broadcast");
  return 0;
}

static int u_set_ttl(lua_State *L) {
  udp *u = check_udp(L);
  lua_Integer n = luaio_checkinteger(L, 2);
  if (n < 1 || n > 255) return luaio_argerror(L, 2, "ttl must be an integer from 1 to 255");
  if (u->closing) return raise_closed(L, UV_EBADF, "set_ttl");
  int r = uv_udp_set_ttl(&u->h, (int)n);
  if (r) return luaio_raise_oserror(L, r, "set_ttl");
  return 0;
}

static int u_close(lua_State *L) {
  udp *u = check_udp(L);
  if (!u->closing) start_close(u);
  return 0;
}

static int u_is_closing(lua_State *L) {
  udp *u = check_udp(L);
  lua_pushboolean(L, u->closing || uv_is_closing((uv_handle_t *)&u->h));
  return 1;
}

static int u_gc(lua_State *L) {
  ubox *b = lua_touserdata(L, 1);
  udp *u = b->u;
  if (!u) return 0;
  b->u = NULL;
  u->owned = 0;
  luaio_list_init(&u->waiters); /* none can exist: they hold the socket */
  if (u->closed) udp_free(u);
  else if (u->close_started) return 0;                       /* close_cb frees it */
  else if (uv_is_closing((uv_handle_t *)&u->h)) udp_free(u); /* closed by the runtime's walk */
  else start_close(u);
  return 0;
}

static int u_tostring(lua_State *L) {
  ubox *b = luaio_checkudata(L, 1, LUAIO_UDP);
  udp *u = b->u;
  if (!u) { lua_pushliteral(L, "DatagramSocket (collected)"); return 1; }
  if (u->closing) { lua_pushliteral(L, "DatagramSocket<closed>"); return 1; }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  char host[64] = "?";
  int port = 0;
  if (uv_udp_getsockname(&u->h, (struct sockaddr *)&ss, &len) == 0) {
    addr_host((struct sockaddr_in6 *)&ss, host, sizeof host);
    port = addr_port((struct sockaddr_in6 *)&ss);
  }
  if (u->connected) {
    char peer[64];
    addr_host(&u->peer, peer, sizeof peer);
    lua_pushfstring(L, "DatagramSocket<%s port %d, connected to %s port %d>", host, port, peer,
                    addr_port(&u->peer));
  } else {
    lua_pushfstring(L, "DatagramSocket<%s port %d>", host, port);
  }
  return 1;
}

/* ---- opening ---- */
static int family_of(lua_State *L, int idx) {
  const char *f = luaio_checkstring(L, idx);
  if (strcmp(f, "inet") == 0) return AF_INET;
  if (strcmp(f, "inet6") == 0) return AF_INET6;
  return luaio_argerror(L, idx, "family must be 'inet' or 'inet6'");
}

static int opt_port(lua_State *L, int idx) {
  lua_Integer p = luaio_optinteger(L, idx, 0);
  if (p < 0 || p > 65535) luaio_argerror(L, idx, "port must be an integer from 0 to 65535");
  return (int)p;
}

static int raise_at(lua_State *L, udp *u, int err, const char *op, const struct sockaddr_in6 *a) {
  start_close(u); /* not owned yet: close_cb frees it */
  char host[64];
  addr_host(a, host, sizeof host);
  return luaio_raise_oserror(L, err, lua_pushfstring(L, a->sin6_family == AF_INET6 ?
                             "%s [%s]:%d" : "%s %s:%d", op, host, addr_port(a)));
}

/* _udp_open(family, local_host, local_port, remote_host, remote_port, reuse_port,
 *           allow_broadcast, queue) -> DatagramSocket. Hosts are numeric (resolved by the
 * Lua layer); a nil local host binds every interface, unless only a remote is given (the
 * system then picks the local address when connecting). */
/* an open resource ("datagram") until close() */
static int udp_is_open(lua_State *L, int idx) {
  ubox *b = luaL_testudata(L, idx, LUAIO_UDP);
  return b && b->u && !b->u->closing;
}

static const luaio_resource_kind udp_resource = {"datagram", udp_is_open};

static int l_udp_open(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  int family = family_of(L, 1);
  const char *lhost = luaio_optstring(L, 2, NULL);
  int lport = opt_port(L, 3);
  const char *rhost = luaio_optstring(L, 4, NULL);
  int rport = opt_port(L, 5);
  int reuse_port = lua_toboolean(L, 6);
  int broadcast = lua_toboolean(L, 7);
  lua_Integer queue = luaio_optinteger(L, 8, DEFAULT_QUEUE);
  if (queue < 0) return luaio_argerror(L, 8, "queue must be an integer >= 0");
  struct sockaddr_in6 la, ra;
  int bind_local = lhost || lport || !rhost;
  if (bind_local && !parse_addr(family, lhost ? lhost : family == AF_INET6 ? "::" : "0.0.0.0",
                                lport, &la))
    return luaio_argerror(L, 2, "not a numeric address of the family");
  if (rhost && !parse_addr(family, rhost, rport, &ra))
    return luaio_argerror(L, 4, "not a numeric address of the family");
  ustate *us = get_state(L);
  if (!us->rbuf) us->rbuf = luaio_realloc(L, NULL, RBUF_SIZE);
  ubox *box = lua_newuserdatauv(L, sizeof *box, 2);
  box->u = NULL;
  luaL_setmetatable(L, LUAIO_UDP);
  int box_idx = lua_gettop(L);
  udp *u = luaio_realloc(L, NULL, sizeof *u);
  memset(u, 0, sizeof *u);
  u->queue = (size_t)queue;
  u->family = family;
  u->h.data = u;
  luaio_list_init(&u->waiters);
  int err = uv_udp_init_ex(rt->loop, &u->h, (unsigned)family);
  if (err) { free(u); return luaio_raise_oserror(L, err, "socket"); }
  u->us = us;
  luaio_list_append(&us->socks, &u->lnode);
  if (bind_local) {
    if (reuse_port) {
#ifdef SO_REUSEPORT
      uv_os_fd_t fd;
      int one = 1;
      if (uv_fileno((uv_handle_t *)&u->h, &fd) != 0) err = UV_EBADF;
      else if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        err = uv_translate_sys_error(errno);
#else
      err = UV_ENOTSUP;
#endif
      if (err) return raise_at(L, u, err, "bind", &la);
    }
    err = uv_udp_bind(&u->h, (const struct sockaddr *)&la, reuse_port ? UV_UDP_REUSEADDR : 0);
    if (err) return raise_at(L, u, err, "bind", &la);
  }
  if (broadcast && (err = uv_udp_set_broadcast(&u->h, 1)) != 0)
    return raise_at(L, u, err, "set_broadcast", bind_local ? &la : &ra);
  if (rhost) {
    err = uv_udp_connect(&u->h, (const struct sockaddr *)&ra);
    if (err) return raise_at(L, u, err, "connect", &ra);
    u->peer = ra;
    u->connected = 1;
  }
  err = uv_udp_recv_start(&u->h, alloc_cb, recv_cb);
  if (err) return raise_at(L, u, err, "recv", bind_local ? &la : &ra);
  box->u = u;
  u->owned = 1;
  lua_settop(L, box_idx);
  luaio_resource_open(L, rt, box_idx, &udp_resource, 0);
  return 1;
}

static int l_udp_check_task(lua_State *L) {
  luaio_check_task(L, "open_datagram_endpoint");
  return 0;
}

/* The runtime's state goes (luaio_close, or lua_close): every socket still open is closed
 * before the runtime closes its loop; then no read can use the shared buffer any more. */
static int state_gc(lua_State *L) {
  ustate *us = lua_touserdata(L, 1);
  while (!luaio_list_empty(&us->socks)) {
    udp *u = luaio_container(us->socks.next, udp, lnode);
    luaio_list_unlink(&u->lnode);
      u->us = NULL;
    start_close(u);
  }
  free(us->rbuf);
  us->rbuf = NULL;
  luaio_part_state_forget(L, &key_state, us);
  return 0;
}

void luaio_udp_open(lua_State *L, luaio_runtime *rt) {
  luaio_wait_kind_register(rt, &recv_wait);
  luaio_resource_kind_register(rt, &udp_resource);
  if (luaL_newmetatable(L, USTATE)) {
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  ustate *us = luaio_part_state_new(L, rt, &key_state, sizeof *us, USTATE);
  luaio_list_init(&us->socks);

  static const luaL_Reg methods[] = {
    {"sendto", u_sendto}, {"send", u_send}, {"recvfrom", u_recvfrom}, {"recv", u_recv},
    {"getsockname", u_getsockname}, {"dropped", u_dropped}, {"join_group", u_join_group},
    {"leave_group", u_leave_group}, {"set_broadcast", u_set_broadcast}, {"set_ttl", u_set_ttl},
    {"close", u_close}, {"is_closing", u_is_closing}, {"__close", u_close}, {"__gc", u_gc},
    {"__tostring", u_tostring}, {NULL, NULL}
  };
  luaio_new_class(L, LUAIO_UDP, methods, rt);
  static const luaL_Reg funcs[] = {
    {"_udp_open", l_udp_open}, {"_udp_check_task", l_udp_check_task}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
