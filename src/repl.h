/* repl.h — the luaio binary's interactive REPL and its command-line plumbing. */
#ifndef LUAIO_REPL_H
#define LUAIO_REPL_H

#include <signal.h>
#include <lua.h>

/* Runs the REPL on L until end of input; returns the process exit status. */
int luaio_repl(lua_State *L);
/* Which line editor the REPL uses ("libedit" or "none"). */
const char *luaio_repl_editor(void);

/* main.c: runs the function below nargs arguments as the main task, printing a failure;
 * returns 0, 1 (error) or 130 (interrupted). */
int luaio_main_run(lua_State *L, int nargs, int nresults);
/* Set by the SIGINT handler; cleared at each luaio_main_run. */
extern volatile sig_atomic_t luaio_main_interrupted;
/* SIGINT cancels the running chunk; SIGUSR1 prints aio.dump_tasks() to stderr
 * (luaio_request_dump); SIGPIPE is ignored. */
void luaio_main_install_signals(lua_State *L);

#endif
