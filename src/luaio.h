/* luaio.h — the embedding API: the only header a host includes.
 *
 * A host opens luaio into its own lua_State, on its own uv_loop_t or one luaio owns,
 * spawns Lua functions as tasks, drives the loop (to completion or one step per frame),
 * hands scripts futures it resolves later, and shuts everything down cleanly. */
#ifndef LUAIO_H
#define LUAIO_H

#include <lua.h>
#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LUAIO_VERSION "0.1.0"

typedef struct luaio_runtime luaio_runtime;

/* The Lua module entry: `require "luaio"`. Creates the runtime of L on first use
 * (owning its loop) and returns the module table. */
int luaopen_luaio(lua_State *L);

/* Creates the runtime of L on `loop` (NULL: luaio creates and owns a loop), registers the
 * module in package.loaded["luaio"] and returns the runtime. A runtime already opened
 * on L is returned as is. Returns NULL (with a message on L's stack) on failure. */
luaio_runtime *luaio_open(lua_State *L, uv_loop_t *loop);

/* The runtime of L (any thread of it), or NULL if luaio was never opened there. */
luaio_runtime *luaio_get(lua_State *L);

uv_loop_t *luaio_loop(luaio_runtime *rt);
lua_State *luaio_state(luaio_runtime *rt);
/* The state a host's own libuv callback on luaio's loop uses for Lua calls: the one that
 * drives the loop now (it may be a coroutine that called aio.run), else the main state. */
lua_State *luaio_callback_state(luaio_runtime *rt);

/* Spawns the function below `nargs` arguments on L's stack as a task (popping them)
 * and pushes the Task object. It starts on a later step, never inside this call. Keep the
 * Task on the stack or anchor it (luaL_ref) to look at it later with the calls below.
 * Raises a Lua error if luaio is not open in L. */
void luaio_spawn(lua_State *L, int nargs);

/* ---- Tasks and Futures seen from C (idx: a Task or a Future on L's stack) ---- */
enum { LUAIO_PENDING = 0, LUAIO_OK = 1, LUAIO_FAILED = 2, LUAIO_CANCELLED = 3 };
/* LUAIO_PENDING while it runs, else how it ended; -1 if idx holds no Task or Future. */
int luaio_task_status(lua_State *L, int idx);
/* Pushes its outcome and returns its status: LUAIO_OK pushes the results (*nresults of
 * them); LUAIO_FAILED pushes the error value (which counts as retrieved: it is not
 * reported as lost) and LUAIO_CANCELLED the CancelledError object (*nresults = 1);
 * LUAIO_PENDING and -1 push nothing (*nresults = 0). nresults may be NULL. */
int luaio_task_result(lua_State *L, int idx, int *nresults);
/* Drives the loop (blocking as needed) until it is done, and returns its status —
 * LUAIO_PENDING if nothing can complete it any more (deadlock). Returns -1 if idx holds
 * no Task/Future, luaio is not open in L, or the loop is already running (from a task or
 * a callback: there, await it instead). Other tasks run meanwhile. Its error counts as
 * the host's to retrieve (it is not reported as lost). */
int luaio_task_wait(lua_State *L, int idx);
/* Requests cancellation (as task:cancel() / fut:cancel()); returns 1 if accepted. */
int luaio_cancel(lua_State *L, int idx);

/* Runs the function below `nargs` arguments as the main task until it finishes, like
 * aio.run: then cancels and drains every task left. On success pushes the results
 * (LUA_MULTRET kept as is, else adjusted to nresults) and returns LUA_OK; on failure
 * pushes the error value and returns its status. If `traceback` is not NULL it receives
 * a new string (caller frees) with the failed task's traceback, or NULL. */
int luaio_run(lua_State *L, int nargs, int nresults, char **traceback);

/* ---- Driving the loop from the host ----
 * These must not be called while the loop runs: from a task or a luaio callback they
 * return -1 (and after luaio_close); from a libuv callback of an attached loop they
 * must not be called at all (uv_run is not re-entrant, and luaio cannot tell).
 * Task errors and failed callbacks that nobody retrieved by the end of a step (or run)
 * go to the error handler then. */

/* One non-blocking step for hosts that own the frame loop: runs every task that is
 * ready now once (what those runs make ready waits for the next step), at most for
 * `budget` seconds when budget > 0 (the task running when the budget runs out finishes
 * its slice; leftovers run first next step, in order), then polls I/O without blocking
 * and fires due timers. Returns the number of live tasks (0: nothing left to do);
 * *ready (if not NULL) says whether work is already waiting for the next step. */
int luaio_step(luaio_runtime *rt, double budget, int *ready);

/* Runs until no task is alive (or nothing can make progress any more: tasks waiting on
 * host futures are left waiting). Returns LUA_OK, or -1 (see above). */
int luaio_run_until_idle(luaio_runtime *rt);

/* What a host with its own poller (SDL, GLFW, Qt, select/epoll) needs to sleep correctly:
 * the loop's backend fd (readable when libuv has I/O to process; -1 where the platform has
 * none) and the time until luaio next needs a step, in milliseconds (0: work is ready;
 * -1: nothing to wait for — no timer and no libuv activity). Sleep on the fd for at most
 * the timeout, then call luaio_step. */
int luaio_backend_fd(luaio_runtime *rt);
int luaio_backend_timeout(luaio_runtime *rt);

/* The loop clock (aio.time, sleeps, call_later). LUAIO_CLOCK_REAL: monotonic real time.
 * LUAIO_CLOCK_VIRTUAL: starts at 0 and, whenever no task is ready, no thread-pool request
 * a task waits on is in flight (file calls, to_thread, name lookups) and I/O has nothing to
 * give at once (or within `autojump` seconds of real time), jumps to the next deadline —
 * in luaio_run, luaio_run_until_idle, each luaio_step and when attached — so timeouts in
 * tests take no real time. LUAIO_CLOCK_MANUAL: starts at 0 and moves only by
 * luaio_advance_clock (a game's own time, a fixed-step simulation). Deadlines already
 * armed keep the time they had left. Returns 0, or -1 for a bad clock or a closed
 * runtime. */
enum { LUAIO_CLOCK_REAL = 0, LUAIO_CLOCK_VIRTUAL = 1, LUAIO_CLOCK_MANUAL = 2 };
int luaio_set_clock(luaio_runtime *rt, int clock, double autojump);
/* Moves a virtual or manual clock `seconds` forward (no-op on the real clock); what that
 * makes due fires in the next step. */
void luaio_advance_clock(luaio_runtime *rt, double seconds);

/* For a host that runs libuv itself (uv_run on the loop it gave luaio_open): luaio runs
 * inside the host's uv_run, right before each poll (a prepare handle). Ready tasks keep
 * the poll from blocking and luaio's timers keep uv_run alive; a task waiting only on a
 * host future does not. Returns 0, or -1 if the runtime is closed. Calling it again
 * re-arms it (luaio_spawn, luaio_cancel and the luaio_future_* calls do that themselves).
 * Never call luaio_step / luaio_run_until_idle / luaio_close from inside the host's
 * uv_run of the same loop: libuv's uv_run is not re-entrant. */
int luaio_attach(luaio_runtime *rt);
void luaio_detach(luaio_runtime *rt);

/* Host events as awaitables: pushes a new pending Future on L and returns a reference
 * the host keeps (an integer, valid until resolved, failed or released). A script
 * awaits it with aio.await(fut) / fut:await(). */
int luaio_future_new(lua_State *L);
/* Resolves the future with the `nvalues` values on top of L's stack (popped). Returns 0,
 * or -1 if the future was already done (e.g. cancelled, as happens when the task that
 * awaited it is cancelled) or the runtime is closed — the values are popped anyway.
 * Either way the reference is released. Waiting tasks resume on the next step. */
int luaio_future_resolve(lua_State *L, int ref, int nvalues);
/* Fails it with the value on top of L's stack (popped); same return and release. */
int luaio_future_fail(lua_State *L, int ref);
/* Releases a reference without resolving the future. */
void luaio_future_release(lua_State *L, int ref);

/* Async-signal-safe (call it from a SIGINT handler): cancels the interrupt target —
 * the task set by luaio_set_interrupt_target, else the main task of luaio_run /
 * aio.run — at its next suspension point, or at once through a debug hook if it is
 * running Lua code that never suspends. */
void luaio_interrupt(luaio_runtime *rt);
/* Async-signal-safe (the luaio binary calls it on SIGUSR1): prints aio.dump_tasks() to
 * stderr from the loop's next turn, or at once through a debug hook from inside a task
 * busy in Lua code that never suspends. */
void luaio_request_dump(luaio_runtime *rt);
/* Makes the task on top of L's stack (popped; nil: none) the interrupt target. */
void luaio_set_interrupt_target(lua_State *L);
/* Reports now, to the error handler, every failed task and future whose error nobody
 * retrieved (the REPL calls it each loop iteration at the prompt). Cheap when there is
 * none. Like the driving calls, not from inside a task. */
void luaio_report_errors(luaio_runtime *rt);

/* Where unretrieved task errors and failed callbacks go when no Lua handler is set with
 * aio.set_exception_handler (that one takes precedence). Default (fn NULL): print to
 * stderr. `message` ("Task exception was never retrieved (task 'Task-3'): <error>", ...)
 * is never NULL; `traceback` may be. Both are valid only during the call. The handler
 * runs inside the loop: it must not call back into luaio's driving functions. */
typedef void (*luaio_error_fn)(void *ud, const char *message, const char *traceback);
void luaio_set_error_handler(luaio_runtime *rt, luaio_error_fn fn, void *ud);

/* Cancels every task and runs the loop until they have finished (a task that waits on
 * something nothing can complete any more is abandoned), reports unretrieved errors,
 * closes every handle luaio opened and frees the runtime's resources. A loop luaio owns
 * is closed; the host's loop, if it gave one, is left reusable (its own handles untouched;
 * luaio runs it without blocking until luaio's handles have finished closing, so call this
 * outside uv_run). Afterwards luaio_get(L) returns NULL, the driving calls return -1,
 * luaio_future_resolve/fail return -1, and luaio_open(L, ...) may open a fresh runtime.
 * Lua objects of the old runtime that are still referenced must not be used any more
 * (only collected). lua_close(L) without luaio_close also frees everything, but runs the
 * borrowed loop from inside lua_close: prefer luaio_close first. */
void luaio_close(luaio_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
