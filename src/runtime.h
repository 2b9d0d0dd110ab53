/* runtime.h — the runtime: one per lua_State, everything luaio keeps hangs off it (no
 * global state, so two runtimes live side by side). Each group of fields belongs to the
 * file named beside it; only that file writes them. */
#ifndef LUAIO_RUNTIME_H
#define LUAIO_RUNTIME_H

#include <stdint.h>
#include <lua.h>
#include <lauxlib.h>
#include <uv.h>
#include "luaio.h"
#include "errors.h"

struct luaio_node;
struct luaio_timer;
struct luaio_task;
struct luaio_wait_kind;

#define LUAIO_WAIT_KINDS_MAX 32

struct luaio_runtime {
  lua_State *L;            /* the main state */
  uv_loop_t *loop;         /* NULL once released */
  uv_loop_t own_loop;
  int owns_loop;
  int closing;             /* luaio_close has begun: wake nobody, report nothing */
  /* loop.c: the FIFO ready queue (an array ring of tasks and handles) and the driving */
  struct luaio_node **ring;
  unsigned ring_cap, ring_head, ring_count;
  unsigned nqueueable;     /* live tasks and handles: what the ring and heap must hold */
  struct luaio_task *current; /* the task running now */
  lua_State *runL;         /* the state driving the loop now, NULL when it is not running */
  unsigned since_poll;
  uint64_t last_poll;
  uv_timer_t wake;         /* lets uv_run block until the next deadline */
  /* timer.c: a binary heap ordered by (deadline, arming order) */
  struct luaio_timer **heap;
  unsigned heap_cap, heap_count;
  uint32_t timer_seq;
  int clock_virtual;       /* aio.Runner{clock = "virtual"}: time moves only by jumps */
  uint64_t vnow;           /* the virtual clock's time, nanoseconds */
  uint64_t autojump_ns;    /* real time to wait for I/O before a jump */
  /* task.c: live tasks and what they may wait on */
  int anchors;             /* registry ref: table anchoring live tasks, handles, servers */
  int ntasks;
  int next_id;
  const struct luaio_wait_kind *wait_kinds[LUAIO_WAIT_KINDS_MAX]; /* index 0: none */
  int cancel_depth;        /* nested cancels through wait kinds (a chain of awaits) */
  unsigned nsoon;          /* tasks parked on work that completes soon (a virtual clock waits) */
  int nwait_kinds;
  unsigned char last_wait_kind; /* the index a park found last: parks repeat their kind */
  /* report.c: errors nobody retrieved, and where reports go */
  int failed;              /* registry ref: weak table of failed futures not yet retrieved */
  int deferred;            /* registry ref: list of such futures found by their finalizer */
  int ndeferred;
  int handler_ref;         /* exception handler, or LUA_NOREF */
  luaio_error_fn cerr;
  void *cerr_ud;
  /* signals.c: interrupts and dump requests, from a signal handler or another thread */
  uv_async_t interrupt_async;
  volatile int interrupt_pending;
  volatile int dump_pending;
  /* debug.c: debug mode (aio.Runner{debug = true}, LUAIO_DEBUG=1) */
  int debug;
  uint64_t slow_ns;        /* a step or callback running longer is reported */
  /* resources.c: open resources (aio.open_resources, the leak report at loop close) */
  int resources;           /* registry ref: weak-keyed table, resource -> seq * 16 + kind */
  int resource_sites;      /* registry ref: weak-keyed table, resource -> "file:line" */
  int resource_owners;     /* registry ref: weak-keyed table, resource -> what it is listed as */
  uint64_t resource_seq;   /* creation order of resources and scheduled handles */
  uint64_t resource_reported; /* the leak report covered resources up to this one */
  const struct luaio_resource_kind *resource_kinds[16]; /* LUAIO_RESOURCE_KINDS_MAX */
  int nresource_kinds;
  /* module.c: the Lua layer's private table (registry ref) */
  int priv;
  /* api.c: luaio_attach, the host's own uv_run drives luaio through these */
  uv_prepare_t host_prep;
  uv_idle_t host_idle;     /* keeps the host's uv_run from blocking while tasks are ready */
  int attached;
};

/* runtime.c */
luaio_runtime *luaio_rt(lua_State *L); /* from upvalue 1 of the running C function */
/* The runtime of L (any thread of it), or NULL. */
luaio_runtime *luaio_rt_of(lua_State *L);
/* Creates the runtime of L on `loop` (NULL: its own), or NULL with a message on L's stack;
 * the state's closing frees it. */
luaio_runtime *luaio_runtime_new(lua_State *L, uv_loop_t *loop);
/* After luaio_close: L has no runtime any more (the shell lives until lua_close). */
void luaio_runtime_unlist(lua_State *L);
/* Closes luaio's handles and frees the buffers; rt stays an empty shell (loop NULL). */
void luaio_runtime_release(luaio_runtime *rt);
/* Sets funcs into the table on top, each with the runtime as upvalue 1. */
void luaio_register(lua_State *L, const luaL_Reg *funcs, luaio_runtime *rt);
/* A metatable named tname with methods as its __index. */
void luaio_new_class(lua_State *L, const char *tname, const luaL_Reg *methods, luaio_runtime *rt);
uint64_t luaio_now(void); /* the loop clock: monotonic nanoseconds */

/* A part's per-runtime state: a zeroed userdata of `size` bytes whose first field is the
 * runtime pointer, with metatable `tname` (its __gc closes the part's handles), anchored
 * by the runtime — luaio_close drops the anchors, so it is collected before the loop is
 * released — and found again through the registry light key `key`. */
void *luaio_part_state_new(lua_State *L, luaio_runtime *rt, const void *key, size_t size,
                           const char *tname);
/* The state under `key` for the running C function's runtime; raises once it is closed. */
void *luaio_part_state(lua_State *L, const void *key);
/* From the state's __gc: `key` no longer finds it (a runtime opened later has its own). */
void luaio_part_state_forget(lua_State *L, const void *key, const void *st);

#endif
