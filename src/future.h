/* future.h — Future: result/error slots, an ordered list of waiters (tasks, done-callback
 * handles, C watches) handed on through the loop when it completes, and await. */
#ifndef LUAIO_FUTURE_H
#define LUAIO_FUTURE_H

#include "runtime.h"
#include "list.h"

#define LUAIO_FUTURE "luaio.Future"

enum { FUT_PENDING = 0, FUT_OK, FUT_ERR, FUT_CANCELLED };
typedef struct luaio_future {
  luaio_runtime *rt;
  luaio_node waiters;   /* tasks, done-callback handles and watches, in arrival order */
  unsigned char state;
  unsigned char is_task;
  unsigned char unretrieved; /* failed and nobody has looked at the error */
  int nres;             /* FUT_OK: number of results */
  /* uservalue 1: results (one value, or a table {n=} when nres != 1) / error / CancelledError;
   * uservalue 2: extras table (traceback, name, cancel message), created lazily;
   * a task's uservalue 1 holds its coroutine until the outcome replaces it. */
} luaio_future;

/* A watch is C bookkeeping run synchronously when a future completes (gather, the end of
 * a server's connection), with the future at fidx on L. It must not run Lua code: L is
 * there for what it queues. */
typedef struct luaio_watch {
  luaio_node node;      /* NODE_WATCH */
  void (*fire)(lua_State *L, struct luaio_watch *w, int fidx);
  void *ctx;
  /* call graphs (debug.c): the task awaiting the future through this watch (a gather's
   * parent), or NULL; a NULL function (zeroed memory): the watch awaits on nobody's behalf */
  struct luaio_task *(*awaiter)(struct luaio_watch *w);
} luaio_watch;

/* registry keys (their addresses) of the Future and Task metatables */
extern const char luaio_key_future, luaio_key_task;

luaio_future *luaio_testfuture(lua_State *L, int idx); /* Future or Task, else NULL */
luaio_future *luaio_tofuture(lua_State *L, int idx);   /* else an argument error */
luaio_future *luaio_future_push_new(lua_State *L, luaio_runtime *rt);
void luaio_future_complete(lua_State *L, int fidx); /* hands on the waiters */
/* The functions below take the stack slot of a Future or Task (checked by the caller). */
int luaio_future_set(lua_State *L, int fidx, int first, int n); /* results from stack */
int luaio_future_fail_with(lua_State *L, int fidx, int eidx, int tbidx);
int luaio_future_cancel(lua_State *L, int fidx, int msgidx);
int luaio_future_push_results(lua_State *L, int fidx); /* returns count, raises on error */
void luaio_future_push_error(lua_State *L, int fidx); /* error value or CancelledError */
void luaio_push_traceback(lua_State *L, int fidx);    /* string or nil */
/* Suspends the running task until the future at fidx is done; returns its results. */
int luaio_await_future(lua_State *L, int fidx, const char *fname);
/* The results of the done future at fidx, for task t (NULL: none) that awaited it. */
int luaio_await_results(lua_State *L, struct luaio_task *t, int fidx);
void luaio_future_open(lua_State *L, luaio_runtime *rt); /* Future, await */

#endif
