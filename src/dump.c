/* dump.c — aio.dump_tasks([file]): every live task as a tree (who started whom), each
 * with its name, state, what it waits on and its whole suspended Lua stack. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dump.h"
#include "task.h"
#include "debug.h"

/* The dump is built as a list of strings in a Lua table (index `out`) and written with
 * one file:write call, so it reaches the file in one piece (the REPL prints it above
 * the prompt in one go, a SIGUSR1 dump is not interleaved with the script's output). */
typedef struct dump {
  lua_State *L;
  luaio_runtime *rt;
  int out, n;          /* the list of pieces, its length */
  int mod;             /* the module table, to name C functions "aio.<name>" */
  luaio_task **byid;   /* live tasks sorted by id */
  luaio_task **bypar;  /* the same sorted by (parent_id, id): children are contiguous */
  int ntasks;
} dump;

static void put(dump *d) { lua_rawseti(d->L, d->out, ++d->n); } /* pops a string */

static void putf(dump *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lua_pushvfstring(d->L, fmt, ap);
  va_end(ap);
  put(d);
}

static void indent(dump *d, int n) {
  char sp[64];
  if (n > 60) n = 60;
  memset(sp, ' ', (size_t)n);
  lua_pushlstring(d->L, sp, (size_t)n);
  put(d);
}

static int by_id(const void *a, const void *b) {
  int x = (*(luaio_task *const *)a)->id, y = (*(luaio_task *const *)b)->id;
  return (x > y) - (x < y);
}

static int by_parent(const void *a, const void *b) {
  const luaio_task *x = *(luaio_task *const *)a, *y = *(luaio_task *const *)b;
  if (x->parent_id != y->parent_id) return (x->parent_id > y->parent_id) - (x->parent_id < y->parent_id);
  return (x->id > y->id) - (x->id < y->id);
}

static int alive(dump *d, int id) {
  int lo = 0, hi = d->ntasks - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (d->byid[mid]->id == id) return 1;
    if (d->byid[mid]->id < id) lo = mid + 1; else hi = mid - 1;
  }
  return 0;
}

/* " (<tostring of the value on top>)" when it has a __tostring, else ""; pops it. */
static void push_detail(lua_State *L) {
  int top = lua_gettop(L);
  if (luaL_getmetafield(L, top, "__tostring") == LUA_TNIL) {
    lua_settop(L, top - 1);
    lua_pushliteral(L, "");
    return;
  }
  lua_pop(L, 1);
  lua_getglobal(L, "tostring");
  lua_pushvalue(L, top);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_isstring(L, -1)) {
    lua_settop(L, top - 1);
    lua_pushliteral(L, "");
    return;
  }
  lua_pushfstring(L, " (%s)", lua_tostring(L, -1));
  lua_replace(L, top);
  lua_settop(L, top);
}

/* Pushes what a waiting task waits on: its wait kind describes it, or names it and
 * adds the object's tostring. */
static void push_wait(dump *d, luaio_task *t) {
  lua_State *L = d->L;
  const luaio_wait_kind *k = luaio_task_wait_kind(t);
  luaio_task_push_waited(L, t);
  int obj = lua_gettop(L);
  if (k && k->describe) {
    k->describe(L, t, obj);
  } else {
    lua_pushvalue(L, obj);
    push_detail(L);
    lua_pushfstring(L, "%s%s", k ? k->name : "something", lua_tostring(L, -1));
    lua_remove(L, -2);
  }
  lua_remove(L, obj);
}

/* Pushes "aio.<name>" when the function on top is a field of the module, else nil;
 * pops the function. */
static void push_c_name(dump *d) {
  lua_State *L = d->L;
  int fn = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, d->mod)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
      lua_pushfstring(L, "aio.%s", lua_tostring(L, -2));
      lua_replace(L, fn);
      lua_settop(L, fn);
      return;
    }
    lua_pop(L, 1);
  }
  lua_pushnil(L);
  lua_replace(L, fn);
}

/* One line per frame of the suspended (or running) coroutine, innermost first. The
 * bottom C frame (the runtime's task body) is left out. */
static void put_stack(dump *d, luaio_task *t, int ind) {
  lua_State *L = d->L, *co = t->co;
  lua_Debug ar;
  int nlevels = 0;
  while (lua_getstack(co, nlevels, &ar)) nlevels++;
  for (int level = 0; level < nlevels; level++) {
    if (!lua_getstack(co, level, &ar) || !lua_checkstack(co, 1)) break;
    lua_getinfo(co, "Slnf", &ar);
    lua_xmove(co, L, 1);
    int is_c = *ar.what == 'C';
    if (is_c && level == nlevels - 1) { lua_pop(L, 1); break; }
    indent(d, ind);
    if (ar.currentline > 0) putf(d, "%s:%d: in ", ar.short_src, ar.currentline);
    else putf(d, "%s: in ", ar.short_src);
    if (is_c) {
      push_c_name(d);
      if (!lua_isnil(L, -1)) {
        lua_pushfstring(L, "function '%s'", lua_tostring(L, -1));
        lua_remove(L, -2);
        put(d);
      } else {
        lua_pop(L, 1);
        if (*ar.namewhat) putf(d, "%s '%s'", ar.namewhat, ar.name);
        else putf(d, "?");
      }
    } else {
      lua_pop(L, 1);
      if (*ar.what == 'm') putf(d, "main chunk");
      else if (*ar.namewhat) putf(d, "%s '%s'", ar.namewhat, ar.name);
      else putf(d, "function <%s:%d>", ar.short_src, ar.linedefined);
    }
    putf(d, "\n");
  }
}

static const char *const state_names[] = {"not started", "ready", "running", "waiting", "done"};

static void put_task(dump *d, luaio_task *t, int depth) {
  lua_State *L = d->L;
  luaL_checkstack(L, 10, "dump_tasks");
  int ind = depth * 2;
  indent(d, ind);
  luaio_push_task_name(L, t);
  putf(d, "Task-%d \"%s\" %s", t->id, lua_tostring(L, -1), state_names[t->state]);
  lua_pop(L, 1);
  if (t->state == T_WAITING) {
    push_wait(d, t);
    lua_pushfstring(L, " on %s", lua_tostring(L, -1));
    lua_remove(L, -2);
    put(d);
  }
  if (depth == 0 && t->parent_id && !alive(d, t->parent_id))
    putf(d, " (started by Task-%d, which has finished)", t->parent_id);
  putf(d, "\n");
  /* debug mode: where it was created; call graphs: who awaits it (directly or through a
   * gather) */
  luaio_debug_push_created(L, t);
  if (lua_isstring(L, -1)) {
    indent(d, ind + 4);
    putf(d, "created at %s\n", lua_tostring(L, -1));
  }
  lua_pop(L, 1);
  luaio_task *a;
  for (int i = 0; (a = luaio_task_awaiter(L, t, i)) != NULL; i++) {
    indent(d, ind + 4);
    luaio_push_task_name(L, a);
    putf(d, "awaited by Task-%d \"%s\"\n", a->id, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  if (t->co && t->state == T_NEW) {
    /* not started: its stack holds the task body, the function and its arguments */
    if (lua_gettop(t->co) >= 2 && lua_checkstack(t->co, 1)) {
      lua_Debug ar;
      lua_pushvalue(t->co, 2);
      lua_getinfo(t->co, ">S", &ar);
      indent(d, ind + 4);
      putf(d, "will run function <%s:%d>\n", ar.short_src, ar.linedefined);
    }
  } else if (t->co) {
    put_stack(d, t, ind + 4);
  }
  /* children: a contiguous run of bypar */
  int lo = 0, hi = d->ntasks;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (d->bypar[mid]->parent_id < t->id) lo = mid + 1; else hi = mid;
  }
  for (int i = lo; i < d->ntasks && d->bypar[i]->parent_id == t->id; i++)
    put_task(d, d->bypar[i], depth + 1);
}

/* Pushes the whole dump as one string. */
static void push_dump(lua_State *L, luaio_runtime *rt) {
  dump d;
  memset(&d, 0, sizeof d);
  d.L = L;
  d.rt = rt;
  lua_newtable(L);
  d.out = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "luaio");
  lua_remove(L, -2);
  if (!lua_istable(L, -1)) { lua_pop(L, 1); lua_newtable(L); }
  d.mod = lua_gettop(L);
  /* the live tasks, from the runtime's anchors */
  lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
  int anchors = lua_gettop(L);
  int n = 0;
  lua_pushnil(L);
  while (lua_next(L, anchors)) {
    if (luaL_testudata(L, -1, LUAIO_TASK)) n++;
    lua_pop(L, 1);
  }
  /* arrays in a userdata: collected even if a write below raises */
  luaio_task **arr = lua_newuserdatauv(L, sizeof *arr * (size_t)(2 * n + 1), 0);
  d.byid = arr;
  d.bypar = arr + n;
  /* the dump calls Lua code (get_name, __tostring) that may run the loop and finish tasks:
   * each listed task stays anchored here until the dump is done, so no pointer dangles */
  lua_createtable(L, n, 0);
  int keep = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, anchors)) {
    luaio_task *t = luaL_testudata(L, -1, LUAIO_TASK);
    if (t && d.ntasks < n) {
      d.byid[d.ntasks++] = t;
      lua_pushvalue(L, -1);
      lua_rawseti(L, keep, d.ntasks);
    }
    lua_pop(L, 1);
  }
  qsort(d.byid, (size_t)d.ntasks, sizeof *d.byid, by_id);
  memcpy(d.bypar, d.byid, sizeof *d.byid * (size_t)d.ntasks);
  qsort(d.bypar, (size_t)d.ntasks, sizeof *d.bypar, by_parent);
  putf(&d, "luaio: %d live task%s\n", d.ntasks, d.ntasks == 1 ? "" : "s");
  for (int i = 0; i < d.ntasks; i++) {
    luaio_task *t = d.byid[i];
    if (!t->parent_id || !alive(&d, t->parent_id)) put_task(&d, t, 0);
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= d.n; i++) {
    lua_rawgeti(L, d.out, i);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  lua_replace(L, d.out);
  lua_settop(L, d.out);
}

/* aio.dump_tasks([file]): file is anything with a :write method (default io.stderr). */
static int l_dump_tasks(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  lua_settop(L, 1);
  if (lua_isnil(L, 1)) {
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "io") == LUA_TTABLE) lua_getfield(L, -1, "stderr");
    else lua_pushnil(L);
    lua_replace(L, 1);
    lua_settop(L, 1);
  } else if ((lua_type(L, 1) != LUA_TTABLE && lua_type(L, 1) != LUA_TUSERDATA) ||
             lua_getfield(L, 1, "write") == LUA_TNIL) {
    return luaio_argerror(L, 1, "expected a file or an object with a write method");
  } else {
    lua_pop(L, 1);
  }
  push_dump(L, rt);
  if (lua_isnil(L, 1)) { /* no io library: straight to stderr */
    fputs(lua_tostring(L, -1), stderr);
    fflush(stderr);
    return 0;
  }
  lua_getfield(L, 1, "write");
  lua_pushvalue(L, 1);
  lua_pushvalue(L, -3);
  lua_call(L, 2, 0);
  if (luaL_testudata(L, 1, LUA_FILEHANDLE)) { /* files: flush so it shows at once */
    lua_getfield(L, 1, "flush");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 0);
  }
  return 0;
}

void luaio_dump_open(lua_State *L, luaio_runtime *rt) {
  static const luaL_Reg funcs[] = {{"dump_tasks", l_dump_tasks}, {NULL, NULL}};
  luaio_register(L, funcs, rt);
}
