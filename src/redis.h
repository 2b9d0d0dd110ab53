/* redis.h — the mechanism under luaio.redis (redis.c): a RESP reply Reader over hiredis's
 * redisReader that maps replies to Lua values, the command encoder (a RESP array of bulk
 * strings) and the RedisError class. The client itself (connection, FIFO of pending
 * calls, pipelining, pub/sub) is policy in lua/luaio/redis.lua, over luaio's streams. */
#ifndef LUAIO_REDIS_H
#define LUAIO_REDIS_H

#include "runtime.h"

#define LUAIO_REDIS_READER "luaio.RedisReader"

void luaio_redis_open(lua_State *L, luaio_runtime *rt);

#endif
