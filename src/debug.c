/* debug.c — debug mode's switches (aio.Runner{debug = true}, LUAIO_DEBUG=1 in the
 * environment) and the creation sites that tasks, coroutine objects and resources record
 * while it is on; the reports built on them (slow steps and callbacks, coroutine objects
 * never awaited) and call graphs: who awaits whom (aio.call_graph, the "awaited by" part
 * of a failed task's traceback, the dumps). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "debug.h"
#include "task.h"
#include "handle.h"
#include "report.h"

#define SLOW_DEFAULT_NS 100000000u /* 0.1 s, as asyncio's slow_callback_duration */
#define SITE_MAX (LUA_IDSIZE + 24)
#define AWAITED_BY_MAX 64          /* awaiters listed in a failed task's traceback */

/* The first frame at `level` or above of L's stack that is the script's: neither a C
 * function nor the Lua layer's own ("[luaio.*]" chunks). 0 when there is none. */
static int user_frame(lua_State *L, int level, lua_Debug *ar) {
  for (; lua_getstack(L, level, ar); level++) {
    lua_getinfo(L, "Sl", ar);
    if (ar->currentline <= 0 || strncmp(ar->source, "=[luaio.", 8) == 0) continue;
    return 1;
  }
  return 0;
}

void luaio_debug_push_site(lua_State *L, int level) {
  lua_Debug ar;
  if (user_frame(L, level, &ar)) lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
  else lua_pushnil(L);
}

/* Where a task not running now stands, into ar: its function's definition before it has
 * started (currentline is then linedefined), else the frame it is suspended in. */
static int task_frame(luaio_task *t, lua_Debug *ar) {
  lua_State *co = t->co;
  if (!co) return 0;
  if (t->state == T_NEW) {
    if (lua_gettop(co) < 2 || !lua_checkstack(co, 1)) return 0;
    lua_pushvalue(co, 2);
    lua_getinfo(co, ">S", ar);
    ar->currentline = ar->linedefined > 0 ? ar->linedefined : 1; /* a main chunk: its first line */
    return *ar->what != 'C';
  }
  return user_frame(co, 0, ar);
}

/* A site kept through a step: copied, formatted only when the step was slow. */
typedef struct site {
  char src[LUA_IDSIZE];
  int line;
} site;

static void task_site(luaio_task *t, site *s) {
  lua_Debug ar;
  if (task_frame(t, &ar)) {
    memcpy(s->src, ar.short_src, sizeof s->src);
    s->line = ar.currentline;
  } else {
    s->src[0] = '\0';
  }
}

static void format_site(const site *s, char *buf) {
  if (s->src[0]) snprintf(buf, SITE_MAX, "%s:%d", s->src, s->line);
  else snprintf(buf, SITE_MAX, "?");
}

/* The extras table (uservalue 2) of the task at tidx, created when asked; pushes it or nil. */
static int push_extras(lua_State *L, int tidx, int create) {
  if (lua_getiuservalue(L, tidx, 2) == LUA_TTABLE || !create) return lua_istable(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, tidx, 2);
  return 1;
}

/* Pushes "Task-<id> "<name>"" for the task at tidx (finished or not). */
static void push_task_label(lua_State *L, int tidx) {
  luaio_task *t = lua_touserdata(L, tidx);
  lua_getfield(L, tidx, "get_name");
  lua_pushvalue(L, tidx);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushfstring(L, "Task-%d", t->id);
  }
  lua_pushfstring(L, "Task-%d \"%s\"", t->id, lua_tostring(L, -1));
  lua_remove(L, -2);
}

/* ---- slow steps and callbacks ---- */
static void report_slow(luaio_runtime *rt, lua_State *L, int obj, int is_task, uint64_t dt,
                        const char *from, const char *to) {
  char secs[32];
  snprintf(secs, sizeof secs, "%.3f", (double)dt / 1e9);
  lua_createtable(L, 0, 6);
  int ctx = lua_gettop(L);
  if (is_task) {
    push_task_label(L, obj);
    if (to) lua_pushfstring(L, "Executing %s took %s seconds (resumed at %s, suspended at %s)",
                            lua_tostring(L, -1), secs, from, to);
    else lua_pushfstring(L, "Executing %s took %s seconds (resumed at %s, ran to its end)",
                         lua_tostring(L, -1), secs, from);
    lua_setfield(L, ctx, "message");
    lua_pop(L, 1);
    lua_pushvalue(L, obj);
    lua_setfield(L, ctx, "task");
    lua_pushstring(L, from);
    lua_setfield(L, ctx, "resumed_at");
    if (to) { lua_pushstring(L, to); lua_setfield(L, ctx, "stopped_at"); }
  } else {
    lua_pushfstring(L, "Executing callback %s took %s seconds", from, secs);
    lua_setfield(L, ctx, "message");
    lua_pushvalue(L, obj);
    lua_setfield(L, ctx, "handle");
  }
  lua_pushnumber(L, (double)dt / 1e9);
  lua_setfield(L, ctx, "duration");
  luaio_report(rt, L, ctx);
}

void luaio_debug_dispatch(luaio_runtime *rt, lua_State *L, luaio_node *n) {
  char from[SITE_MAX], to[SITE_MAX];
  int top = lua_gettop(L);
  luaL_checkstack(L, 12, NULL);
  if (n->kind == NODE_TASK) {
    luaio_task *t = luaio_container(n, luaio_task, node);
    site at;
    luaio_push_task(L, t); /* kept alive through the step: a finished task loses its anchor */
    task_site(t, &at);
    uint64_t t0 = luaio_now();
    luaio_task_step(rt, L, t);
    uint64_t dt = luaio_now() - t0;
    if (dt >= rt->slow_ns && !rt->closing && lua_isuserdata(L, top + 1)) {
      format_site(&at, from);
      if (t->co) { task_site(t, &at); format_site(&at, to); }
      report_slow(rt, L, top + 1, 1, dt, from, t->co ? to : NULL);
    }
  } else {
    luaio_handle *h = luaio_container(n, luaio_handle, node);
    lua_rawgeti(L, LUA_REGISTRYINDEX, rt->anchors);
    lua_rawgeti(L, -1, h->ref);
    lua_remove(L, -2);
    uint64_t t0 = luaio_now();
    luaio_handle_run(rt, L, h);
    uint64_t dt = luaio_now() - t0;
    if (dt >= rt->slow_ns && !rt->closing && lua_isuserdata(L, top + 1)) {
      lua_Debug ar;
      lua_getiuservalue(L, top + 1, 1);
      lua_getinfo(L, ">S", &ar);
      if (*ar.what == 'C') snprintf(from, sizeof from, "function <[C]>");
      else snprintf(from, sizeof from, "function <%s:%d>", ar.short_src, ar.linedefined);
      report_slow(rt, L, top + 1, 0, dt, from, NULL);
    }
  }
  lua_settop(L, top);
}

/* ---- creation sites ---- */
void luaio_debug_record_created(lua_State *L, int tidx) {
  tidx = lua_absindex(L, tidx);
  luaL_checkstack(L, 3, NULL);
  push_extras(L, tidx, 1);
  luaio_debug_push_site(L, 0);
  lua_setfield(L, -2, "created_at");
  lua_pop(L, 1);
}

void luaio_debug_push_created(lua_State *L, luaio_task *t) {
  if (!luaio_push_task(L, t)) return;
  if (push_extras(L, lua_gettop(L), 0)) lua_getfield(L, -1, "created_at");
  else lua_pushnil(L);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* ---- call graphs ----
 * Who awaits a future: the tasks parked on it, the awaiter a watch names (a gather), and
 * what the Lua layer linked it to when it awaits on its behalf (shield's outer future,
 * a TaskGroup's owner, a job's waiters): the registry table under key_awaited_by,
 * light userdata of the future -> the future or task awaiting it (weak values; the link
 * is dropped when the future completes). */
static const char key_awaited_by = 0;
#define LINK_DEPTH_MAX 8

static luaio_task *future_awaiter(lua_State *L, luaio_future *f, int *i, int depth) {
  luaio_node *head = &f->waiters;
  if (head->next) {
    for (luaio_node *n = head->next; n != head; n = n->next) {
      luaio_task *a = NULL;
      if (n->kind == NODE_TASK) { /* only an await links a task into a future's waiters */
        a = luaio_container(n, luaio_task, node);
      } else if (n->kind == NODE_WATCH) {
        luaio_watch *w = luaio_container(n, luaio_watch, node);
        if (w->awaiter) a = w->awaiter(w);
      }
      if (a && a->state == T_WAITING && (*i)-- == 0) return a;
    }
  }
  if (!L || depth >= LINK_DEPTH_MAX || !lua_checkstack(L, 3)) return NULL;
  luaio_task *a = NULL;
  int top = lua_gettop(L);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_awaited_by) == LUA_TTABLE &&
      lua_rawgetp(L, -1, f) == LUA_TUSERDATA) {
    luaio_future *g = lua_touserdata(L, -1);
    if (g->is_task) { /* a task awaiting it on its own terms (a TaskGroup's owner) */
      if (((luaio_task *)g)->state != T_DONE && (*i)-- == 0) a = (luaio_task *)g;
    } else {
      a = future_awaiter(L, g, i, depth + 1);
    }
  }
  lua_settop(L, top);
  return a;
}

luaio_task *luaio_task_awaiter(lua_State *L, luaio_task *t, int i) {
  return future_awaiter(L, &t->fut, &i, 0);
}

/* aio._awaited_by(future, awaiter_or_nil): links (or unlinks) a future to the future or
 * task that awaits it on its behalf */
static int l_awaited_by(lua_State *L) {
  luaio_future *f = luaio_tofuture(L, 1);
  if (!lua_isnil(L, 2)) luaio_tofuture(L, 2);
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &key_awaited_by) != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "v");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &key_awaited_by);
  }
  lua_pushvalue(L, 2);
  lua_rawsetp(L, -2, f);
  return 0;
}

void luaio_debug_note_awaiters(lua_State *L, int tidx, luaio_task *t) {
  if (!lua_checkstack(L, 10)) return;
  tidx = lua_absindex(L, tidx);
  int top = lua_gettop(L);
  push_extras(L, tidx, 1);
  if (lua_getfield(L, top + 1, "traceback") != LUA_TSTRING) {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
  }
  luaio_task *a;
  for (int i = 0; i < AWAITED_BY_MAX && (a = luaio_task_awaiter(L, t, i)) != NULL; i++) {
    luaio_push_task(L, a);
    push_task_label(L, lua_gettop(L));
    lua_pushfstring(L, "\nawaited by %s\n", lua_tostring(L, -1));
    lua_replace(L, -3);
    lua_pop(L, 1);
    if (a->co) luaL_traceback(L, a->co, NULL, 0);
    else lua_pushliteral(L, "");
    lua_concat(L, 3);
  }
  lua_setfield(L, top + 1, "traceback");
  lua_settop(L, top);
}

/* {task = t, file = ..., line = ...}: where t stands now */
static void push_entry(lua_State *L, luaio_task *t) {
  lua_Debug ar;
  lua_createtable(L, 0, 3);
  luaio_push_task(L, t);
  lua_setfield(L, -2, "task");
  if (task_frame(t, &ar)) {
    lua_pushstring(L, ar.short_src);
    lua_setfield(L, -2, "file");
    lua_pushinteger(L, ar.currentline);
    lua_setfield(L, -2, "line");
  }
}

/* aio.call_graph([task]): the chain of awaits from task (default: the current one)
 * outwards; nil outside a task when none is given, an empty list for a finished task. */
static int l_call_graph(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  luaio_task *t;
  if (lua_isnoneornil(L, 1)) {
    t = rt->current;
    if (!t) { lua_pushnil(L); return 1; }
  } else {
    t = luaio_totask(L, 1);
  }
  lua_newtable(L);
  int list = lua_gettop(L), n = 0, max = rt->ntasks + 1;
  for (luaio_task *cur = t->state == T_DONE ? NULL : t; cur && n < max; cur = luaio_task_awaiter(L, cur, 0)) {
    luaL_checkstack(L, 4, NULL);
    push_entry(L, cur);
    lua_rawseti(L, list, ++n);
  }
  return 1;
}

/* ---- coroutine objects never awaited (the Lua layer records their site) ---- */
/* aio._debug_site(): where the script called the Lua layer from, or nil */
static int l_debug_site(lua_State *L) {
  luaio_debug_push_site(L, 1);
  return 1;
}

/* aio._debug_never_awaited(site): from the __gc of a coroutine object's guard. A
 * finalizer is no place to run the exception handler: queued for the loop (report.c). */
static int l_never_awaited(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  if (rt->closing || !rt->loop) return 0;
  const char *site = lua_tostring(L, 1);
  lua_createtable(L, 0, 2);
  lua_pushfstring(L, "coroutine object created at %s was never awaited", site ? site : "?");
  lua_setfield(L, -2, "message");
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "site");
  luaio_report_defer_ctx(L, rt, -1);
  return 0;
}

/* aio._debug([on [, slow_seconds]]) -> was_on, slow_seconds: sets debug mode when given
 * (aio.Runner applies its options through it and restores them on close). The Lua
 * layer reads the switch as priv.debug (a field, not a call, per coroutine object). */
static int l_debug(lua_State *L) {
  luaio_runtime *rt = luaio_rt(L);
  int was = rt->debug;
  double slow = (double)rt->slow_ns / 1e9;
  if (!lua_isnoneornil(L, 1)) rt->debug = lua_toboolean(L, 1); /* nil: as it is */
  if (lua_isnumber(L, 2)) {
    double s = lua_tonumber(L, 2);
    rt->slow_ns = s > 0 && s < 1e9 ? (uint64_t)(s * 1e9) : 0;
  }
  if (rt->priv > 0 && lua_rawgeti(L, LUA_REGISTRYINDEX, rt->priv) == LUA_TTABLE) {
    lua_pushboolean(L, rt->debug);
    lua_setfield(L, -2, "debug");
  }
  lua_settop(L, 2);
  lua_pushboolean(L, was);
  lua_pushnumber(L, slow);
  return 2;
}

void luaio_debug_open(lua_State *L, luaio_runtime *rt) {
  const char *env = getenv("LUAIO_DEBUG");
  rt->debug = env && *env && strcmp(env, "0") != 0;
  rt->slow_ns = SLOW_DEFAULT_NS;
  static const luaL_Reg funcs[] = {
    {"_debug", l_debug}, {"_debug_site", l_debug_site},
    {"_debug_never_awaited", l_never_awaited}, {"call_graph", l_call_graph},
    {"_awaited_by", l_awaited_by}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
