/* udp.h — datagram endpoints: the DatagramSocket object on libuv's uv_udp_t (udp.c).
 * aio.open_datagram_endpoint's option checking and name resolution are policy in
 * lua/luaio/udp.lua, over the C constructor aio._udp_open. */
#ifndef LUAIO_UDP_H
#define LUAIO_UDP_H

#include "runtime.h"

#define LUAIO_UDP "luaio.DatagramSocket"

void luaio_udp_open(lua_State *L, luaio_runtime *rt);

#endif
