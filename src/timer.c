/* timer.c — the timer heap (ordered by deadline, then arming order, so equal deadlines
 * fire FIFO; due timers are taken out before any fires, so a re-armed timer cannot fire
 * twice in one pass), the loop clock, and aio.sleep / aio.time. */
#include <stdio.h>
#include <stdlib.h>
#include "timer.h"
#include "task.h"
#include "handle.h"
#include "loop.h"

/* ---- the heap ---- */
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


void luaio_timers_free(luaio_runtime *rt) {
  free(rt->heap);
  rt->heap = NULL;
  rt->heap_cap = rt->heap_count = 0;
}

void luaio_timers_make_room(lua_State *L, luaio_runtime *rt) {
  if (rt->heap_count < rt->heap_cap) return;
  unsigned cap = rt->heap_cap ? rt->heap_cap * 2 : 256;
  rt->heap = luaio_realloc(L, rt->heap, cap * sizeof *rt->heap);
  rt->heap_cap = cap;
}

void luaio_timer_add(lua_State *L, luaio_runtime *rt, luaio_timer *t, uint64_t when) {
  if (t->idx >= 0) luaio_timer_remove(rt, t);
  luaio_timers_make_room(L, rt);
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

_Static_assert(offsetof(luaio_task, timer) == offsetof(luaio_task, node) + sizeof(luaio_node),
               "a task's timer follows its node (see luaio_timer_owner)");
_Static_assert(offsetof(luaio_handle, timer) == offsetof(luaio_handle, node) + sizeof(luaio_node),
               "a handle's timer follows its node (see luaio_timer_owner)");

static void timer_fire(luaio_runtime *rt, luaio_timer *tm) {
  if (luaio_timer_owner(tm)->kind == NODE_TASK) luaio_wake(rt, luaio_container(tm, luaio_task, timer));
  else luaio_ready_push(rt, &luaio_container(tm, luaio_handle, timer)->node);
}

void luaio_timers_fire(luaio_runtime *rt) {
  uint64_t now = luaio_loop_now(rt);
  while (rt->heap_count && rt->heap[0]->when <= now) {
    luaio_timer *t = rt->heap[0];
    luaio_timer_remove(rt, t);
    timer_fire(rt, t);
  }
}

int64_t luaio_timers_next_ms(luaio_runtime *rt) {
  if (!rt->heap_count || rt->clock_virtual) return -1;
  uint64_t now = luaio_now(), when = rt->heap[0]->when;
  return when > now ? (int64_t)((when - now + 999999) / 1000000) : 0;
}

/* ---- the clock ---- */
/* Every armed deadline keeps the time it had left (one already due stays due): moving
 * them all by one amount keeps the heap ordered, except that the due ones collapse onto
 * `now` — so the heap is rebuilt. */
static void rebase(luaio_runtime *rt, uint64_t old_now, uint64_t new_now) {
  for (unsigned i = 0; i < rt->heap_count; i++) {
    luaio_timer *t = rt->heap[i];
    t->when = t->when > old_now ? new_now + (t->when - old_now) : new_now;
  }
  for (unsigned i = rt->heap_count / 2; i-- > 0;) heap_down(rt, i);
}

int luaio_clock_set(luaio_runtime *rt, int mode, uint64_t autojump_ns) {
  if (mode < LUAIO_CLOCK_REAL || mode > LUAIO_CLOCK_MANUAL) return -1;
  uint64_t old_now = luaio_loop_now(rt);
  int was_real = !rt->clock_virtual;
  rt->clock_virtual = mode;
  rt->autojump_ns = autojump_ns;
  if (mode == LUAIO_CLOCK_REAL) rebase(rt, old_now, luaio_now());
  else if (was_real) { rt->vnow = 0; rebase(rt, old_now, 0); }
  return 0;
}

int luaio_clock_jump(luaio_runtime *rt) {
  if (rt->clock_virtual != LUAIO_CLOCK_VIRTUAL || !rt->heap_count) return 0;
  if (rt->heap[0]->when > rt->vnow) rt->vnow = rt->heap[0]->when;
  return 1;
}

void luaio_clock_advance(luaio_runtime *rt, uint64_t ns) {
  if (rt->clock_virtual) rt->vnow = ns < UINT64_MAX - rt->vnow ? rt->vnow + ns : UINT64_MAX;
}

/* ---- sleep and time ---- */
uint64_t luaio_deadline_after(luaio_runtime *rt, double secs) {
  uint64_t now = luaio_loop_now(rt);
  double ns = secs * 1e9;
  if (!(ns < 1e18)) return now + (uint64_t)1e18; /* "forever", without overflow */
  return now + (uint64_t)(ns > 0 ? ns : 0);
}

double luaio_check_seconds(lua_State *L, int idx) {
  double s = luaio_checknumber(L, idx);
  if (s != s) luaio_argerror(L, idx, "number expected, got NaN");
  return s;
}

static void sleep_describe(lua_State *L, luaio_task *t, int obj) {
  (void)obj;
  uint64_t now = luaio_loop_now(t->fut.rt);
  double left = t->timer.idx >= 0 && t->timer.when > now ? (double)(t->timer.when - now) / 1e9 : 0;
  char buf[64];
  snprintf(buf, sizeof buf, "%.3f", left);
  lua_pushfstring(L, "a sleep, %s s left", buf);
}

static const luaio_wait_kind sleep_wait = {"a sleep", NULL, sleep_describe, 0};

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  luaio_raise_if_cancelled(L, luaio_rt(L)->current);
  return lua_gettop(L) - 1;
}

static int l_sleep(lua_State *L) {
  double secs = luaio_check_seconds(L, 1);
  luaio_task *t = luaio_check_suspend(L, "sleep");
  if (secs <= 0) return luaio_requeue(L, t, sleep_k);
  luaio_timer_add(L, t->fut.rt, &t->timer, luaio_deadline_after(t->fut.rt, secs));
  return luaio_park(L, t, &sleep_wait, 1, sleep_k);
}

static int l_time(lua_State *L) {
  lua_pushnumber(L, (double)luaio_loop_now(luaio_rt(L)) / 1e9);
  return 1;
}

/* aio._clock([mode [, autojump_seconds]]) -> mode, autojump: switches the clock when a
 * mode ("real", "virtual", "manual") is given; the Lua layer checks the arguments. */
static const char *const clock_modes[] = {"real", "virtual", "manual", NULL};

static int l_clock(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  int was = rt->clock_virtual;
  double jump = (double)rt->autojump_ns / 1e9;
  if (!lua_isnoneornil(L, 1)) {
    int mode = luaL_checkoption(L, 1, NULL, clock_modes);
    double aj = luaL_optnumber(L, 2, 0);
    luaio_clock_set(rt, mode, aj > 0 && aj < 1e9 ? (uint64_t)(aj * 1e9) : 0);
  }
  lua_pushstring(L, clock_modes[was]);
  lua_pushnumber(L, jump);
  return 2;
}

/* aio._advance(seconds): moves a virtual or manual clock forward. */
static int l_advance(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  double s = luaio_check_seconds(L, 1);
  luaio_clock_advance(rt, s > 0 ? (s < 1e9 ? (uint64_t)(s * 1e9) : (uint64_t)1e18) : 0);
  return 0;
}

void luaio_timer_open(lua_State *L, luaio_runtime *rt) {
  luaio_wait_kind_register(rt, &sleep_wait);
  static const luaL_Reg funcs[] = {{"sleep", l_sleep}, {"time", l_time}, {"_clock", l_clock},
                                   {"_advance", l_advance}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
}
