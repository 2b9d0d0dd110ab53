/* handle.h — callbacks scheduled on the loop (call_soon / call_later / call_at, a future's
 * done callbacks) as cancellable Handle objects, run under a protected call. */
#ifndef LUAIO_HANDLE_H
#define LUAIO_HANDLE_H

#include "runtime.h"
#include "list.h"
#include "timer.h"

#define LUAIO_HANDLE "luaio.Handle"

typedef struct luaio_handle {
  luaio_node node;      /* NODE_HANDLE: in the ready queue or a future's waiters */
  luaio_timer timer;    /* call_later / call_at: must follow node */
  int ref;              /* anchor while scheduled */
  int nargs;            /* -1: uservalue 2 is a table {n=}; 0: none; 1: uservalue 2 is the arg */
  unsigned char cancelled;
  unsigned char ran;
  unsigned char timed;  /* call_later / call_at: when() has an answer */
  uint64_t seq;         /* call_soon / call_later / call_at: its place among the open
                         * resources (resources.c lists it while scheduled); 0: a done
                         * callback, not a resource */
  /* uservalue 1: the function; uservalue 2: args */
} luaio_handle;

/* Pops the `nargs` values on top, pushes a Handle calling the function at fidx with them,
 * anchored until it has run or is cancelled. The caller schedules it. */
void luaio_handle_push_new(lua_State *L, luaio_runtime *rt, int fidx, int nargs);
/* Runs it; a failure goes to the exception handler. */
void luaio_handle_run(luaio_runtime *rt, lua_State *L, luaio_handle *h);
/* Drops its anchor (idempotent): it will not run. */
void luaio_handle_release(lua_State *L, luaio_runtime *rt, luaio_handle *h);
void luaio_handle_open(lua_State *L, luaio_runtime *rt); /* call_soon, call_later, call_at */

#endif
