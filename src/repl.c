/* repl.c — the interactive REPL: each input runs as a task; expressions print their
 * values; incomplete statements continue on a ">> " prompt. */
#include <stdio.h>
#include <string.h>
#include <lauxlib.h>
#include "luaio.h"
#include "repl.h"

const char *luaio_repl_editor(void) { return "none"; }

/* Incomplete input is a syntax error that ends at <eof>, as lua.c detects it. */
static int incomplete(lua_State *L, int status) {
  if (status != LUA_ERRSYNTAX) return 0;
  size_t lmsg;
  const char *msg = lua_tolstring(L, -1, &lmsg);
  return lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0;
}

static void print_results(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return;
  lua_getglobal(L, "print");
  lua_insert(L, 1);
  if (lua_pcall(L, n, 0, 0) != LUA_OK) fprintf(stderr, "%s\n", lua_tostring(L, -1));
}

int luaio_repl(lua_State *L) {
  char line[4096];
  lua_settop(L, 0);
  lua_pushliteral(L, "");
  for (;;) {
    fputs(lua_rawlen(L, -1) ? ">> " : "> ", stdout);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) break;
    lua_pushstring(L, line);
    lua_concat(L, 2);
    const char *code = lua_tostring(L, -1);
    const char *src = code[0] == '=' ? code + 1 : code;
    lua_pushfstring(L, "return %s", src);
    int status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
    lua_remove(L, -2);
    if (status != LUA_OK) {
      lua_pop(L, 1);
      status = luaL_loadbuffer(L, code, strlen(code), "=stdin");
    }
    if (incomplete(L, status)) { lua_pop(L, 1); continue; }
    lua_remove(L, -2); /* the accumulated text */
    if (status != LUA_OK) {
      fprintf(stderr, "%s\n", lua_tostring(L, -1));
      lua_pop(L, 1);
    } else {
      if (luaio_main_run(L, 0, LUA_MULTRET) == 0) print_results(L);
      lua_settop(L, 0);
    }
    lua_pushliteral(L, "");
  }
  fputc('\n', stdout);
  return 0;
}
