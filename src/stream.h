/* stream.h — the connection state StreamReader/StreamWriter share (stream.c) and the
 * listeners and connectors that create it (net.c). Internal to those two files. */
#ifndef LUAIO_STREAM_H
#define LUAIO_STREAM_H

#include "runtime.h"
#include "list.h"
#include "future.h"
#include "streambuf.h"

#define LUAIO_READER "luaio.StreamReader"
#define LUAIO_WRITER "luaio.StreamWriter"
#define LUAIO_LISTENER "luaio.ServerSocket"

enum { SK_NONE = 0, SK_TCP, SK_PIPE };

typedef union luaio_uvstream {
  uv_handle_t h;
  uv_stream_t s;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
} luaio_uvstream;

struct luaio_listener;

/* One connection. malloc'd, never inside a userdata: libuv may call back after the Lua
 * objects are gone, so it is freed only once both the handle has closed and no Lua
 * object points at it any more (reader_gc and close_cb in stream.c). The libuv handle
 * comes last and only as much of it is allocated as the kind needs (luaio_stream_new):
 * an idle connection is small. */
typedef struct luaio_stream {
  luaio_runtime *rt;          /* NULL once the Lua side is gone: callbacks then wake nobody */
  struct luaio_listener *server; /* the listener that accepted it (counts active ones) */
  luaio_sbuf rb;              /* bytes received and not read yet */
  size_t limit;               /* reader limit; reading pauses above it */
  size_t scan;                /* readuntil: offset searched so far by the waiting call */
  size_t high, low;           /* write buffer limits drain() uses */
  luaio_node rwait;           /* the one task waiting for data */
  luaio_node wwait;           /* tasks in drain() or wait_closed(): each re-checks when woken */
  struct sockaddr_in6 names[2]; /* kept from the connection's start: still known after close */
  int err;                    /* first connection error (a libuv code), 0 if none */
  unsigned wqueued, wdone, wreleased; /* strings anchored for queued writes (see stream.c) */
  unsigned rsize;             /* free space offered to the next read (adapts to the traffic) */
  struct luaio_tls *tls;      /* TLS engine (tls.c) once start_tls ran, else NULL */
  unsigned tpending;          /* TLS: ciphertext writes in flight (own buffers, no anchors) */
  luaio_watch end;            /* server side: watches the task running client_cb (ctx) */
  int end_ref;                /* server side: the writer, anchored for that task's end */
  unsigned char end_requeued; /* the end watch went round the waiters once (net.c) */
  unsigned char kind;
  unsigned char owned;        /* a StreamReader userdata points here */
  unsigned char reading;      /* uv_read_start is in effect */
  unsigned char eof;          /* no more data will come (peer EOF, error or local close) */
  unsigned char closing;      /* close() was called (or the handle is closing) */
  unsigned char close_started; /* uv_close was called by us */
  unsigned char closed;       /* the close callback ran */
  unsigned char eof_written;  /* write_eof() was called */
  unsigned char close_when_flushed;
  unsigned char shared;       /* used by a task other than the one running client_cb */
  unsigned char named;        /* TCP: names[] hold the peer's and our address */
  luaio_uvstream u;           /* valid when kind != SK_NONE; must stay last */
} luaio_stream;

/* A listening socket. Freed when its handle has closed, its userdata is gone and every
 * connection it accepted has closed (they point at it). */
typedef struct luaio_listener {
  luaio_uvstream u;           /* the bound socket: its names, its close */
  uv_poll_t poll;             /* readable: connections to accept (net.c accepts them itself) */
  uv_timer_t retry;           /* out of descriptors: accepting resumes after a pause */
  luaio_runtime *rt;          /* NULL once the userdata is gone */
  int ref;                    /* anchors the userdata (in rt->anchors) while listening */
  int active;                 /* accepted connections whose handle is still open */
  size_t limit;
  luaio_node cwait;           /* tasks in wait_closed() */
  /* a connection it accepted has closed (set by net.c, called by stream.c) */
  void (*conn_closed)(struct luaio_listener *ls);
  unsigned char kind, owned, close_started, closed;
  unsigned char nopen;        /* handles (u, poll, retry) whose close callback is due */
  unsigned char listening;    /* poll and retry are initialised */
  unsigned char starved;      /* out of descriptors reported: not again until an accept works */
} luaio_listener;

/* stream.c */
void luaio_stream_open(lua_State *L, luaio_runtime *rt); /* StreamReader, StreamWriter */
luaio_stream *luaio_stream_new(luaio_runtime *rt, int kind, size_t limit); /* handle inited */
void luaio_stream_push_pair(lua_State *L, luaio_stream *s); /* pushes reader, writer */
void luaio_stream_abandon(luaio_stream *s); /* closes a stream no Lua object owns yet */
/* Lists the writer at widx among the open resources as a "stream" (aio.open_resources)
 * until it is closed; `from`: see luaio_resource_open. */
void luaio_stream_track(lua_State *L, int widx, int from);
/* Closes it after the queued writes, as writer:close() (wakes its readers with EOF). */
void luaio_stream_close(luaio_stream *s);
int luaio_push_oserror(lua_State *L, int err, const char *what); /* pushes OSError */
int luaio_raise_oserror(lua_State *L, int err, const char *what);
/* pushes host, port (TCP) or the path (pipe) of the local or peer end; returns the count */
int luaio_push_name(lua_State *L, luaio_uvstream *u, int kind, int peer);

#endif
