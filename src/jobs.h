/* jobs.h — the C side of luaio.jobs: only the entry point that lets stock lua5.4 find the
 * submodule in luaio.so. The job queue itself is Lua over luaio.redis (lua/luaio/jobs.lua). */
#ifndef LUAIO_JOBS_H
#define LUAIO_JOBS_H

#include "runtime.h"

/* require "luaio.jobs" under stock lua5.4: requires "luaio", returns the submodule */
int luaopen_luaio_jobs(lua_State *L);

#endif
