/* resources.h — the open resources of a runtime (aio.open_resources, and debug mode's
 * leak report when the loop closes): a part registers each stream, server, datagram
 * socket, process, file or watcher when it opens it; the core lists call_soon /
 * call_later / call_at handles still scheduled itself. */
#ifndef LUAIO_RESOURCES_H
#define LUAIO_RESOURCES_H

#include "runtime.h"

/* A kind of resource, a constant record the part registers when it opens (as a wait
 * kind). `is_open` answers for the object at idx, without raising and without running
 * Lua code: closing a resource costs the part nothing more than setting its own flag,
 * and a resource its __gc closed answers 0 as well. */
typedef struct luaio_resource_kind {
  const char *name;                      /* "stream", "server" ... as the list names it */
  int (*is_open)(lua_State *L, int idx);
} luaio_resource_kind;

#define LUAIO_RESOURCE_KINDS_MAX 16

void luaio_resource_kind_register(luaio_runtime *rt, const luaio_resource_kind *k);
/* Registers the object at idx, just opened, as a resource of kind k: one store in a
 * weak-keyed table (the list never keeps a resource alive). In debug mode it records
 * where: the script's line that called the opening function or, when `from` is a stack
 * index (not 0), the site recorded for that object (a server's connections: the line that
 * started the server). May raise a memory error: call it once the object owns what it
 * opened, so that the collector closes it. */
void luaio_resource_open(lua_State *L, luaio_runtime *rt, int idx, const luaio_resource_kind *k,
                         int from);
/* A scheduled handle's place in the creation order, and in debug mode its site (the core
 * lists handles from rt->anchors, where they are anyway while scheduled). */
uint64_t luaio_resource_seq(lua_State *L, luaio_runtime *rt, int idx);
/* Debug mode, when the loop closes: reports every resource still open, with its site,
 * to the exception handler (each once). Never raises. */
void luaio_resources_report(luaio_runtime *rt, lua_State *L);
void luaio_resources_open(lua_State *L, luaio_runtime *rt); /* aio.open_resources */

#endif
