/* process.h — child processes: aio.create_subprocess_exec / create_subprocess_shell and
 * the Process object (wait, send_signal, terminate, kill, <close>) on libuv's uv_spawn;
 * the pipes are ordinary StreamReader / StreamWriter objects (stream.c). communicate()
 * is policy in lua/luaio/process.lua. */
#ifndef LUAIO_PROCESS_H
#define LUAIO_PROCESS_H

#include "runtime.h"

#define LUAIO_PROCESS "luaio.Process"

void luaio_process_open(lua_State *L, luaio_runtime *rt);

#endif
