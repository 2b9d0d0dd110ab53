/* timer.h — deadlines in the runtime's heap, ordered by (when, arming order) so equal
 * deadlines fire FIFO; aio.sleep and aio.time. A timer sits right after its owner's
 * luaio_node (a task's or a handle's), whose kind says which it is. */
#ifndef LUAIO_TIMER_H
#define LUAIO_TIMER_H

#include "runtime.h"
#include "list.h"

typedef struct luaio_timer {
  uint64_t when; /* deadline, uv_hrtime() nanoseconds */
  uint32_t seq;  /* arming order among equal deadlines (compared modulo 2^32) */
  int idx;       /* position in the heap, -1 when not armed */
} luaio_timer;
#define luaio_timer_owner(tm) ((luaio_node *)((char *)(tm) - sizeof(luaio_node)))

/* Arms t (re-arms it if armed). Timers are armed only from Lua calls (sleep, call_later):
 * the heap grows here, raising Lua's memory error if it cannot. */
void luaio_timer_add(lua_State *L, luaio_runtime *rt, luaio_timer *t, uint64_t when);
/* Room for one more armed timer, made before an object that will arm one is created. */
void luaio_timers_make_room(lua_State *L, luaio_runtime *rt);
void luaio_timer_remove(luaio_runtime *rt, luaio_timer *t); /* no-op when not armed */
/* Fires every timer due now: its task wakes, its handle is queued. The loop calls it every
 * round: with no timer armed it costs a compare. */
void luaio_timers_fire(luaio_runtime *rt);
static inline void luaio_timers_fire_due(luaio_runtime *rt) {
  if (rt->heap_count) luaio_timers_fire(rt);
}
/* Milliseconds until the next deadline (rounded up), or -1 with none armed. */
int64_t luaio_timers_next_ms(luaio_runtime *rt);
void luaio_timers_free(luaio_runtime *rt);
/* The deadline `secs` from now, and a seconds argument (NaN refused), for call_later. */
uint64_t luaio_deadline_after(double secs);
double luaio_check_seconds(lua_State *L, int idx);
void luaio_timer_open(lua_State *L, luaio_runtime *rt); /* sleep, time */

#endif
