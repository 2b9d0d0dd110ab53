/* repl.h — the luaio binary's interactive REPL. */
#ifndef LUAIO_REPL_H
#define LUAIO_REPL_H

#include <lua.h>

/* Runs the REPL on L until end of input; returns the process exit status. */
int luaio_repl(lua_State *L);
/* Which line editor the REPL uses ("libedit" or "none"). */
const char *luaio_repl_editor(void);

#endif
