/* report.h — where errors nobody retrieved go: the exception handler (or the host's error
 * function, or stderr), for failed tasks and futures, failed callbacks and the like. */
#ifndef LUAIO_REPORT_H
#define LUAIO_REPORT_H

#include "runtime.h"

/* Sends the context table at ctx (message, exception, traceback, task ...) to the
 * exception handler. Never raises. */
void luaio_report(luaio_runtime *rt, lua_State *L, int ctx);
/* Remembers the failed future at fidx until its error is retrieved or reported. */
void luaio_report_track(lua_State *L, int fidx);
/* Queues a failed future found unretrieved by its finalizer (reported from the loop). */
void luaio_report_defer(lua_State *L, int fidx);
/* From a finalizer: the context table at ctx is reported from the loop (debug mode's
 * never-awaited coroutine objects). */
void luaio_report_defer_ctx(lua_State *L, luaio_runtime *rt, int ctx);
/* Reports those the finalizer found (the loop calls it every round). */
void luaio_report_collected(luaio_runtime *rt, lua_State *L);
/* Reports every failed future whose error nobody retrieved, then forgets them. */
void luaio_report_unretrieved(luaio_runtime *rt, lua_State *L);
/* The error of a host driving call: to the host's error function, or stderr. */
void luaio_report_c_error(luaio_runtime *rt, const char *msg);
void luaio_report_init(lua_State *L, luaio_runtime *rt);
void luaio_report_free(lua_State *L, luaio_runtime *rt);
void luaio_report_open(lua_State *L, luaio_runtime *rt); /* set/get/call_exception_handler */

#endif
