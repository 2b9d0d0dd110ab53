/* runtime.h — the structures every part of luaio shares: runtime, ready queue, timer
 * heap, futures, tasks, handles, and the park/wake protocol tasks suspend through. */
#ifndef LUAIO_RUNTIME_H
#define LUAIO_RUNTIME_H

#include <stdint.h>
#include <stddef.h>
#include <lua.h>
#include <lauxlib.h>
#include <uv.h>
#include "luaio.h"

/* Argument errors name the function as registered ('sleep'), also when it is called
 * through pcall, where Lua would say 'luaio.sleep' or '?': the luaL_check* family is
 * mapped to args.c, which looks the name up in a table filled by luaio_register. */
int luaio_argerror(lua_State *L, int arg, const char *extramsg);
int luaio_typeerror(lua_State *L, int arg, const char *tname);
lua_Number luaio_checknumber(lua_State *L, int arg);
lua_Number luaio_optnumber(lua_State *L, int arg, lua_Number def);
lua_Integer luaio_checkinteger(lua_State *L, int arg);
lua_Integer luaio_optinteger(lua_State *L, int arg, lua_Integer def);
const char *luaio_checklstring(lua_State *L, int arg, size_t *len);
const char *luaio_optlstring(lua_State *L, int arg, const char *def, size_t *len);
void luaio_checktype(lua_State *L, int arg, int t);
void luaio_checkany(lua_State *L, int arg);
void *luaio_checkudata(lua_State *L, int arg, const char *tname);
int luaio_checkoption(lua_State *L, int arg, const char *def, const char *const lst[]);
void luaio_name_functions(lua_State *L, const luaL_Reg *funcs);
#define luaL_argerror luaio_argerror
#define luaL_typeerror luaio_typeerror
#define luaL_checknumber luaio_checknumber
#define luaL_optnumber luaio_optnumber
#define luaL_checkinteger luaio_checkinteger
#define luaL_optinteger luaio_optinteger
#define luaL_checklstring luaio_checklstring
#define luaL_optlstring luaio_optlstring
#define luaL_checktype luaio_checktype
#define luaL_checkany luaio_checkany
#define luaL_checkudata luaio_checkudata
#define luaL_checkoption luaio_checkoption

/* Metatable names (one per type). */
#define LUAIO_FUTURE "luaio.Future"
#define LUAIO_TASK "luaio.Task"
#define LUAIO_HANDLE "luaio.Handle"
#define LUAIO_CORO "luaio.Coroutine"

/* Registry keys (their addresses) for what hot paths look up: light-userdata keys need
 * no string hashing. The values are the metatables and the shared task body. */
extern const char luaio_key_future, luaio_key_task, luaio_key_task_main;

/* ---- intrusive circular list: waiters of futures, queues, locks, streams ---- */
enum { NODE_TASK = 1, NODE_HANDLE, NODE_WATCH };
typedef struct luaio_node {
  struct luaio_node *next, *prev; /* NULL when not linked */
  int kind;
} luaio_node;

void luaio_list_init(luaio_node *head);
void luaio_list_append(luaio_node *head, luaio_node *n);
void luaio_list_unlink(luaio_node *n); /* no-op when not linked */
#define luaio_list_empty(h) ((h)->next == (h))
#define luaio_container(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- timers: a binary heap ordered by (when, seq) so equal deadlines fire FIFO ----
 * A timer sits right after its owner's luaio_node (a task's or a handle's, checked in
 * task.c and timer.c), whose kind says which it is: the timer needs no kind of its own. */
typedef struct luaio_timer {
  uint64_t when; /* deadline, uv_hrtime() nanoseconds */
  uint32_t seq;  /* arming order among equal deadlines (compared modulo 2^32) */
  int idx;       /* position in the heap, -1 when not armed */
} luaio_timer;
#define luaio_timer_owner(tm) ((luaio_node *)((char *)(tm) - sizeof(luaio_node)))

/* ---- futures ---- */
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

/* A watch is C bookkeeping run synchronously when a future completes (gather, wait). */
typedef struct luaio_watch {
  luaio_node node;
  void (*fire)(struct luaio_watch *w, luaio_future *f);
  void *ctx;
  int index;
} luaio_watch;

/* ---- tasks ---- */
enum { T_NEW = 0, T_READY, T_RUNNING, T_WAITING, T_DONE };
enum { W_NONE = 0, W_SLEEP, W_FUTURE, W_GATHER, W_QUEUE, W_LOCK, W_STREAM, W_OTHER };
typedef struct luaio_task {
  luaio_future fut;     /* a task is a future: must stay first */
  luaio_node node;      /* in the ready queue or one wait list, never both */
  luaio_timer timer;    /* sleep deadline */
  lua_State *co;        /* the coroutine, anchored by uservalue 1 while alive */
  int ref;              /* anchor in the runtime while not done */
  int id;               /* Task-<id>; also names the parent in dumps */
  int parent_id;
  int nargs;            /* values pushed on co to resume with */
  int num_cancels;      /* cancelling() */
  unsigned char state;
  unsigned char must_cancel; /* deliver CancelledError at the next suspension point */
  unsigned char wake_cancel; /* the resume that is queued must raise CancelledError */
  unsigned char wait_kind;
  unsigned char bare_yield;  /* resumed into Lua code, not a luaio continuation */
  unsigned char body_failed; /* the body raised: co's top is the error */
  unsigned char conn;        /* runs a server's client_cb: see task_main */
  unsigned char on_cancel;   /* CANCEL_*: what cancel() does first while it is parked */
  int wait_idx;         /* stack slot (in co) of what it waits on, for cancel and dumps */
} luaio_task;

/* cancel() of a parked task first asks what it waits on (returns 1 if that took the
 * request); an enum, not a function pointer, keeps every task 8 bytes smaller. */
enum { CANCEL_NONE = 0, CANCEL_AWAIT, CANCEL_GATHER };
int luaio_await_on_cancel(lua_State *L, struct luaio_task *t, int msgidx);  /* future.c */
int luaio_gather_on_cancel(lua_State *L, struct luaio_task *t, int msgidx); /* gather.c */

/* ---- callbacks: call_soon / call_later / done callbacks ---- */
typedef struct luaio_handle {
  luaio_node node;
  luaio_timer timer;
  int ref;              /* anchor while scheduled */
  int nargs;            /* -1: uservalue 2 is a table {n=}; 0: none; 1: uservalue 2 is the arg */
  unsigned char cancelled;
  unsigned char ran;
  /* uservalue 1: the function; uservalue 2: args */
} luaio_handle;

struct luaio_runtime {
  lua_State *L;            /* the main state */
  uv_loop_t *loop;
  uv_loop_t own_loop;
  int owns_loop;
  uv_timer_t wake;         /* lets uv_run block until the next deadline */
  luaio_node **ring;       /* ready queue: array ring of tasks and handles */
  unsigned ring_cap, ring_head, ring_count;
  luaio_timer **heap;
  unsigned heap_cap, heap_count;
  uint32_t timer_seq;
  luaio_task *current;     /* the task running now */
  lua_State *runL;         /* the state driving the loop now, NULL when it is not running */
  int anchors;             /* registry ref: table anchoring live tasks and scheduled handles */
  int failed;              /* registry ref: weak table of failed futures not yet retrieved */
  int deferred;            /* registry ref: list of such futures found by their finalizer */
  int ndeferred;
  int handler_ref;         /* exception handler, or LUA_NOREF */
  int ntasks;
  int next_id;
  unsigned since_poll;
  uint64_t last_poll;
  uv_async_t interrupt_async; /* wakes the loop to deliver an interrupt */
  volatile int interrupt_pending;
  volatile int dump_pending;  /* luaio_request_dump: print aio.dump_tasks() to stderr */
  luaio_error_fn cerr;
  void *cerr_ud;
  int closing;
  /* luaio_attach: the host's own uv_run drives luaio through these (module.c, runtime.c) */
  uv_prepare_t host_prep;
  uv_idle_t host_idle;     /* keeps the host's uv_run from blocking while tasks are ready */
  int attached;
};

/* runtime.c */
luaio_runtime *luaio_rt(lua_State *L); /* from upvalue 1 of the running C function */
void luaio_ready_push(luaio_runtime *rt, luaio_node *n);
void luaio_timer_add(luaio_runtime *rt, luaio_timer *t, uint64_t when);
void luaio_timer_remove(luaio_runtime *rt, luaio_timer *t);
uint64_t luaio_now(void);
int luaio_run_loop(luaio_runtime *rt, lua_State *L, luaio_task *until);
void luaio_report(luaio_runtime *rt, lua_State *L, int ctx_idx);
void luaio_report_unretrieved(luaio_runtime *rt, lua_State *L);
void luaio_report_collected(luaio_runtime *rt, lua_State *L); /* only what was collected */
void luaio_interrupt_init(luaio_runtime *rt);
void luaio_register(lua_State *L, const luaL_Reg *funcs, luaio_runtime *rt);
void luaio_new_class(lua_State *L, const char *tname, const luaL_Reg *methods, luaio_runtime *rt);

/* future.c */
luaio_future *luaio_tofuture(lua_State *L, int idx); /* Future or Task, else arg error */
luaio_future *luaio_testfuture(lua_State *L, int idx);
luaio_future *luaio_future_push_new(lua_State *L, luaio_runtime *rt);
void luaio_future_complete(luaio_runtime *rt, luaio_future *f); /* wakes waiters */
/* The functions below take the stack slot of a Future or Task (checked by the caller). */
int luaio_future_set(lua_State *L, int fidx, int first, int n); /* results from stack */
int luaio_future_fail_with(lua_State *L, int fidx, int eidx, int tbidx);
int luaio_future_cancel(lua_State *L, int fidx, int msgidx);
int luaio_future_push_results(lua_State *L, int fidx); /* returns count, raises on error */
void luaio_future_push_error(lua_State *L, int fidx); /* error value or CancelledError */
void luaio_future_mark_retrieved(lua_State *L, luaio_future *f);
void luaio_future_open(lua_State *L, luaio_runtime *rt);
int luaio_await_future(lua_State *L, int fidx, const char *fname);
int luaio_await_results(lua_State *L, luaio_task *t, int fidx);

/* task.c */
luaio_task *luaio_totask(lua_State *L, int idx);
/* The running task, or an error naming `fname` when L is not one (or cannot yield). */
luaio_task *luaio_check_task(lua_State *L, const char *fname);
/* The same, right before a real suspension: also delivers a pending cancellation. */
luaio_task *luaio_check_suspend(lua_State *L, const char *fname);
/* Suspends the running task (return its result from the C function). `idx` is the stack
 * slot of what it waits on; k runs on resume with ctx = idx. Link t->node first. */
int luaio_park(lua_State *L, luaio_task *t, int kind, int idx, lua_KFunction k);
/* Suspends and queues the task again at once (sleep(0)). */
int luaio_requeue(lua_State *L, luaio_task *t, lua_KFunction k);
void luaio_wake(luaio_runtime *rt, luaio_task *t); /* unpark: queue its resume */
int luaio_take_wake_cancel(luaio_task *t);
int luaio_raise_cancelled(lua_State *L, luaio_task *t);
void luaio_raise_if_cancelled(lua_State *L, luaio_task *t); /* in continuations */
void luaio_task_set_chain(lua_State *L, luaio_task *t, int eidx, int tbidx);
void luaio_task_push_new(lua_State *L, luaio_runtime *rt, int nargs);
void luaio_task_step(luaio_runtime *rt, lua_State *L, luaio_task *t);
int luaio_task_cancel(lua_State *L, luaio_task *t, int msgidx);
int luaio_push_task(lua_State *L, luaio_task *t); /* 0 if it is no longer anchored */
void luaio_task_open(lua_State *L, luaio_runtime *rt);
void luaio_push_traceback(lua_State *L, luaio_future *f, int fidx); /* string or nil */

/* timer.c */
void luaio_handle_run(luaio_runtime *rt, lua_State *L, luaio_handle *h);
void luaio_handle_push_new(lua_State *L, luaio_runtime *rt, int fidx, int nargs);
void luaio_timer_fire(luaio_runtime *rt, luaio_timer *tm);
void luaio_timer_open(lua_State *L, luaio_runtime *rt);

/* gather.c */
void luaio_gather_open(lua_State *L, luaio_runtime *rt);

/* the other parts: each adds its functions to the module table on top of the stack */
void luaio_queue_open(lua_State *L, luaio_runtime *rt);
void luaio_stream_open(lua_State *L, luaio_runtime *rt);
void luaio_net_open(lua_State *L, luaio_runtime *rt);
void luaio_dump_open(lua_State *L, luaio_runtime *rt);

/* module.c */
int luaio_is_coro(lua_State *L, int idx); /* a coroutine object from aio.async */
void luaio_shutdown_tasks(luaio_runtime *rt, lua_State *L);

/* errors.c */
void luaio_errors_open(lua_State *L);
void luaio_push_error(lua_State *L, const char *name, const char *msg);
int luaio_raise(lua_State *L, const char *name, const char *fmt, ...);
int luaio_is_error(lua_State *L, int idx, const char *name);
void luaio_check_opts(lua_State *L, int idx, const char *fname, const char *const *keys);

#endif
