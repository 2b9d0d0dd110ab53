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

/* Spawns the function below `nargs` arguments on L's stack as a task (popping them)
 * and pushes the Task object. It starts on a later step. */
void luaio_spawn(lua_State *L, int nargs);

/* Runs the function below `nargs` arguments as the main task until it finishes, like
 * aio.run: then cancels and drains every task left. On success pushes the results
 * (LUA_MULTRET kept as is, else adjusted to nresults) and returns LUA_OK; on failure
 * pushes the error value and returns its status. If `traceback` is not NULL it receives
 * a new string (caller frees) with the failed task's traceback, or NULL. */
int luaio_run(lua_State *L, int nargs, int nresults, char **traceback);

/* One non-blocking step for hosts that own the frame loop: runs every task that is
 * ready (at most for `budget` seconds when budget > 0; leftovers run next step, in
 * order), polls I/O without blocking, fires due timers. Returns the number of live tasks;
 * *ready (if not NULL) says whether work is already waiting for the next step. */
int luaio_step(luaio_runtime *rt, double budget, int *ready);

/* Runs until no task is alive (or nothing can make progress). Returns LUA_OK. */
int luaio_run_until_idle(luaio_runtime *rt);

/* What a host with its own poller needs: the loop's backend fd and the time until luaio
 * next needs a step, in milliseconds (0: work is ready; -1: no timer pending). */
int luaio_backend_fd(luaio_runtime *rt);
int luaio_backend_timeout(luaio_runtime *rt);

/* Host events as awaitables: pushes a new pending Future on L and returns a reference
 * the host keeps (an integer, valid until resolved or released). */
int luaio_future_new(lua_State *L);
/* Resolves the future with the `nvalues` values on top of L's stack (popped). Returns 0,
 * or -1 if the future was already done (e.g. cancelled) — the values are popped anyway.
 * Either way the reference is released. */
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
/* Makes the task on top of L's stack (popped; nil: none) the interrupt target. */
void luaio_set_interrupt_target(lua_State *L);

/* Where unretrieved task errors and failed callbacks go when no Lua handler is set
 * (default: print to stderr). `message` and `traceback` may be NULL. */
typedef void (*luaio_error_fn)(void *ud, const char *message, const char *traceback);
void luaio_set_error_handler(luaio_runtime *rt, luaio_error_fn fn, void *ud);

/* Cancels and drains every task, closes every handle luaio opened, and frees the
 * runtime (the host's loop, if it gave one, is left reusable). lua_close(L) also does
 * this; afterwards luaio_get(L) returns NULL. */
void luaio_close(luaio_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
