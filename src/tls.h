/* tls.h — TLS with OpenSSL 3 through memory BIOs: the SSLContext object (aio._ssl_context,
 * policy in lua/luaio/tls.lua) and the per-connection engine a stream (stream.c) drives.
 * The engine knows nothing about sockets: ciphertext goes in with luaio_tls_feed and
 * comes out with luaio_tls_take_out; plaintext comes out with luaio_tls_read and goes in
 * with luaio_tls_write. */
#ifndef LUAIO_TLS_H
#define LUAIO_TLS_H

#include <stddef.h>
#include "runtime.h"

#define LUAIO_SSLCONTEXT "luaio.SSLContext"

typedef struct luaio_tls luaio_tls;

void luaio_tls_open(lua_State *L, luaio_runtime *rt);

/* A new engine for the SSLContext at ctxidx (client side: hostname is checked and sent as
 * SNI when given). Raises on error. */
luaio_tls *luaio_tls_new(lua_State *L, int ctxidx, int server, const char *hostname);
void luaio_tls_free(luaio_tls *t);

/* ciphertext received: 0, or -1 out of memory */
int luaio_tls_feed(luaio_tls *t, const char *p, size_t n);
/* Decrypts into buf[n]: > 0 bytes, else one of the LUAIO_TLS_* codes below. Advances
 * the handshake as needed. */
enum { LUAIO_TLS_AGAIN = 0, LUAIO_TLS_CLOSED = -1, LUAIO_TLS_FAILED = -2 };
int luaio_tls_read(luaio_tls *t, char *buf, size_t n);
/* encrypts: 0, or LUAIO_TLS_FAILED */
int luaio_tls_write(luaio_tls *t, const char *p, size_t n);
/* queues close_notify (once, when the handshake is done and nothing failed) */
void luaio_tls_shutdown(luaio_tls *t);
/* ciphertext to send: its size, and taking it */
size_t luaio_tls_pending_out(luaio_tls *t);
void luaio_tls_take_out(luaio_tls *t, char *buf, size_t n);
int luaio_tls_handshake_done(luaio_tls *t);
int luaio_tls_failed(luaio_tls *t);
/* the transport ended before the handshake did: fails the engine */
void luaio_tls_eof(luaio_tls *t);
/* pushes the SSLError the engine failed with */
int luaio_tls_push_error(lua_State *L, luaio_tls *t);
/* get_extra_info names TLS answers: pushes 1 value and returns 1, or returns 0 */
int luaio_tls_extra_info(lua_State *L, luaio_tls *t, const char *name);

#endif
