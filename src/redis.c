/* redis.c — the RESP mechanism under luaio.redis (see redis.h): hiredis's redisReader
 * parses, this file maps its replies to Lua values and encodes commands. No socket here:
 * lua/luaio/redis.lua moves the bytes over luaio's streams. */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <hiredis/hiredis.h>
#include "redis.h"
#include "errors.h"

#define ERRORS_KEY "luaio.errors" /* errors.c's registry table name -> class */

/* A Reader: the hiredis reader and the reply being converted (freed on the next call or
 * by __gc if a conversion raised a memory error half-way). Uservalue 1: the null
 * sentinel that stands for a nil inside an array. */
typedef struct rreader {
  redisReader *r;
  redisReply *cur;
} rreader;

static rreader *check_reader(lua_State *L) {
  rreader *rr = luaio_checkudata(L, 1, LUAIO_REDIS_READER);
  if (!rr->r) luaL_error(L, "RedisReader is closed");
  return rr;
}

static void drop_cur(rreader *rr) {
  if (rr->cur) {
    freeReplyObject(rr->cur);
    rr->cur = NULL;
  }
}

/* pushes an error reply: RedisError with the server's message (all of it, an embedded NUL
 * included) and `code`, its first word ("ERR", "WRONGTYPE", "NOAUTH" ...) */
static void push_reply_error(lua_State *L, const char *s, size_t len) {
  luaio_push_error(L, "RedisError", "");
  lua_pushlstring(L, s, len);
  lua_setfield(L, -2, "message");
  size_t w = 0;
  while (w < len && s[w] != ' ') w++;
  lua_pushlstring(L, s, w);
  lua_setfield(L, -2, "code");
}

/* a reply nested deeper than this is refused (hiredis 1.x parses any depth; converting it
 * recursively would exhaust the C stack) */
#define MAX_DEPTH 1000
#define LUAIO_XSTR(x) #x
#define LUAIO_STR(x) LUAIO_XSTR(x)

/* 1 when `rep` nests deeper than `limit` more levels (bounded recursion) */
static int too_deep(const redisReply *rep, int limit) {
  if (rep->type != REDIS_REPLY_ARRAY
#ifdef REDIS_REPLY_MAP
      && rep->type != REDIS_REPLY_MAP && rep->type != REDIS_REPLY_SET
#endif
#ifdef REDIS_REPLY_PUSH
      && rep->type != REDIS_REPLY_PUSH
#endif
#ifdef REDIS_REPLY_ATTR
      && rep->type != REDIS_REPLY_ATTR
#endif
     ) return 0;
  if (limit <= 0) return 1;
  for (size_t i = 0; i < rep->elements; i++)
    if (too_deep(rep->element[i], limit - 1)) return 1;
  return 0;
}

/* pushes the Lua value of reply `rep`; `null` is the stack index of the null sentinel,
 * pushed for a nil inside an array (top level: nil). The caller checked the depth
 * (too_deep). RESP3 types only come after HELLO 3, which the client refuses; they are
 * mapped anyway where hiredis defines them (a map as a flat key, value list, like RESP2). */
static void push_reply(lua_State *L, redisReply *rep, int null, int top) {
  switch (rep->type) {
  case REDIS_REPLY_STRING:
  case REDIS_REPLY_STATUS:
#ifdef REDIS_REPLY_VERB
  case REDIS_REPLY_VERB:
#endif
#ifdef REDIS_REPLY_BIGNUM
  case REDIS_REPLY_BIGNUM:
#endif
    lua_pushlstring(L, rep->str, rep->len);
    break;
  case REDIS_REPLY_INTEGER:
    lua_pushinteger(L, (lua_Integer)rep->integer);
    break;
#ifdef REDIS_REPLY_DOUBLE
  case REDIS_REPLY_DOUBLE:
    lua_pushnumber(L, (lua_Number)rep->dval);
    break;
#endif
#ifdef REDIS_REPLY_BOOL
  case REDIS_REPLY_BOOL:
    lua_pushboolean(L, rep->integer != 0);
    break;
#endif
  case REDIS_REPLY_ERROR:
    push_reply_error(L, rep->str, rep->len);
    break;
  case REDIS_REPLY_ARRAY:
#ifdef REDIS_REPLY_MAP
  case REDIS_REPLY_MAP:
  case REDIS_REPLY_SET:
#endif
#ifdef REDIS_REPLY_PUSH
  case REDIS_REPLY_PUSH:
#endif
#ifdef REDIS_REPLY_ATTR
  case REDIS_REPLY_ATTR:
#endif
    luaL_checkstack(L, 4, "nested Redis reply");
    lua_createtable(L, rep->elements > 0x7fffffff ? 0x7fffffff : (int)rep->elements, 1);
    for (size_t i = 0; i < rep->elements; i++) {
      push_reply(L, rep->element[i], null, 0);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, (lua_Integer)rep->elements);
    lua_setfield(L, -2, "n");
    break;
  case REDIS_REPLY_NIL:
    if (top) lua_pushnil(L);
    else lua_pushvalue(L, null);
    break;
  default: /* a type this file does not know: its caller gets an error, the stream goes on */
    luaio_push_error(L, "RedisError", lua_pushfstring(L, "unsupported Redis reply type %d", rep->type));
    lua_remove(L, -2);
  }
}

/* reader:feed(data, out) -> n: feeds the bytes and stores every complete reply in
 * out[1..n] (a top-level nil as the null sentinel); on a protocol error returns nil and
 * hiredis's message (the stream can no longer be trusted). */
static int r_feed(lua_State *L) {
  rreader *rr = check_reader(L);
  size_t len;
  const char *data = luaio_checklstring(L, 2, &len);
  luaio_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  lua_getiuservalue(L, 1, 1); /* 4: null sentinel */
  drop_cur(rr);
  if (len && redisReaderFeed(rr->r, data, len) != REDIS_OK) goto proto;
  lua_Integer n = 0;
  for (;;) {
    void *reply = NULL;
    if (redisReaderGetReply(rr->r, &reply) != REDIS_OK) goto proto;
    if (!reply) break;
    rr->cur = reply;
    if (too_deep(rr->cur, MAX_DEPTH))
      luaio_push_error(L, "RedisError", "reply nested deeper than " LUAIO_STR(MAX_DEPTH) " levels: refused");
    else
      push_reply(L, rr->cur, 4, 0);
    drop_cur(rr);
    lua_rawseti(L, 3, ++n);
  }
  lua_pushinteger(L, n);
  return 1;
proto:
  lua_pushnil(L);
  if (strstr(rr->r->errstr, "nested multi bulk"))
    /* hiredis 0.14 cannot parse more than 7 levels: the stream cannot be read further */
    lua_pushfstring(L, "reply nested deeper than hiredis %d.%d allows (%s)", HIREDIS_MAJOR, HIREDIS_MINOR,
                    rr->r->errstr);
  else
    lua_pushstring(L, rr->r->errstr[0] ? rr->r->errstr : "protocol error");
  return 2;
}

static int r_gc(lua_State *L) {
  rreader *rr = luaL_checkudata(L, 1, LUAIO_REDIS_READER);
  drop_cur(rr);
  if (rr->r) redisReaderFree(rr->r);
  rr->r = NULL;
  return 0;
}

/* aio._redis_reader(null) -> Reader */
static int l_reader(lua_State *L) {
  luaio_checkany(L, 1);
  rreader *rr = lua_newuserdatauv(L, sizeof *rr, 1);
  rr->r = NULL;
  rr->cur = NULL;
  luaL_setmetatable(L, LUAIO_REDIS_READER);
  rr->r = redisReaderCreate();
  if (!rr->r) return luaL_error(L, "not enough memory");
  lua_pushvalue(L, 1);
  lua_setiuservalue(L, -2, 1);
  return 1;
}

/* one argument to the RESP buffer: a string or a number (as Lua formats it) */
static void add_arg(lua_State *L, luaL_Buffer *b, int idx, const char *fname, int argn) {
  size_t len;
  const char *s;
  char head[32];
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING) {
    s = lua_tolstring(L, idx, &len);
    snprintf(head, sizeof head, "$%zu\r\n", len);
    luaL_addstring(b, head);
    luaL_addlstring(b, s, len);
  } else if (t == LUA_TNUMBER) {
    char num[64];
    if (lua_isinteger(L, idx)) {
      len = (size_t)snprintf(num, sizeof num, LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, idx));
    } else {
      lua_Number x = lua_tonumber(L, idx);
      /* the shortest of %.14g (as Lua prints) .. %.17g that reads back as the same double */
      for (int prec = 14; prec <= 17; prec++) {
        len = (size_t)snprintf(num, sizeof num, "%.*g", prec, (double)x);
        if (prec == 17 || strtod(num, NULL) == (double)x) break;
      }
      /* as tostring: a float that looks like an integer keeps its ".0" */
      if (num[strspn(num, "-0123456789")] == '\0') { memcpy(num + len, ".0", 3); len += 2; }
    }
    snprintf(head, sizeof head, "$%zu\r\n", len);
    luaL_addstring(b, head);
    luaL_addlstring(b, num, len);
  } else {
    const char *tn = luaL_typename(L, idx);
    luaio_argerror_in(L, argn, fname, lua_pushfstring(L, "string or number expected, got %s", tn));
  }
  luaL_addlstring(b, "\r\n", 2);
}

/* aio._redis_encode(fname, base, ...) -> the RESP command; argument i of `...` is named
 * #(base + i - 1) of `fname` in an argument error. */
static int l_encode(lua_State *L) {
  const char *fname = lua_tostring(L, 1);
  lua_Integer base = lua_tointeger(L, 2);
  int n = lua_gettop(L) - 2;
  if (n < 1) return luaio_argerror_in(L, (int)(base > 0 ? base : 1), fname ? fname : "?", "command expected");
  luaL_Buffer b;
  /* the buffer's box sits on the stack above the arguments */
  luaL_buffinit(L, &b);
  char head[32];
  snprintf(head, sizeof head, "*%d\r\n", n);
  luaL_addstring(&b, head);
  for (int i = 0; i < n; i++) add_arg(L, &b, 3 + i, fname ? fname : "?", (int)base + i);
  luaL_pushresult(&b);
  return 1;
}

/* luaio.redis as a C submodule for stock lua5.4 (package.cpath's all-in-one loader finds
 * it in luaio.so): opens luaio, then returns what redis.lua left in the private table. */
/* RedisError: a class made like errors.c's (same callable metatable, same __tostring),
 * registered in its table so luaio_push_error and luaio_is_error know it. */
static void add_error_class(lua_State *L, int aio) {
  lua_getfield(L, LUA_REGISTRYINDEX, ERRORS_KEY);
  int reg = lua_gettop(L);
  lua_getfield(L, reg, "RuntimeError");
  int model = lua_gettop(L);
  lua_createtable(L, 0, 4);
  lua_pushliteral(L, "RedisError");
  lua_setfield(L, -2, "name");
  lua_pushliteral(L, "RedisError");
  lua_setfield(L, -2, "__name");
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_getfield(L, model, "__tostring");
  lua_setfield(L, -2, "__tostring");
  lua_getmetatable(L, model);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, reg, "RedisError");
  lua_setfield(L, aio, "RedisError");
  lua_settop(L, reg - 1);
}

void luaio_redis_open(lua_State *L, luaio_runtime *rt) {
  int aio = lua_gettop(L);
  add_error_class(L, aio);
  static const luaL_Reg methods[] = {
    {"feed", r_feed}, {"__gc", r_gc}, {NULL, NULL}
  };
  luaio_new_class(L, LUAIO_REDIS_READER, methods, rt);
  static const luaL_Reg funcs[] = {
    {"_redis_reader", l_reader}, {"_redis_encode", l_encode}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
