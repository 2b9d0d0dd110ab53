/* fs.h — the file system: aio.fs's one-shot calls (fs.c) on libuv's uv_fs_* requests,
 * and what file.c and watch.c share with them. */
#ifndef LUAIO_FS_H
#define LUAIO_FS_H

#include "runtime.h"

/* aio.fs (its C functions; lua/luaio/fs.lua adds the policy), created in the module table */
void luaio_fs_open(lua_State *L, luaio_runtime *rt);
/* pushes the table aio.fs.stat returns */
void luaio_fs_push_stat(lua_State *L, const uv_stat_t *st);
/* raises OSError for a failed call: "<op> <path>: <libuv message>", code = libuv's name */
int luaio_fs_raise(lua_State *L, int err, const char *op, const char *path);

#endif
