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
/* The loop clock, nanoseconds: real (monotonic) time, or the virtual clock's (which only
 * jumps, see luaio_clock_jump, or is advanced by a host). */
static inline uint64_t luaio_loop_now(const luaio_runtime *rt) {
  return rt->clock_virtual ? rt->vnow : luaio_now();
}
/* Switches the clock (deadlines armed keep the time they had left); 0, or -1 for a bad
 * mode. A virtual or manual clock starts at 0. */
int luaio_clock_set(luaio_runtime *rt, int mode, uint64_t autojump_ns);
/* A virtual clock with nothing else to do: time jumps to the first deadline. Returns 1 if
 * it jumped (the due timers then fire as usual). */
int luaio_clock_jump(luaio_runtime *rt);
/* Moves a virtual or manual clock forward (due timers fire in the next round). */
void luaio_clock_advance(luaio_runtime *rt, uint64_t ns);
/* Milliseconds until the next deadline (rounded up), or -1 with none armed (or when the
 * clock is not real: real time does not bring its deadlines closer). */
int64_t luaio_timers_next_ms(luaio_runtime *rt);
void luaio_timers_free(luaio_runtime *rt);
/* The deadline `secs` from now, and a seconds argument (NaN refused), for call_later. */
uint64_t luaio_deadline_after(luaio_runtime *rt, double secs);
double luaio_check_seconds(lua_State *L, int idx);
void luaio_timer_open(lua_State *L, luaio_runtime *rt); /* sleep, time, virtual_clock */

#endif
