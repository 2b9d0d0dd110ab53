/* loop.c — the ready queue (an array ring: FIFO, no allocation per push) and the loop
 * that drives tasks, handles and timers over libuv: to a task's end or to idle (aio.run),
 * one non-blocking step per host frame, or from inside the host's own uv_run. */
#include <stdio.h>
#include <stdlib.h>
#include "loop.h"
#include "timer.h"
#include "handle.h"
#include "task.h"
#include "report.h"
#include "signals.h"
#include "debug.h"

/* ---- the ready queue: a node in it is linked in no list ---- */
static luaio_node *ready_pop(luaio_runtime *rt) {
  luaio_node *n = rt->ring[rt->ring_head];
  rt->ring_head = (rt->ring_head + 1) & (rt->ring_cap - 1);
  rt->ring_count--;
  return n;
}

/* Each task and handle is queued at most once at a time, so a ring as large as their
 * number never overflows: wake-ups from libuv callbacks never allocate. (Timers are
 * armed from Lua calls only: the heap grows when one is armed, timer.c.) */
void luaio_reserve(lua_State *L, luaio_runtime *rt) {
  unsigned need = rt->nqueueable + 1;
  if (need > rt->ring_cap) {
    unsigned cap = rt->ring_cap ? rt->ring_cap * 2 : 256;
    luaio_node **ring = luaio_realloc(L, NULL, cap * sizeof *ring);
    for (unsigned i = 0; i < rt->ring_count; i++)
      ring[i] = rt->ring[(rt->ring_head + i) & (rt->ring_cap - 1)];
    free(rt->ring);
    rt->ring = ring;
    rt->ring_cap = cap;
    rt->ring_head = 0;
  }
  rt->nqueueable = need;
}

void luaio_unreserve(luaio_runtime *rt) { rt->nqueueable--; }

void luaio_loop_free(luaio_runtime *rt) {
  free(rt->ring);
  rt->ring = NULL;
  rt->ring_cap = rt->ring_count = rt->ring_head = 0;
}

static void dispatch(luaio_runtime *rt, lua_State *L, luaio_node *n) {
  if (luaio_debug_on(rt)) luaio_debug_dispatch(rt, L, n); /* times it: slow-step reports */
  else if (n->kind == NODE_TASK) luaio_task_step(rt, L, luaio_container(n, luaio_task, node));
  else luaio_handle_run(rt, L, luaio_container(n, luaio_handle, node));
}

/* Runs what is ready now (not what these runs make ready: they go next round).
 * budget_ns > 0 bounds the time spent; leftovers stay queued in order. */
static unsigned run_ready(luaio_runtime *rt, lua_State *L, uint64_t budget_ns) {
  unsigned n = rt->ring_count, ran = 0;
  uint64_t start = budget_ns ? luaio_now() : 0;
  while (n-- && rt->ring_count) {
    dispatch(rt, L, ready_pop(rt));
    ran++;
    if (budget_ns && luaio_now() - start >= budget_ns) break;
  }
  return ran;
}

/* I/O is polled without blocking at most every POLL_EVERY rounds (or 1 ms) while tasks
 * stay ready, so a task switch does not pay for a system call. The clock is read only
 * after a large round: small ones are too short to matter and a task switch should not
 * pay for the clock either. */
#define POLL_EVERY 32
#define POLL_NS 1000000u
#define LARGE_ROUND 64

static void wake_cb(uv_timer_t *h) { (void)h; }

/* Polls I/O: without blocking (wait_ms 0), or blocking at most wait_ms (-1: no limit). */
static void poll_io_for(luaio_runtime *rt, int64_t wait_ms) {
  if (wait_ms) {
    if (wait_ms > 0) {
      uv_update_time(rt->loop);
      uv_timer_start(&rt->wake, wake_cb, (uint64_t)wait_ms, 0);
    }
    uv_run(rt->loop, UV_RUN_ONCE);
    uv_timer_stop(&rt->wake);
  } else {
    uv_run(rt->loop, UV_RUN_NOWAIT);
  }
  /* uv_run does nothing on a loop with no referenced handle (the async is unreferenced) */
  if (luaio_signals_pending(rt)) luaio_signals_deliver(rt);
  rt->since_poll = 0;
  rt->last_poll = luaio_now();
}

static void poll_io(luaio_runtime *rt, int block) {
  poll_io_for(rt, block ? luaio_timers_next_ms(rt) : 0);
}

/* A virtual clock with a deadline to jump to, and nothing that finishes by itself shortly
 * (a file system call, a worker thread: real time would never let a timer overtake it). */
static int may_jump(luaio_runtime *rt) {
  return rt->clock_virtual == LUAIO_CLOCK_VIRTUAL && rt->heap_count && !rt->nsoon;
}

/* Nothing is ready: blocks in I/O until the next deadline. A virtual clock instead takes
 * what I/O has to give at once (or within autojump) and, if that wakes nobody, jumps to
 * the first deadline — the next thing that would have happened in real time. */
static void wait_for_work(luaio_runtime *rt) {
  if (!may_jump(rt)) { poll_io(rt, 1); return; }
  poll_io_for(rt, 0);
  if (rt->autojump_ns) { /* an I/O event that wakes nobody does not end the wait */
    uint64_t until = luaio_now() + rt->autojump_ns, now;
    while (!rt->ring_count && (now = luaio_now()) < until && uv_loop_alive(rt->loop))
      poll_io_for(rt, (int64_t)((until - now + 999999) / 1000000));
  }
  if (!rt->ring_count && may_jump(rt)) luaio_clock_jump(rt);
}

/* Nothing is ready, no timer is armed and libuv has nothing that could call back (a
 * manual clock's timers count for nothing: only the host can move that clock). */
static int stuck(luaio_runtime *rt) {
  return rt->ring_count == 0 && (rt->heap_count == 0 || rt->clock_virtual == LUAIO_CLOCK_MANUAL) &&
         !uv_loop_alive(rt->loop);
}

int luaio_run_loop(luaio_runtime *rt, lua_State *L, luaio_task *until) {
  lua_State *prev = rt->runL;
  int deadlock = 0;
  rt->runL = L;
  for (;;) {
    if (until ? until->fut.state != FUT_PENDING : rt->ntasks == 0) break;
    unsigned ran = run_ready(rt, L, 0);
    luaio_timers_fire_due(rt);
    if (until ? until->fut.state != FUT_PENDING : rt->ntasks == 0) break;
    /* failures found collected are reported every round: a loop that never goes idle
     * (a busy server, a loop of sleep(0)) must not hide them (reporting may make work) */
    if (rt->ndeferred) luaio_report_collected(rt, L);
    if (rt->ring_count) {
      if (++rt->since_poll >= POLL_EVERY ||
          (ran >= LARGE_ROUND && luaio_now() - rt->last_poll >= POLL_NS)) {
        poll_io(rt, 0);
        luaio_timers_fire_due(rt);
      }
      continue;
    }
    if (stuck(rt)) { deadlock = 1; break; }
    wait_for_work(rt);
    luaio_timers_fire_due(rt);
  }
  rt->runL = prev;
  return deadlock;
}

/* ---- driving from a host ----
 * Every host entry runs under a protected call on the main state, so a Lua error that
 * escapes the scheduler (out of memory) reaches the error handler instead of the state's
 * panic function. rt->runL is set meanwhile: aio.run from a callback raises, and a nested
 * luaio_step / luaio_run_until_idle is refused. */
typedef struct drive_args {
  luaio_runtime *rt;
  uint64_t budget_ns;
  int mode;
  luaio_future *until;
} drive_args;

/* Drives the loop until f is done or nothing can make progress any more. */
static void run_until(luaio_runtime *rt, lua_State *L, luaio_future *f) {
  if (f->is_task) { luaio_run_loop(rt, L, (luaio_task *)f); return; }
  while (f->state == FUT_PENDING) {
    run_ready(rt, L, 0);
    luaio_timers_fire_due(rt);
    if (f->state != FUT_PENDING) break;
    if (rt->ring_count) { poll_io(rt, 0); luaio_timers_fire_due(rt); continue; }
    if (stuck(rt)) break;
    wait_for_work(rt);
    luaio_timers_fire_due(rt);
  }
}

static int drive_p(lua_State *L) {
  drive_args *a = lua_touserdata(L, 1);
  luaio_runtime *rt = a->rt;
  switch (a->mode) {
  case LUAIO_DRIVE_STEP: /* what is ready, then I/O without blocking, then due timers */
    run_ready(rt, L, a->budget_ns);
    poll_io(rt, 0);
    if (!rt->ring_count && may_jump(rt)) luaio_clock_jump(rt); /* nothing else happens at once */
    luaio_timers_fire_due(rt);
    break;
  case LUAIO_DRIVE_IDLE:
    luaio_run_loop(rt, L, NULL);
    break;
  case LUAIO_DRIVE_UNTIL: /* the host waits for it: its error is the host's to retrieve */
    run_until(rt, L, a->until);
    if (a->until->state == FUT_ERR) a->until->unretrieved = 0;
    break;
  case LUAIO_DRIVE_ATTACHED: /* inside the host's uv_run: I/O is its job */
    luaio_timers_fire_due(rt);
    run_ready(rt, L, 0);
    if (!rt->ring_count && may_jump(rt)) luaio_clock_jump(rt);
    luaio_timers_fire_due(rt);
    break;
  }
  luaio_report_unretrieved(rt, L);
  return 0;
}

int luaio_drive(luaio_runtime *rt, int mode, double budget, luaio_future *until) {
  if (!rt || !rt->loop || rt->runL) return -1; /* closed, or the loop is running already */
  lua_State *L = rt->L;
  if (budget > 1e9) budget = 1e9; /* ~31 years: the conversion below stays defined */
  drive_args a = {rt, budget > 0 ? (uint64_t)(budget * 1e9) : 0, mode, until};
  if (a.budget_ns == 0 && budget > 0) a.budget_ns = 1;
  int top = lua_gettop(L);
  rt->runL = L;
  lua_pushcfunction(L, drive_p);
  lua_pushlightuserdata(L, &a);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) luaio_report_c_error(rt, lua_tostring(L, -1));
  lua_settop(L, top);
  rt->runL = NULL;
  return 0;
}

int luaio_poll_timeout(luaio_runtime *rt) {
  if (rt->ring_count) return 0;
  if (may_jump(rt)) return 0; /* a jump is due */
  /* uv_backend_timeout says 0 for a loop with nothing alive: nothing to wait for there */
  int uvt = uv_loop_alive(rt->loop) ? uv_backend_timeout(rt->loop) : -1;
  int64_t ms64 = luaio_timers_next_ms(rt);
  if (ms64 < 0) return uvt;
  int ms = ms64 > INT32_MAX ? INT32_MAX : (int)ms64;
  return (uvt < 0 || ms < uvt) ? ms : uvt;
}
