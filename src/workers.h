/* workers.h — aio.workers / aio.worker_id: what C gives the Lua policy in
 * lua/luaio/workers.lua (the binary's command line, the environment, this process's
 * worker number) and the parent-death signal of a worker copy. */
#ifndef LUAIO_WORKERS_H
#define LUAIO_WORKERS_H

#include "runtime.h"

/* The registry field where the luaio binary records its command line for aio.workers:
 * a table {[0] = argv[0], argv[1], ..., n = argc, cwd = "...", rerun = boolean}
 * (rerun: the same command line runs the same script again — false when the script
 * comes from stdin or the REPL). Hosts that do not set it have no aio.workers. */
#define LUAIO_WORKERS_ARGV "luaio.workers.argv"
/* the environment a supervisor gives its copies */
#define LUAIO_WORKER_ENV "LUAIO_WORKER"
#define LUAIO_WORKER_PARENT_ENV "LUAIO_WORKER_PARENT"

void luaio_workers_open(lua_State *L, luaio_runtime *rt);

#endif
