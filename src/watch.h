/* watch.h — FsWatcher: the events of a file or directory (aio.fs.watch). */
#ifndef LUAIO_WATCH_H
#define LUAIO_WATCH_H

#include "runtime.h"

#define LUAIO_WATCHER "luaio.FsWatcher"

/* the FsWatcher class and aio.fs._watch (after luaio_fs_open) */
void luaio_watch_open(lua_State *L, luaio_runtime *rt);

#endif
