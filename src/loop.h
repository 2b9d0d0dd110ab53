/* loop.h — the ready queue (an array ring, FIFO) and the loop that drives tasks, handles
 * and timers over libuv: to a task's end, to idle, one step, or inside a host's uv_run. */
#ifndef LUAIO_LOOP_H
#define LUAIO_LOOP_H

#include "runtime.h"
#include "list.h"

struct luaio_task;
struct luaio_future;

/* Queues a task or handle. Never allocates: room was reserved when it was created (each
 * is queued at most once at a time). Inline: every wake-up and sleep(0) comes here. */
static inline void luaio_ready_push(luaio_runtime *rt, luaio_node *n) {
  rt->ring[(rt->ring_head + rt->ring_count++) & (rt->ring_cap - 1)] = n;
}
/* Reserves room in the ring for one more task or handle (raises Lua's memory error);
 * luaio_unreserve when it is gone for good. */
void luaio_reserve(lua_State *L, luaio_runtime *rt);
void luaio_unreserve(luaio_runtime *rt);
void luaio_loop_free(luaio_runtime *rt);

/* Drives the loop until `until` is done (NULL: until no task is alive). Returns 1 if it
 * stopped because nothing could make progress any more (a deadlock). */
int luaio_run_loop(luaio_runtime *rt, lua_State *L, struct luaio_task *until);

/* The host's ways to drive it (luaio.h), each in a protected call on the main state;
 * -1 when the loop is running already or the runtime is closed. */
enum { LUAIO_DRIVE_STEP, LUAIO_DRIVE_IDLE, LUAIO_DRIVE_ATTACHED, LUAIO_DRIVE_UNTIL };
int luaio_drive(luaio_runtime *rt, int mode, double budget, struct luaio_future *until);
/* Milliseconds the host may block in its poll: 0 when work is ready, -1 for no limit. */
int luaio_poll_timeout(luaio_runtime *rt);

#endif
