/* file.h — File: an open file whose operations suspend the calling task (aio.open). */
#ifndef LUAIO_FILE_H
#define LUAIO_FILE_H

#include "runtime.h"

#define LUAIO_FILE "luaio.File"

void luaio_file_open(lua_State *L, luaio_runtime *rt); /* aio.open, the File class */

#endif
