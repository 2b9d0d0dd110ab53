/* net.h — open_connection, servers (TCP and Unix), name resolution. */
#ifndef LUAIO_NET_H
#define LUAIO_NET_H

#include "runtime.h"

void luaio_net_open(lua_State *L, luaio_runtime *rt);
/* registry light key: the Lua layer's conn_done(task, writer), run when a server
 * connection's task has ended */
extern const char luaio_hook_conn_done;

#endif
