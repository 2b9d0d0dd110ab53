/* timer_heap.c — the runtime's timer heap (internal, through src/timer.h): equal deadlines
 * fire in arming order, also when the 32-bit arming counter wraps around. */
#include <stdint.h>
#include <lualib.h>
#include <lauxlib.h>
#include "timer.h"
#include "harness.h"

/* arms timers with the given deadlines, then pops the heap: returns 1 if they come out
 * in the order `expect` lists (indexes into tm) */
static int pops_in_order(lua_State *L, luaio_runtime *rt, luaio_timer *tm, const uint64_t *when, int n,
                         const int *expect) {
  for (int i = 0; i < n; i++) {
    tm[i].idx = -1;
    luaio_timer_add(L, rt, &tm[i], when[i]);
  }
  int ok = 1;
  for (int i = 0; i < n; i++) {
    if (rt->heap_count == 0 || rt->heap[0] != &tm[expect[i]]) ok = 0;
    if (rt->heap_count) luaio_timer_remove(rt, rt->heap[0]);
  }
  return ok && rt->heap_count == 0;
}

static void equal_deadlines_fifo_across_wrap(tap_state *T) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaio_runtime *rt = luaio_open(L, NULL);
  enum { N = 8 };
  luaio_timer tm[N];
  uint64_t same[N];
  int fifo[N];
  for (int i = 0; i < N; i++) { same[i] = 5000; fifo[i] = i; }
  rt->timer_seq = UINT32_MAX - 3; /* the counter wraps after the fourth timer */
  CHECK(T, pops_in_order(L, rt, tm, same, N, fifo));
  uint64_t mixed[N] = {30, 10, 30, 20, 10, 30, 20, 10};
  int by_time[N] = {1, 4, 7, 3, 6, 0, 2, 5};
  rt->timer_seq = UINT32_MAX - 1;
  CHECK(T, pops_in_order(L, rt, tm, mixed, N, by_time));
  luaio_close(rt);
  lua_close(L);
}

int main(void) {
  tap_state T = {0};
  RUN(&T, equal_deadlines_fifo_across_wrap);
  return tap_done(&T);
}
