/* net.h — open_connection, servers (TCP and Unix), name resolution. */
#ifndef LUAIO_NET_H
#define LUAIO_NET_H

#include "runtime.h"

void luaio_net_open(lua_State *L, luaio_runtime *rt);

#endif
