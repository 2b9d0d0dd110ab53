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
  uint64_t now = luaio_now();
  while (rt->heap_count && rt->heap[0]->when <= now) {
    luaio_timer *t = rt->heap[0];
    luaio_timer_remove(rt, t);
    timer_fire(rt, t);
  }
}

int64_t luaio_timers_next_ms(luaio_runtime *rt) {
  if (!rt->heap_count) return -1;
  uint64_t now = luaio_now(), when = rt->heap[0]->when;
  return when > now ? (int64_t)((when - now + 999999) / 1000000) : 0;
}

/* ---- sleep and time ---- */
uint64_t luaio_deadline_after(double secs) {
  uint64_t now = luaio_now();
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
  uint64_t now = luaio_now();
  double left = t->timer.idx >= 0 && t->timer.when > now ? (double)(t->timer.when - now) / 1e9 : 0;
  char buf[64];
  snprintf(buf, sizeof buf, "%.3f", left);
  lua_pushfstring(L, "a sleep, %s s left", buf);
}

static const luaio_wait_kind sleep_wait = {"a sleep", NULL, sleep_describe};

static int sleep_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  luaio_raise_if_cancelled(L, luaio_rt(L)->current);
  return lua_gettop(L) - 1;
}

static int l_sleep(lua_State *L) {
  double secs = luaio_check_seconds(L, 1);
  luaio_task *t = luaio_check_suspend(L, "sleep");
  if (secs <= 0) return luaio_requeue(L, t, sleep_k);
  luaio_timer_add(L, t->fut.rt, &t->timer, luaio_deadline_after(secs));
  return luaio_park(L, t, &sleep_wait, 1, sleep_k);
}

static int l_time(lua_State *L) {
  lua_pushnumber(L, (double)luaio_now() / 1e9);
  return 1;
}

void luaio_timer_open(lua_State *L, luaio_runtime *rt) {
  luaio_wait_kind_register(rt, &sleep_wait);
  static const luaL_Reg funcs[] = {{"sleep", l_sleep}, {"time", l_time}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
}
