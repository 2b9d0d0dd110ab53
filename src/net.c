/* net.c — open_connection, start_server, unix sockets, getaddrinfo (issue 5). */
#include "runtime.h"

void luaio_net_open(lua_State *L, luaio_runtime *rt) {
  (void)L;
  (void)rt;
}
