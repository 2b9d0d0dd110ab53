/* tls.c — OpenSSL 3 contexts and per-connection engines over memory BIOs (see tls.h).
 * No socket and no stream here: stream.c moves the bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include "tls.h"
#include "errors.h"

/* A context, shared by its userdata and every engine made from it (reference counted:
 * the userdata may be collected while connections still use it). */
typedef struct tls_ctx {
  SSL_CTX *ctx;
  int refs;
  unsigned char server, verify, check_hostname;
  unsigned char *alpn;      /* wire format: length-prefixed names */
  unsigned alpn_len;
} tls_ctx;

typedef struct ctx_ref { tls_ctx *c; } ctx_ref;

struct luaio_tls {
  SSL *ssl;
  BIO *in, *out;            /* ciphertext received / to send (owned by ssl) */
  tls_ctx *c;
  unsigned char failed, shut;
  long verify_code;
  char reason[64];
  char message[256];
};

static void ctx_unref(tls_ctx *c) {
  if (--c->refs > 0) return;
  SSL_CTX_free(c->ctx);
  free(c->alpn);
  free(c);
}

/* "certificate verify failed" -> "CERTIFICATE_VERIFY_FAILED" (the names Python uses) */
static void reason_name(char *dst, size_t n, const char *src) {
  size_t i = 0;
  for (; src[i] && i + 1 < n; i++)
    dst[i] = src[i] == ' ' ? '_' : (char)toupper((unsigned char)src[i]);
  dst[i] = 0;
}

static void push_ssl_error(lua_State *L, const char *reason, const char *message, long verify_code) {
  luaio_push_error(L, "SSLError", message);
  lua_pushstring(L, reason);
  lua_setfield(L, -2, "reason");
  if (verify_code) {
    lua_pushinteger(L, verify_code);
    lua_setfield(L, -2, "verify_code");
    lua_pushstring(L, X509_verify_cert_error_string(verify_code));
    lua_setfield(L, -2, "verify_message");
  }
}

/* raises an SSLError from OpenSSL's error queue (what: the step that failed) */
static int raise_queue(lua_State *L, const char *what) {
  unsigned long e = ERR_peek_last_error();
  char reason[64], buf[256];
  const char *r = e ? ERR_reason_error_string(e) : NULL;
  reason_name(reason, sizeof reason, r ? r : "unknown error");
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  else snprintf(buf, sizeof buf, "unknown error");
  ERR_clear_error();
  lua_pushfstring(L, "%s: %s", what, buf);
  push_ssl_error(L, reason, lua_tostring(L, -1), 0);
  return lua_error(L);
}

static void check_file(lua_State *L, const char *path) {
  FILE *f = fopen(path, "rb");
  if (f) { fclose(f); return; }
  int err = uv_translate_sys_error(errno);
  lua_pushfstring(L, "%s: %s", path, uv_strerror(err));
  luaio_push_error(L, "OSError", lua_tostring(L, -1));
  lua_pushstring(L, uv_err_name(err));
  lua_setfield(L, -2, "code");
  lua_error(L);
}

static const char *opt_string(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  const char *s = lua_tostring(L, -1); /* stays on the stack until the caller's settop */
  return s;
}

static int opt_bool(lua_State *L, int idx, const char *key) {
  lua_getfield(L, idx, key);
  int b = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return b;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
  tls_ctx *c = arg;
  unsigned char *o;
  (void)ssl;
  if (SSL_select_next_proto(&o, outlen, c->alpn, c->alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

static int ctx_gc(lua_State *L) {
  ctx_ref *r = luaio_checkudata(L, 1, LUAIO_SSLCONTEXT);
  if (r->c) { ctx_unref(r->c); r->c = NULL; }
  return 0;
}

static int ctx_tostring(lua_State *L) {
  ctx_ref *r = luaio_checkudata(L, 1, LUAIO_SSLCONTEXT);
  lua_pushfstring(L, "SSLContext<%s>", r->c && r->c->server ? "server" : "client");
  return 1;
}

/* _ssl_context(opts): opts already checked and completed by tls.lua (verify and
 * check_hostname are booleans, alpn a list of strings). */
static int l_ssl_context(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  ctx_ref *r = lua_newuserdatauv(L, sizeof *r, 0);
  r->c = NULL;
  luaL_setmetatable(L, LUAIO_SSLCONTEXT);
  int ud = lua_gettop(L);
  tls_ctx *c = luaio_realloc(L, NULL, sizeof *c);
  memset(c, 0, sizeof *c);
  c->refs = 1;
  c->server = (unsigned char)opt_bool(L, 1, "server");
  c->verify = (unsigned char)opt_bool(L, 1, "verify");
  c->check_hostname = (unsigned char)opt_bool(L, 1, "check_hostname");
  ERR_clear_error();
  c->ctx = SSL_CTX_new(c->server ? TLS_server_method() : TLS_client_method());
  if (!c->ctx) { free(c); return raise_queue(L, "SSL_CTX_new"); }
  r->c = c; /* freed by the userdata's __gc from here on */
  SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS);
  int minv = TLS1_2_VERSION;
  const char *mv = opt_string(L, 1, "min_version");
  if (mv && strcmp(mv, "TLSv1.3") == 0) minv = TLS1_3_VERSION;
  SSL_CTX_set_min_proto_version(c->ctx, minv);
  lua_settop(L, ud);
  const char *ciphers = opt_string(L, 1, "ciphers");
  if (ciphers && !SSL_CTX_set_cipher_list(c->ctx, ciphers)) return raise_queue(L, "ciphers");
  const char *cert = opt_string(L, 1, "certfile");
  const char *key = opt_string(L, 1, "keyfile");
  if (cert) {
    check_file(L, cert);
    if (key) check_file(L, key);
    if (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1) return raise_queue(L, cert);
    if (SSL_CTX_use_PrivateKey_file(c->ctx, key ? key : cert, SSL_FILETYPE_PEM) != 1)
      return raise_queue(L, key ? key : cert);
    if (SSL_CTX_check_private_key(c->ctx) != 1) return raise_queue(L, "check_private_key");
  }
  lua_settop(L, ud);
  const char *cafile = opt_string(L, 1, "cafile");
  const char *capath = opt_string(L, 1, "capath");
  if (cafile) check_file(L, cafile);
  if (cafile || capath) {
    if (SSL_CTX_load_verify_locations(c->ctx, cafile, capath) != 1) return raise_queue(L, "load_verify_locations");
    if (c->server && cafile) {
      STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cafile);
      if (names) SSL_CTX_set_client_CA_list(c->ctx, names);
    }
  } else if (c->verify && SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
    return raise_queue(L, "set_default_verify_paths");
  }
  lua_settop(L, ud);
  if (c->verify)
    SSL_CTX_set_verify(c->ctx, c->server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                         : SSL_VERIFY_PEER, NULL);
  else
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
  if (c->server) {
    static const unsigned char sid[] = "luaio";
    SSL_CTX_set_session_id_context(c->ctx, sid, sizeof sid - 1);
  }
  if (lua_getfield(L, 1, "alpn") == LUA_TTABLE) {
    lua_Integer n = luaL_len(L, -1);
    size_t total = 0;
    for (lua_Integer i = 1; i <= n; i++) {
      size_t len;
      lua_geti(L, -1, i);
      lua_tolstring(L, -1, &len);
      lua_pop(L, 1);
      total += 1 + len;
    }
    if (total > 0) {
      c->alpn = luaio_realloc(L, NULL, total);
      size_t off = 0;
      for (lua_Integer i = 1; i <= n; i++) {
        size_t len;
        lua_geti(L, -1, i);
        const char *p = lua_tolstring(L, -1, &len);
        c->alpn[off++] = (unsigned char)len;
        memcpy(c->alpn + off, p, len);
        off += len;
        lua_pop(L, 1);
      }
      c->alpn_len = (unsigned)total;
      if (c->server) SSL_CTX_set_alpn_select_cb(c->ctx, alpn_select, c);
      else if (SSL_CTX_set_alpn_protos(c->ctx, c->alpn, c->alpn_len) != 0) return raise_queue(L, "alpn");
    }
  }
  lua_settop(L, ud);
  return 1;
}

/* ---- engines ---- */
luaio_tls *luaio_tls_new(lua_State *L, int ctxidx, int server, const char *hostname) {
  ctx_ref *r = luaio_checkudata(L, ctxidx, LUAIO_SSLCONTEXT);
  tls_ctx *c = r->c;
  if (!c) luaL_error(L, "SSLContext: used after it was collected");
  if (server && !c->server)
    luaio_raise(L, "ValueError", "a server connection needs a server SSLContext (server = true)");
  if (!server && c->server)
    luaio_raise(L, "ValueError", "a client connection needs a client SSLContext");
  luaio_tls *t = luaio_realloc(L, NULL, sizeof *t);
  memset(t, 0, sizeof *t);
  ERR_clear_error();
  t->ssl = SSL_new(c->ctx);
  t->in = BIO_new(BIO_s_mem());
  t->out = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->in || !t->out) {
    if (t->ssl) SSL_free(t->ssl);
    BIO_free(t->in);
    BIO_free(t->out);
    free(t);
    raise_queue(L, "SSL_new");
    return NULL;
  }
  SSL_set_bio(t->ssl, t->in, t->out);
  t->c = c;
  c->refs++;
  if (server) {
    SSL_set_accept_state(t->ssl);
  } else {
    SSL_set_connect_state(t->ssl);
    if (hostname && *hostname) {
      ASN1_OCTET_STRING *ip = a2i_IPADDRESS(hostname);
      if (ip) ASN1_OCTET_STRING_free(ip);
      else SSL_set_tlsext_host_name(t->ssl, hostname); /* SNI: names only, never addresses */
      if (c->verify && c->check_hostname) {
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), hostname)
                    : SSL_set1_host(t->ssl, hostname);
        if (ok != 1) { luaio_tls_free(t); raise_queue(L, "server_hostname"); return NULL; }
      }
    }
  }
  return t;
}

void luaio_tls_free(luaio_tls *t) {
  if (!t) return;
  SSL_free(t->ssl); /* frees the BIOs */
  ctx_unref(t->c);
  free(t);
}

int luaio_tls_feed(luaio_tls *t, const char *p, size_t n) {
  while (n > 0) {
    int chunk = n > 0x40000000 ? 0x40000000 : (int)n;
    int w = BIO_write(t->in, p, chunk);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void fail(luaio_tls *t) {
  unsigned long e = ERR_peek_last_error();
  t->failed = 1;
  if (!e) {
    snprintf(t->reason, sizeof t->reason, "UNEXPECTED_EOF_WHILE_READING");
    snprintf(t->message, sizeof t->message, "EOF occurred in violation of protocol");
    return;
  }
  const char *r = ERR_reason_error_string(e);
  reason_name(t->reason, sizeof t->reason, r ? r : "unknown error");
  if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    t->verify_code = SSL_get_verify_result(t->ssl);
    snprintf(t->message, sizeof t->message, "certificate verify failed: %s",
             X509_verify_cert_error_string(t->verify_code));
  } else {
    ERR_error_string_n(e, t->message, sizeof t->message);
  }
  ERR_clear_error();
}

int luaio_tls_read(luaio_tls *t, char *buf, size_t n) {
  if (t->failed) return LUAIO_TLS_FAILED;
  if (n > 0x40000000) n = 0x40000000;
  ERR_clear_error();
  int r = SSL_read(t->ssl, buf, (int)n);
  if (r > 0) return r;
  switch (SSL_get_error(t->ssl, r)) {
  case SSL_ERROR_WANT_READ: case SSL_ERROR_WANT_WRITE: return LUAIO_TLS_AGAIN;
  case SSL_ERROR_ZERO_RETURN: return LUAIO_TLS_CLOSED;
  default: fail(t); return LUAIO_TLS_FAILED;
  }
}

int luaio_tls_write(luaio_tls *t, const char *p, size_t n) {
  if (t->failed) return LUAIO_TLS_FAILED;
  while (n > 0) {
    int chunk = n > 0x40000000 ? 0x40000000 : (int)n;
    ERR_clear_error();
    int w = SSL_write(t->ssl, p, chunk);
    if (w <= 0) {
      int e = SSL_get_error(t->ssl, w);
      if (e == SSL_ERROR_SSL || ERR_peek_last_error()) fail(t);
      else {
        t->failed = 1;
        snprintf(t->reason, sizeof t->reason, "BAD_WRITE_STATE");
        snprintf(t->message, sizeof t->message, "write during a handshake");
      }
      return LUAIO_TLS_FAILED;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

void luaio_tls_shutdown(luaio_tls *t) {
  if (t->shut || t->failed || !SSL_is_init_finished(t->ssl)) return;
  t->shut = 1;
  ERR_clear_error();
  SSL_shutdown(t->ssl);
  ERR_clear_error();
}

size_t luaio_tls_pending_out(luaio_tls *t) { return BIO_ctrl_pending(t->out); }

void luaio_tls_take_out(luaio_tls *t, char *buf, size_t n) {
  while (n > 0) {
    int chunk = n > 0x40000000 ? 0x40000000 : (int)n;
    int r = BIO_read(t->out, buf, chunk);
    if (r <= 0) return;
    buf += r;
    n -= (size_t)r;
  }
}

int luaio_tls_handshake_done(luaio_tls *t) { return SSL_is_init_finished(t->ssl); }
int luaio_tls_failed(luaio_tls *t) { return t->failed; }

void luaio_tls_eof(luaio_tls *t) {
  if (t->failed || SSL_is_init_finished(t->ssl)) return;
  ERR_clear_error();
  t->failed = 1;
  snprintf(t->reason, sizeof t->reason, "UNEXPECTED_EOF_WHILE_READING");
  snprintf(t->message, sizeof t->message, "EOF occurred in violation of protocol (the peer closed during the handshake)");
}

int luaio_tls_push_error(lua_State *L, luaio_tls *t) {
  push_ssl_error(L, t->reason[0] ? t->reason : "UNKNOWN", t->message, t->verify_code);
  return 1;
}

/* ---- get_extra_info ---- */
static void push_name(lua_State *L, X509_NAME *name) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) { lua_pushnil(L); return; }
  X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253);
  char *p;
  long n = BIO_get_mem_data(b, &p);
  lua_pushlstring(L, p, (size_t)n);
  BIO_free(b);
}

static void push_time(lua_State *L, const ASN1_TIME *tm) {
  BIO *b = BIO_new(BIO_s_mem());
  if (!b) { lua_pushnil(L); return; }
  ASN1_TIME_print(b, tm);
  char *p;
  long n = BIO_get_mem_data(b, &p);
  lua_pushlstring(L, p, (size_t)n);
  BIO_free(b);
}

static void push_sans(lua_State *L, X509 *x) {
  lua_newtable(L);
  GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  if (!names) return;
  int n = sk_GENERAL_NAME_num(names), k = 0;
  for (int i = 0; i < n; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS) {
      lua_pushlstring(L, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
                      (size_t)ASN1_STRING_length(g->d.dNSName));
      lua_pushfstring(L, "DNS:%s", lua_tostring(L, -1));
      lua_remove(L, -2);
    } else if (g->type == GEN_IPADD) {
      char *s = i2s_ASN1_OCTET_STRING(NULL, g->d.iPAddress); /* hex; prefer the text form */
      const unsigned char *ip = ASN1_STRING_get0_data(g->d.iPAddress);
      int len = ASN1_STRING_length(g->d.iPAddress);
      char buf[64];
      if (len == 4) snprintf(buf, sizeof buf, "IP:%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
      else snprintf(buf, sizeof buf, "IP:%s", s ? s : "?");
      OPENSSL_free(s);
      lua_pushstring(L, buf);
    } else {
      continue;
    }
    lua_rawseti(L, -2, ++k);
  }
  GENERAL_NAMES_free(names);
}

int luaio_tls_extra_info(lua_State *L, luaio_tls *t, const char *name) {
  if (strcmp(name, "peercert") == 0) {
    X509 *x = SSL_get1_peer_certificate(t->ssl);
    if (!x) { lua_pushnil(L); return 1; }
    lua_createtable(L, 0, 5);
    push_name(L, X509_get_subject_name(x));
    lua_setfield(L, -2, "subject");
    push_name(L, X509_get_issuer_name(x));
    lua_setfield(L, -2, "issuer");
    push_time(L, X509_get0_notBefore(x));
    lua_setfield(L, -2, "not_before");
    push_time(L, X509_get0_notAfter(x));
    lua_setfield(L, -2, "not_after");
    push_sans(L, x);
    lua_setfield(L, -2, "subject_alt_names");
    X509_free(x);
    return 1;
  }
  if (strcmp(name, "cipher") == 0) {
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    if (!c) { lua_pushnil(L); return 1; }
    lua_createtable(L, 3, 3);
    lua_pushstring(L, SSL_CIPHER_get_name(c));
    lua_pushvalue(L, -1); lua_rawseti(L, -3, 1); lua_setfield(L, -2, "name");
    lua_pushstring(L, SSL_CIPHER_get_version(c));
    lua_pushvalue(L, -1); lua_rawseti(L, -3, 2); lua_setfield(L, -2, "version");
    lua_pushinteger(L, SSL_CIPHER_get_bits(c, NULL));
    lua_pushvalue(L, -1); lua_rawseti(L, -3, 3); lua_setfield(L, -2, "bits");
    return 1;
  }
  if (strcmp(name, "alpn_protocol") == 0) {
    const unsigned char *p;
    unsigned len;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    if (p && len) lua_pushlstring(L, (const char *)p, len);
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(name, "tls_version") == 0) {
    if (SSL_is_init_finished(t->ssl)) lua_pushstring(L, SSL_get_version(t->ssl));
    else lua_pushnil(L);
    return 1;
  }
  if (strcmp(name, "server_hostname") == 0) {
    const char *h = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
    if (h) lua_pushstring(L, h);
    else lua_pushnil(L);
    return 1;
  }
  return 0;
}

void luaio_tls_open(lua_State *L, luaio_runtime *rt) {
  static const luaL_Reg methods[] = {{"__gc", ctx_gc}, {"__tostring", ctx_tostring}, {NULL, NULL}};
  luaio_new_class(L, LUAIO_SSLCONTEXT, methods, rt);
  static const luaL_Reg funcs[] = {{"_ssl_context", l_ssl_context}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
  /* tls.lua adds start_tls to the writer's methods */
  luaL_getmetatable(L, "luaio.StreamWriter");
  lua_setfield(L, -2, "_writer_methods");
}
