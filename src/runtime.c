/* runtime.c — the scheduler core: wait lists, the FIFO ready queue (an array ring), the
 * timer heap, the loop that drives them over libuv, and error reporting. */
#include <stdio.h>
#include <stdlib.h>
#include "runtime.h"

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) { fputs("luaio: out of memory\n", stderr); abort(); }
  return q;
}

uint64_t luaio_now(void) { return uv_hrtime(); }

luaio_runtime *luaio_rt(lua_State *L) {
  return (luaio_runtime *)lua_touserdata(L, lua_upvalueindex(1));
}

/* ---- lists ---- */
void luaio_list_init(luaio_node *head) { head->next = head->prev = head; head->kind = 0; }

void luaio_list_append(luaio_node *head, luaio_node *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}

void luaio_list_unlink(luaio_node *n) {
  if (!n->next) return;
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = NULL;
}

/* ---- ready queue: FIFO; a node in it is linked in no list ---- */
void luaio_ready_push(luaio_runtime *rt, luaio_node *n) {
  if (rt->ring_count == rt->ring_cap) {
    unsigned cap = rt->ring_cap * 2;
    luaio_node **ring = xrealloc(NULL, cap * sizeof *ring);
    for (unsigned i = 0; i < rt->ring_count; i++)
      ring[i] = rt->ring[(rt->ring_head + i) & (rt->ring_cap - 1)];
    free(rt->ring);
    rt->ring = ring;
    rt->ring_cap = cap;
    rt->ring_head = 0;
  }
  rt->ring[(rt->ring_head + rt->ring_count++) & (rt->ring_cap - 1)] = n;
}

static luaio_node *ready_pop(luaio_runtime *rt) {
  luaio_node *n = rt->ring[rt->ring_head];
  rt->ring_head = (rt->ring_head + 1) & (rt->ring_cap - 1);
  rt->ring_count--;
  return n;
}

/* ---- timer heap, ordered by (when, seq): equal deadlines fire in arming order ---- */
static int timer_less(const luaio_timer *a, const luaio_timer *b) {
  return a->when < b->when || (a->when == b->when && (int32_t)(a->seq - b->seq) < 0);
}

static void heap_set(luaio_runtime *rt, unsigned i, luaio_timer *t) {
  rt->heap[i] = t;
  t->idx = (int)i;
}

static void heap_up(luaio_runtime *rt, unsigned i) {
  luaio_timer *t = rt->heap[i];
  while (i > 0) {
    unsigned p = (i - 1) / 2;
    if (!timer_less(t, rt->heap[p])) break;
    heap_set(rt, i, rt->heap[p]);
    i = p;
  }
  heap_set(rt, i, t);
}

static void heap_down(luaio_runtime *rt, unsigned i) {
  luaio_timer *t = rt->heap[i];
  for (;;) {
    unsigned c = 2 * i + 1;
    if (c >= rt->heap_count) break;
    if (c + 1 < rt->heap_count && timer_less(rt->heap[c + 1], rt->heap[c])) c++;
    if (!timer_less(rt->heap[c], t)) break;
    heap_set(rt, i, rt->heap[c]);
    i = c;
  }
  heap_set(rt, i, t);
}

void luaio_timer_add(luaio_runtime *rt, luaio_timer *t, uint64_t when) {
  if (t->idx >= 0) luaio_timer_remove(rt, t);
  if (rt->heap_count == rt->heap_cap) {
    rt->heap_cap *= 2;
    rt->heap = xrealloc(rt->heap, rt->heap_cap * sizeof *rt->heap);
  }
  t->when = when;
  t->seq = rt->timer_seq++;
  heap_set(rt, rt->heap_count++, t);
  heap_up(rt, rt->heap_count - 1);
}

void luaio_timer_remove(luaio_runtime *rt, luaio_timer *t) {
  if (t->idx < 0) return;
  unsigned i = (unsigned)t->idx;
  luaio_timer *last = rt->heap[--rt->heap_count];
  t->idx = -1;
  if (last == t) return;
  heap_set(rt, i, last);
  heap_up(rt, i);
  heap_down(rt, (unsigned)last->idx);
}

/* Due timers are taken out first and queued, so a re-armed timer cannot fire twice. */
static void fire_due(luaio_runtime *rt) {
  if (!rt->heap_count) return;
  uint64_t now = luaio_now();
  while (rt->heap_count && rt->heap[0]->when <= now) {
    luaio_timer *t = rt->heap[0];
    luaio_timer_remove(rt, t);
    luaio_timer_fire(rt, t);
  }
}

static void wake_cb(uv_timer_t *h) { (void)h; }

static void dispatch(luaio_runtime *rt, lua_State *L, luaio_node *n) {
  if (n->kind == NODE_TASK) luaio_task_step(rt, L, luaio_container(n, luaio_task, node));
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

static void deliver_signals(luaio_runtime *rt); /* below, with the signal handling */

static void poll_io(luaio_runtime *rt, int block) {
  if (block) {
    if (rt->heap_count) {
      uint64_t now = luaio_now(), when = rt->heap[0]->when;
      uint64_t ms = when > now ? (when - now + 999999) / 1000000 : 0;
      uv_update_time(rt->loop);
      uv_timer_start(&rt->wake, wake_cb, ms, 0);
    }
    uv_run(rt->loop, UV_RUN_ONCE);
    uv_timer_stop(&rt->wake);
  } else {
    uv_run(rt->loop, UV_RUN_NOWAIT);
  }
  /* uv_run does nothing on a loop with no referenced handle (the async is unreferenced) */
  if (rt->dump_pending || rt->interrupt_pending) deliver_signals(rt);
  rt->since_poll = 0;
  rt->last_poll = luaio_now();
}

/* Nothing is ready, no timer is armed and libuv has nothing that could call back. */
static int stuck(luaio_runtime *rt) {
  return rt->ring_count == 0 && rt->heap_count == 0 && !uv_loop_alive(rt->loop);
}

/* Drives the loop until `until` is done (or, when NULL, until no task is alive).
 * Returns 1 if it stopped because nothing could make progress any more. */
int luaio_run_loop(luaio_runtime *rt, lua_State *L, luaio_task *until) {
  lua_State *prev = rt->runL;
  int deadlock = 0;
  rt->runL = L;
  for (;;) {
    if (until ? until->fut.state != FUT_PENDING : rt->ntasks == 0) break;
    unsigned ran = run_ready(rt, L, 0);
    fire_due(rt);
    if (until ? until->fut.state != FUT_PENDING : rt->ntasks == 0) break;
    /* failures found collected are reported every round: a loop that never goes idle
     * (a busy server, a loop of sleep(0)) must not hide them (reporting may make work) */
    if (rt->ndeferred) luaio_report_collected(rt, L);
    if (rt->ring_count) {
      if (++rt->since_poll >= POLL_EVERY ||
          (ran >= LARGE_ROUND && luaio_now() - rt->last_poll >= POLL_NS)) {
        poll_io(rt, 0);
        fire_due(rt);
      }
      continue;
    }
    if (stuck(rt)) { deadlock = 1; break; }
    poll_io(rt, 1);
    fire_due(rt);
  }
  rt->runL = prev;
  return deadlock;
}

/* ---- driving from a host ----
 * Every host entry runs under a protected call on the main state, so a Lua error that
 * escapes the scheduler (out of memory) reaches the error handler instead of the state's
 * panic function. rt->runL is set meanwhile: aio.run from a callback raises, and a nested
 * luaio_step / luaio_run_until_idle is refused. */
enum { DRIVE_STEP, DRIVE_IDLE, DRIVE_ATTACHED, DRIVE_UNTIL };
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
    fire_due(rt);
    if (f->state != FUT_PENDING) break;
    if (rt->ring_count) { poll_io(rt, 0); fire_due(rt); continue; }
    if (stuck(rt)) break;
    poll_io(rt, 1);
    fire_due(rt);
  }
}

static int drive_p(lua_State *L) {
  drive_args *a = lua_touserdata(L, 1);
  luaio_runtime *rt = a->rt;
  switch (a->mode) {
  case DRIVE_STEP: /* what is ready, then I/O without blocking, then due timers */
    run_ready(rt, L, a->budget_ns);
    poll_io(rt, 0);
    fire_due(rt);
    break;
  case DRIVE_IDLE:
    luaio_run_loop(rt, L, NULL);
    break;
  case DRIVE_UNTIL: /* the host waits for it: its error is the host's to retrieve */
    run_until(rt, L, a->until);
    if (a->until->state == FUT_ERR) a->until->unretrieved = 0;
    break;
  case DRIVE_ATTACHED: /* inside the host's uv_run: I/O is its job */
    fire_due(rt);
    run_ready(rt, L, 0);
    fire_due(rt);
    break;
  }
  luaio_report_unretrieved(rt, L);
  return 0;
}

static void report_c_error(luaio_runtime *rt, const char *msg) {
  if (!msg) msg = "(error object is not a string)";
  if (rt->cerr) rt->cerr(rt->cerr_ud, msg, NULL);
  else { fprintf(stderr, "luaio: %s\n", msg); fflush(stderr); }
}

static int drive(luaio_runtime *rt, int mode, double budget, luaio_future *until) {
  if (!rt || !rt->loop || rt->runL) return -1; /* closed, or the loop is running already */
  lua_State *L = rt->L;
  drive_args a = {rt, budget > 0 ? (uint64_t)(budget * 1e9) : 0, mode, until};
  if (a.budget_ns == 0 && budget > 0) a.budget_ns = 1;
  int top = lua_gettop(L);
  rt->runL = L;
  lua_pushcfunction(L, drive_p);
  lua_pushlightuserdata(L, &a);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) report_c_error(rt, lua_tostring(L, -1));
  lua_settop(L, top);
  rt->runL = NULL;
  return 0;
}

int luaio_step(luaio_runtime *rt, double budget, int *ready) {
  if (ready) *ready = 0;
  if (drive(rt, DRIVE_STEP, budget, NULL) < 0) return -1;
  if (ready) *ready = rt->ring_count > 0;
  return rt->ntasks;
}

int luaio_run_until_idle(luaio_runtime *rt) {
  return drive(rt, DRIVE_IDLE, 0, NULL) < 0 ? -1 : LUA_OK;
}

int luaio_task_wait(lua_State *L, int idx) {
  luaio_runtime *rt = luaio_get(L);
  luaio_future *f = luaio_testfuture(L, idx);
  if (!rt || !f) return -1;
  if (f->state == FUT_PENDING) {
    lua_pushvalue(L, idx); /* keeps it alive while the loop runs */
    int r = drive(rt, DRIVE_UNTIL, 0, f);
    lua_pop(L, 1);
    if (r < 0) return -1;
  }
  return f->state; /* LUAIO_PENDING .. LUAIO_CANCELLED are the future states */
}

int luaio_backend_fd(luaio_runtime *rt) { return rt && rt->loop ? uv_backend_fd(rt->loop) : -1; }

int luaio_backend_timeout(luaio_runtime *rt) {
  if (!rt || !rt->loop) return -1;
  if (rt->ring_count) return 0;
  /* uv_backend_timeout says 0 for a loop with nothing alive: nothing to wait for there */
  int uvt = uv_loop_alive(rt->loop) ? uv_backend_timeout(rt->loop) : -1;
  if (!rt->heap_count) return uvt;
  uint64_t now = luaio_now(), when = rt->heap[0]->when;
  uint64_t ms64 = when > now ? (when - now + 999999) / 1000000 : 0;
  int ms = ms64 > INT32_MAX ? INT32_MAX : (int)ms64;
  return (uvt < 0 || ms < uvt) ? ms : uvt;
}

/* ---- attached mode: the host's uv_run drives luaio ----
 * A prepare handle (unreferenced: it never keeps the loop alive by itself) runs due timers
 * and ready tasks once per loop iteration, right before libuv polls. Then the idle handle
 * is active while tasks are ready (the poll does not block) and the wake timer is armed
 * for luaio's next deadline (the poll wakes in time, and sleeping tasks keep uv_run going). */
static void host_idle_cb(uv_idle_t *h) { (void)h; }

static void attach_arm(luaio_runtime *rt) {
  if (rt->ring_count) uv_idle_start(&rt->host_idle, host_idle_cb);
  else uv_idle_stop(&rt->host_idle);
  if (rt->heap_count) {
    uint64_t now = luaio_now(), when = rt->heap[0]->when;
    uv_update_time(rt->loop);
    uv_timer_start(&rt->wake, wake_cb, when > now ? (when - now + 999999) / 1000000 : 0, 0);
  } else {
    uv_timer_stop(&rt->wake);
  }
}

static void host_prep_cb(uv_prepare_t *p) {
  luaio_runtime *rt = p->data;
  if (rt->runL) { uv_idle_stop(&rt->host_idle); return; } /* luaio drives the loop itself */
  drive(rt, DRIVE_ATTACHED, 0, NULL);
  if (rt->attached && rt->loop) attach_arm(rt);
}

int luaio_attach(luaio_runtime *rt) {
  if (!rt || !rt->loop) return -1;
  if (!rt->attached) {
    rt->host_prep.data = rt;
    uv_prepare_start(&rt->host_prep, host_prep_cb);
    uv_unref((uv_handle_t *)&rt->host_prep);
    rt->attached = 1;
  }
  if (!rt->runL) attach_arm(rt);
  return 0;
}

void luaio_detach(luaio_runtime *rt) {
  if (!rt || !rt->loop || !rt->attached) return;
  rt->attached = 0;
  uv_prepare_stop(&rt->host_prep);
  uv_idle_stop(&rt->host_idle);
  if (!rt->runL) uv_timer_stop(&rt->wake);
}

uv_loop_t *luaio_loop(luaio_runtime *rt) { return rt->loop; }
lua_State *luaio_state(luaio_runtime *rt) { return rt->L; }

void luaio_set_error_handler(luaio_runtime *rt, luaio_error_fn fn, void *ud) {
  if (!rt) return;
  rt->cerr = fn;
  rt->cerr_ud = ud;
}

/* ---- error reporting: one hook for unretrieved errors and failed callbacks ---- */
static void default_report(luaio_runtime *rt, lua_State *L, int ctx) {
  int base = lua_gettop(L);
  lua_getfield(L, ctx, "message");
  lua_getfield(L, ctx, "exception");
  lua_getfield(L, ctx, "traceback");
  const char *msg = lua_tostring(L, base + 1);
  const char *exc = lua_isnil(L, base + 2) ? NULL : luaL_tolstring(L, base + 2, NULL);
  const char *tb = lua_tostring(L, base + 3);
  if (!msg) msg = "error";
  if (rt->cerr) {
    rt->cerr(rt->cerr_ud, exc ? lua_pushfstring(L, "%s: %s", msg, exc) : msg, tb);
  } else {
    fprintf(stderr, "luaio: %s\n", msg);
    if (exc) fprintf(stderr, "  %s\n", exc);
    if (tb) fprintf(stderr, "%s\n", tb);
    fflush(stderr);
  }
  lua_settop(L, base);
}

static int traceback_handler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg ? msg : luaL_tolstring(L, 1, NULL), 1);
  return 1;
}

static int default_report_p(lua_State *L) {
  default_report(lua_touserdata(L, 1), L, 2);
  return 0;
}

/* Never raises: a failing handler, or an error value whose __tostring fails, is itself
 * reported plainly on stderr. */
void luaio_report(luaio_runtime *rt, lua_State *L, int ctx) {
  ctx = lua_absindex(L, ctx);
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 8)) return;
  if (rt->handler_ref != LUA_NOREF) {
    lua_pushcfunction(L, traceback_handler);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->handler_ref);
    lua_pushvalue(L, ctx);
    if (lua_pcall(L, 1, 0, top + 1) == LUA_OK) { lua_settop(L, top); return; }
    fprintf(stderr, "luaio: the exception handler failed: %s\n",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
    lua_settop(L, top);
  }
  lua_pushcfunction(L, default_report_p);
  lua_pushlightuserdata(L, rt);
  lua_pushvalue(L, ctx);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    fprintf(stderr, "luaio: an error could not be reported: %s\n",
            lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(not a string)");
    fflush(stderr);
  }
  lua_settop(L, top);
}

/* Reports each failed future of the table at tbl (as key of a set or value of a list)
 * whose error nobody retrieved. */
static void report_table(luaio_runtime *rt, lua_State *L, int tbl) {
  lua_pushnil(L);
  while (lua_next(L, tbl)) {
    int vi = lua_gettop(L);
    int fi = luaio_testfuture(L, vi) ? vi : vi - 1;
    luaio_future *f = luaio_testfuture(L, fi);
    if (f && f->unretrieved) {
      f->unretrieved = 0;
      lua_createtable(L, 0, 4);
      lua_pushstring(L, f->is_task ? "Task exception was never retrieved"
                                   : "Future exception was never retrieved");
      lua_setfield(L, -2, "message");
      lua_pushvalue(L, fi);
      lua_setfield(L, -2, f->is_task ? "task" : "future");
      luaio_future_push_error(L, fi);
      lua_setfield(L, -2, "exception");
      luaio_push_traceback(L, f, fi);
      lua_setfield(L, -2, "traceback");
      if (f->is_task) {
        lua_getfield(L, fi, "get_name");
        lua_pushvalue(L, fi);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
          lua_pushfstring(L, "Task exception was never retrieved (task '%s')",
                          lua_tostring(L, -1));
          lua_setfield(L, -3, "message");
        }
        lua_pop(L, 1);
      }
      luaio_report(rt, L, -1);
    }
    lua_settop(L, vi - 1); /* the key stays for lua_next */
  }
}

static void reset_table(lua_State *L, int *ref, int weak) {
  lua_newtable(L);
  if (weak) {
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
  }
  if (*ref == LUA_NOREF || *ref == LUA_REFNIL) *ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else lua_rawseti(L, LUA_REGISTRYINDEX, *ref);
}

/* Failed futures collected unretrieved: their finalizer queued them for the loop. */
void luaio_report_collected(luaio_runtime *rt, lua_State *L) {
  if (!rt->ndeferred || rt->deferred == LUA_NOREF) return;
  int top = lua_gettop(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->deferred);
  rt->ndeferred = 0;
  reset_table(L, &rt->deferred, 0);
  report_table(rt, L, top + 1);
  lua_settop(L, top);
}

/* Reports every failed future whose error nobody retrieved, then forgets them. */
void luaio_report_unretrieved(luaio_runtime *rt, lua_State *L) {
  if (rt->failed == LUA_NOREF) return;
  int top = lua_gettop(L);
  luaio_report_collected(rt, L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->failed);
  reset_table(L, &rt->failed, 1);
  report_table(rt, L, top + 1);
  lua_settop(L, top);
}

/* ---- registration helpers: every C function gets the runtime as upvalue 1 ---- */
void luaio_register(lua_State *L, const luaL_Reg *funcs, luaio_runtime *rt) {
  lua_pushlightuserdata(L, rt);
  luaL_setfuncs(L, funcs, 1);
  luaio_name_functions(L, funcs);
}

void luaio_new_class(lua_State *L, const char *tname, const luaL_Reg *methods,
                     luaio_runtime *rt) {
  luaL_newmetatable(L, tname);
  luaio_register(L, methods, rt);
  lua_pushvalue(L, -1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

/* ---- interrupts (SIGINT) and dump requests (SIGUSR1): a handler only sets a flag, a
 * hook and an async wake-up ---- */
static int push_interrupt_target(luaio_runtime *rt, lua_State *L) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  if (lua_getfield(L, -1, "interrupt_target") == LUA_TNIL) {
    lua_pop(L, 1);
    lua_getfield(L, -1, "main_task");
  }
  lua_remove(L, -2);
  return luaL_testudata(L, -1, LUAIO_TASK) != NULL;
}

static int cancel_target(lua_State *L) {
  luaio_runtime *rt = lua_touserdata(L, 1);
  if (push_interrupt_target(rt, L)) {
    lua_pushliteral(L, "interrupted");
    luaio_task_cancel(L, lua_touserdata(L, -2), lua_gettop(L));
  }
  return 0;
}

static void deliver_interrupt(luaio_runtime *rt, lua_State *L) {
  if (!rt->interrupt_pending) return;
  rt->interrupt_pending = 0;
  lua_pushcfunction(L, cancel_target);
  lua_pushlightuserdata(L, rt);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
}

/* aio.dump_tasks() to stderr; never fails the caller */
static void run_dump(lua_State *L) {
  int top = lua_gettop(L);
  if (!lua_checkstack(L, 4)) return;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "luaio");
  if (lua_istable(L, -1) && lua_getfield(L, -1, "dump_tasks") == LUA_TFUNCTION) {
    if (lua_pcall(L, 0, 0, 0) != LUA_OK)
      fprintf(stderr, "luaio: dump_tasks failed: %s\n", lua_tostring(L, -1));
  }
  lua_settop(L, top);
}

static void deliver_dump(luaio_runtime *rt, lua_State *L) {
  if (!rt->dump_pending) return;
  rt->dump_pending = 0;
  run_dump(L);
}

static void deliver_signals(luaio_runtime *rt) {
  lua_State *L = rt->runL ? rt->runL : rt->L;
  deliver_dump(rt, L);
  deliver_interrupt(rt, L);
}

static void interrupt_cb(uv_async_t *a) { deliver_signals(a->data); }

/* Runs inside the task that was running when the signal came: a task busy in Lua code
 * that never suspends still gets its dump printed and its interrupt delivered. */
static void signal_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  luaio_runtime *rt = luaio_get(L);
  if (!rt || !rt->current || rt->current->co != L) return;
  deliver_dump(rt, L);
  if (!rt->interrupt_pending) return;
  if (!push_interrupt_target(rt, L) || lua_touserdata(L, -1) != (void *)rt->current) {
    lua_pop(L, 1);
    return; /* another task is busy: the target is cancelled when the loop runs */
  }
  lua_pop(L, 1);
  rt->interrupt_pending = 0;
  rt->current->num_cancels++;
  luaio_push_error(L, "CancelledError", "interrupted");
  lua_error(L);
}

void luaio_interrupt_init(luaio_runtime *rt) {
  uv_async_init(rt->loop, &rt->interrupt_async, interrupt_cb);
  rt->interrupt_async.data = rt;
  uv_unref((uv_handle_t *)&rt->interrupt_async);
}

/* after a flag is set: reach a task busy in Lua code (the hook) and the loop (the async) */
static void signal_wake(luaio_runtime *rt) {
  luaio_task *t = rt->current;
  if (t && t->co) lua_sethook(t->co, signal_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  uv_async_send(&rt->interrupt_async);
}

void luaio_interrupt(luaio_runtime *rt) {
  rt->interrupt_pending = 1;
  signal_wake(rt);
}

void luaio_request_dump(luaio_runtime *rt) {
  if (!rt) return;
  rt->dump_pending = 1;
  signal_wake(rt);
}

void luaio_set_interrupt_target(lua_State *L) {
  luaio_runtime *rt = luaio_get(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  lua_insert(L, -2);
  lua_setfield(L, -2, "interrupt_target");
  lua_pop(L, 1);
}
