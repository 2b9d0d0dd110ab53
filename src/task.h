/* task.h — Task: a future that owns one coroutine; the resume protocol (park, wake, step),
 * cancellation, and the wait kinds through which the parts tell the core what a parked
 * task waits on. */
#ifndef LUAIO_TASK_H
#define LUAIO_TASK_H

#include "runtime.h"
#include "list.h"
#include "timer.h"
#include "future.h"

#define LUAIO_TASK "luaio.Task"

enum { T_NEW = 0, T_READY, T_RUNNING, T_WAITING, T_DONE };
typedef struct luaio_task {
  luaio_future fut;     /* a task is a future: must stay first */
  luaio_node node;      /* in the ready queue or one wait list, never both */
  luaio_timer timer;    /* sleep deadline: must follow node */
  lua_State *co;        /* the coroutine, anchored by uservalue 1 while alive */
  int ref;              /* anchor in the runtime while not done */
  int id;               /* Task-<id>; also names the parent in dumps */
  int parent_id;
  int nargs;            /* values pushed on co to resume with */
  int num_cancels;      /* cancelling() */
  unsigned char state;
  unsigned char must_cancel; /* deliver CancelledError at the next suspension point */
  unsigned char wake_cancel; /* the resume that is queued must raise CancelledError */
  unsigned char wait_kind;   /* index of the wait kind it is parked on, 0: none */
  unsigned char bare_yield;  /* resumed into Lua code, not a luaio continuation */
  unsigned char body_failed; /* the body raised: co's top is the error */
  unsigned char in_cancel;   /* its wait kind's cancel is running (see luaio_task_cancel) */
  unsigned char soon;        /* parked on a kind that completes soon (counted in rt->nsoon) */
  int wait_idx;         /* stack slot (in co) of what it waits on */
} luaio_task;

/* ---- wait kinds ----
 * What a parked task waits on is described by a kind the part registers when it opens;
 * the core calls the kind and knows no part by name. A task records the kind's index in
 * one byte. The object it waits on (the value at luaio_park's `idx`) is handed to the
 * kind's functions on L at `obj`. */
typedef struct luaio_wait_kind {
  const char *name;  /* "a Queue": for dumps and deadlock messages */
  /* cancel() of a task parked on it: returns 1 if the kind took the request (the task
   * then wakes when that is done), 0 for the default (it wakes with CancelledError).
   * NULL: always the default. */
  int (*cancel)(lua_State *L, luaio_task *t, int obj, int msgidx);
  /* pushes a one-line description of the wait; NULL: the name and the object's tostring */
  void (*describe)(lua_State *L, luaio_task *t, int obj);
  /* 1: what it waits on finishes by itself shortly, off the loop (a thread-pool request:
   * a file system call, a worker thread, a name lookup), so a virtual clock waits for it
   * rather than jump past it — real time would never let a timer overtake it. */
  unsigned char completes_soon;
} luaio_wait_kind;

/* Registers a kind with the runtime (at a part's open; again is a no-op). */
void luaio_wait_kind_register(luaio_runtime *rt, const luaio_wait_kind *k);
/* The kind a waiting task is parked on, or NULL. */
const luaio_wait_kind *luaio_task_wait_kind(luaio_task *t);
/* Pushes what a waiting task waits on (the object given to luaio_park), or nil. */
void luaio_task_push_waited(lua_State *L, luaio_task *t);

/* ---- the suspension protocol ---- */
luaio_task *luaio_totask(lua_State *L, int idx);
/* The running task, or an error naming `fname` when L is not one (or cannot yield). */
luaio_task *luaio_check_task(lua_State *L, const char *fname);
/* The same, right before a real suspension: also delivers a pending cancellation. */
luaio_task *luaio_check_suspend(lua_State *L, const char *fname);
/* Suspends the running task (return its result from the C function). `idx` is the stack
 * slot of what it waits on, `kind` registered; k runs on resume with ctx = idx. Link
 * t->node first. */
int luaio_park(lua_State *L, luaio_task *t, const luaio_wait_kind *kind, int idx, lua_KFunction k);
/* Suspends and queues the task again at once (sleep(0)). */
int luaio_requeue(lua_State *L, luaio_task *t, lua_KFunction k);
void luaio_wake(luaio_runtime *rt, luaio_task *t); /* unpark: queue its resume */
int luaio_take_wake_cancel(luaio_task *t);
int luaio_raise_cancelled(lua_State *L, luaio_task *t);
void luaio_raise_if_cancelled(lua_State *L, luaio_task *t); /* in continuations */
void luaio_task_set_chain(lua_State *L, luaio_task *t, int eidx, int tbidx);
/* Pops a function and its nargs arguments, pushes a new Task running them (queued). */
void luaio_task_push_new(lua_State *L, luaio_runtime *rt, int nargs);
void luaio_task_step(luaio_runtime *rt, lua_State *L, luaio_task *t);
int luaio_task_cancel(lua_State *L, luaio_task *t, int msgidx);
int luaio_push_task(lua_State *L, luaio_task *t); /* 0 (and nil) if no longer anchored */
void luaio_push_task_name(lua_State *L, luaio_task *t); /* t:get_name(), or Task-<id> */
/* Cancels every live task and runs the loop until they have all finished. */
void luaio_shutdown_tasks(luaio_runtime *rt, lua_State *L);
/* Unlinks the tasks nothing can wake any more (the runtime is closing). */
void luaio_forget_tasks(luaio_runtime *rt, lua_State *L);
/* The main task of the last aio.run (registry), or nil. */
void luaio_push_main_task(lua_State *L);

/* Coroutine objects (aio.async) are tables with this metatable; the Lua layer gives C its
 * function turning one into a Task under this registry light key. */
#define LUAIO_CORO "luaio.Coroutine"
extern const char luaio_hook_coro_task;
int luaio_is_coro(lua_State *L, int idx);

void luaio_task_open(lua_State *L, luaio_runtime *rt); /* Task, spawn, current_task ... */

#endif
