/* signal_handlers.c — aio.add_signal_handler / remove_signal_handler / wait_signal on
 * libuv's uv_signal_t. libuv's own handler only writes to a pipe; its callback (run by
 * the loop) queues a Handle calling the Lua handler and wakes the tasks in wait_signal,
 * so no Lua code ever runs inside the OS signal handler nor inside the libuv callback.
 *
 * One watcher per signal and runtime, started while the runtime has a handler for it or
 * a task waiting for it. libuv installs its handler when a process's first watcher for a
 * signal starts and resets the signal to SIG_DFL when the last one stops; the disposition
 * found before the first watcher (the luaio binary's own SIGINT handler, an inherited
 * SIG_IGN ...) is put back then. That bookkeeping is process-wide, as the disposition
 * is: several runtimes (several threads) may watch one signal, and the one whose watcher
 * is last to stop restores what the first one found, whatever the order. */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "signal_handlers.h"
#include "task.h"
#include "handle.h"
#include "loop.h"
#include "stream.h"
#include "report.h"

#ifdef NSIG
#define NSIGS NSIG
#else
#define NSIGS 65
#endif

/* ---- names ---- */
static const struct { const char *name; int num; } signames[] = {
  {"SIGHUP", SIGHUP}, {"SIGINT", SIGINT}, {"SIGQUIT", SIGQUIT}, {"SIGILL", SIGILL},
  {"SIGTRAP", SIGTRAP}, {"SIGABRT", SIGABRT}, {"SIGBUS", SIGBUS}, {"SIGFPE", SIGFPE},
  {"SIGKILL", SIGKILL}, {"SIGUSR1", SIGUSR1}, {"SIGSEGV", SIGSEGV}, {"SIGUSR2", SIGUSR2},
  {"SIGPIPE", SIGPIPE}, {"SIGALRM", SIGALRM}, {"SIGTERM", SIGTERM}, {"SIGCHLD", SIGCHLD},
  {"SIGCONT", SIGCONT}, {"SIGSTOP", SIGSTOP}, {"SIGTSTP", SIGTSTP}, {"SIGTTIN", SIGTTIN},
  {"SIGTTOU", SIGTTOU}, {"SIGURG", SIGURG}, {"SIGXCPU", SIGXCPU}, {"SIGXFSZ", SIGXFSZ},
  {"SIGVTALRM", SIGVTALRM}, {"SIGPROF", SIGPROF}, {"SIGWINCH", SIGWINCH}, {"SIGIO", SIGIO},
  {"SIGSYS", SIGSYS},
#ifdef SIGPWR
  {"SIGPWR", SIGPWR},
#endif
};

const char *luaio_signal_name(int signum) {
  for (size_t i = 0; i < sizeof signames / sizeof *signames; i++)
    if (signames[i].num == signum) return signames[i].name;
  return NULL;
}

int luaio_check_signal(lua_State *L, int arg, int catchable, int allow_zero) {
  int sig = -1;
  if (lua_type(L, arg) == LUA_TSTRING) {
    const char *name = lua_tostring(L, arg);
    for (size_t i = 0; i < sizeof signames / sizeof *signames; i++)
      if (strcmp(signames[i].name, name) == 0) sig = signames[i].num;
    if (sig < 0) return luaio_argerror(L, arg, lua_pushfstring(L, "unknown signal '%s'", name));
  } else if (lua_type(L, arg) == LUA_TNUMBER) {
    lua_Integer n;
    if (!lua_isinteger(L, arg)) {
      lua_Number x = lua_tonumber(L, arg);
      if (x != (lua_Number)(lua_Integer)x) return luaio_argerror(L, arg, "signal number must be an integer");
    }
    n = (lua_Integer)lua_tonumber(L, arg);
    if (n < (allow_zero ? 0 : 1) || n >= NSIGS)
      return luaio_argerror(L, arg, lua_pushfstring(L, "invalid signal number %I", n));
    sig = (int)n;
  } else {
    return luaio_typeerror(L, arg, "signal name or number");
  }
  if (catchable && (sig == SIGKILL || sig == SIGSTOP))
    return luaio_argerror(L, arg, lua_pushfstring(L, "%s cannot be caught", luaio_signal_name(sig)));
  return sig;
}

/* ---- the process-wide dispositions found before the first watcher ---- */
static uv_once_t disp_once = UV_ONCE_INIT;
static uv_mutex_t disp_mutex;
static struct {
  int users;               /* started watchers of this part, all runtimes */
  int restore;             /* `saved` is to be put back when the last one stops */
  struct sigaction saved;
} disp[NSIGS];

static void disp_init(void) { (void)uv_mutex_init(&disp_mutex); }

static int same_action(const struct sigaction *a, const struct sigaction *b) {
  if ((a->sa_flags & SA_SIGINFO) != (b->sa_flags & SA_SIGINFO)) return 0;
  if (a->sa_flags & SA_SIGINFO) return a->sa_sigaction == b->sa_sigaction;
  return a->sa_handler == b->sa_handler;
}

/* ---- per runtime ---- */
static const char key_state = 'S';
#define SIGWAIT "luaio.SignalWait"
#define SIGSTATE "luaio.SignalState"

typedef struct sigent sigent;

typedef struct sigstate {
  luaio_runtime *rt;
  luaio_node waiters;      /* tasks parked in wait_signal (their t->node) */
  luaio_node recs;         /* and what each waits for (sigwaiter.node) */
  sigent *ent[NSIGS];
} sigstate;

struct sigent {
  uv_signal_t h;
  sigstate *st;            /* NULL once the runtime's state is gone */
  int signum;
  int handler;             /* registry ref: {fn, args..., n = nargs}, or LUA_NOREF */
  int nwait;               /* wait_signal calls waiting for it */
  unsigned char started;
};

/* a wait_signal call: a userdata on the waiting task's stack */
typedef struct sigwaiter {
  luaio_node node;         /* in st->recs while it waits */
  sigstate *st;
  luaio_task *t;
  uint64_t mask;           /* bit (signum - 1) */
  int got;                 /* the signal that woke it */
} sigwaiter;

static const luaio_wait_kind signal_wait = {"a signal", NULL, NULL, 0};

static sigstate *get_state(lua_State *L) { return luaio_part_state(L, &key_state); }

static void ent_close_cb(uv_handle_t *h) { free(h->data); }

static void sig_cb(uv_signal_t *h, int signum);

static int ent_start(sigent *e) {
  if (e->started) return 0;
  int sig = e->signum;
  uv_once(&disp_once, disp_init);
  uv_mutex_lock(&disp_mutex);
  struct sigaction before, after;
  sigaction(sig, NULL, &before);
  int err = uv_signal_start(&e->h, sig_cb, sig);
  if (!err) {
    if (disp[sig].users++ == 0) {
      sigaction(sig, NULL, &after);
      /* what was there is libuv's own handler (a watcher outside this part): nothing to
       * restore, libuv resets it when its last watcher stops */
      disp[sig].restore = !same_action(&before, &after);
      disp[sig].saved = before;
    }
    e->started = 1;
  }
  uv_mutex_unlock(&disp_mutex);
  return err;
}

static void ent_stop(sigent *e) {
  if (!e->started) return;
  int sig = e->signum;
  uv_mutex_lock(&disp_mutex);
  uv_signal_stop(&e->h);
  e->started = 0;
  if (--disp[sig].users == 0 && disp[sig].restore) {
    struct sigaction now;
    /* SIG_DFL: libuv's last watcher is gone (one outside this part, e.g. the child
     * watcher on SIGCHLD, keeps libuv's handler in place: left alone then) */
    if (sigaction(sig, NULL, &now) == 0 && !(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL)
      sigaction(sig, &disp[sig].saved, NULL);
    disp[sig].restore = 0;
  }
  uv_mutex_unlock(&disp_mutex);
}

/* Stops and frees the watcher of a signal nobody handles or waits for any more. */
static void ent_release_if_unused(sigent *e) {
  if (e->handler != LUA_NOREF || e->nwait > 0) return;
  ent_stop(e);
  if (e->st) e->st->ent[e->signum] = NULL;
  e->st = NULL;
  uv_close((uv_handle_t *)&e->h, ent_close_cb);
}

static sigent *ent_get(lua_State *L, sigstate *st, int sig) {
  if (st->ent[sig]) return st->ent[sig];
  sigent *e = luaio_realloc(L, NULL, sizeof *e);
  memset(e, 0, sizeof *e);
  int err = uv_signal_init(st->rt->loop, &e->h);
  if (err) { free(e); luaio_raise_oserror(L, err, "uv_signal_init"); }
  e->h.data = e;
  e->st = st;
  e->signum = sig;
  e->handler = LUA_NOREF;
  st->ent[sig] = e;
  return e;
}

/* A wait_signal call stops waiting: its signals' watchers may go. */
static void rec_detach(sigwaiter *w) {
  if (!w->node.next) return;
  luaio_list_unlink(&w->node);
  sigstate *st = w->st;
  for (int sig = 1; sig < NSIGS && sig <= 64; sig++) {
    if (!(w->mask & ((uint64_t)1 << (sig - 1)))) continue;
    sigent *e = st ? st->ent[sig] : NULL;
    if (!e) continue;
    e->nwait--;
    ent_release_if_unused(e);
  }
}

/* Queues a Handle running the Lua handler (in a protected call: it allocates). */
static int queue_handler_p(lua_State *L) {
  luaio_runtime *rt = lua_touserdata(L, 1);
  int ref = (int)lua_tointeger(L, 2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
  int tidx = lua_gettop(L);
  lua_getfield(L, tidx, "n");
  int nargs = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, nargs + 4, "too many arguments");
  lua_rawgeti(L, tidx, 1);
  int fidx = lua_gettop(L);
  for (int i = 1; i <= nargs; i++) lua_rawgeti(L, tidx, i + 1);
  luaio_handle_push_new(L, rt, fidx, nargs);
  luaio_handle *h = lua_touserdata(L, -1);
  luaio_ready_push(rt, &h->node);
  return 0;
}

static void sig_cb(uv_signal_t *h, int signum) {
  sigent *e = h->data;
  sigstate *st = e->st;
  if (!st || st->rt->closing) return;
  luaio_runtime *rt = st->rt;
  int handler = e->handler;
  /* the waiting tasks (detaching one may stop and close this watcher: e stays allocated
   * until its close callback) */
  uint64_t bit = signum <= 64 ? (uint64_t)1 << (signum - 1) : 0;
  for (luaio_node *n = st->recs.next, *next; n != &st->recs; n = next) {
    next = n->next;
    sigwaiter *w = luaio_container(n, sigwaiter, node);
    if (!(w->mask & bit)) continue;
    w->got = signum;
    rec_detach(w);
    luaio_wake(rt, w->t);
  }
  if (handler != LUA_NOREF) {
    lua_State *L = rt->runL ? rt->runL : rt->L;
    if (!lua_checkstack(L, 4)) return;
    lua_pushcfunction(L, queue_handler_p);
    lua_pushlightuserdata(L, rt);
    lua_pushinteger(L, handler);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
      luaio_report_c_error(rt, lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
}

/* ---- the functions ---- */
static void check_callable(lua_State *L, int idx) {
  if (lua_isfunction(L, idx)) return;
  if (luaL_getmetafield(L, idx, "__call") != LUA_TNIL) { lua_pop(L, 1); return; }
  luaio_typeerror(L, idx, "function");
}

/* add_signal_handler(sig, fn, ...) */
static int l_add_signal_handler(lua_State *L) {
  int sig = luaio_check_signal(L, 1, 1, 0);
  check_callable(L, 2);
  sigstate *st = get_state(L);
  int nargs = lua_gettop(L) - 2;
  sigent *e = ent_get(L, st, sig); /* before the ref: a memory error leaks nothing */
  lua_createtable(L, nargs + 1, 1);
  for (int i = 0; i <= nargs; i++) {
    lua_pushvalue(L, 2 + i);
    lua_rawseti(L, -2, i + 1);
  }
  lua_pushinteger(L, nargs);
  lua_setfield(L, -2, "n");
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  int old = e->handler;
  e->handler = ref;
  int err = ent_start(e);
  if (err) {
    e->handler = old;
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
    ent_release_if_unused(e);
    return luaio_raise_oserror(L, err, lua_pushfstring(L, "add_signal_handler %s", luaio_signal_name(sig)));
  }
  if (old != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, old);
  return 0;
}

/* remove_signal_handler(sig) -> true if there was one */
static int l_remove_signal_handler(lua_State *L) {
  int sig = luaio_check_signal(L, 1, 0, 0);
  sigstate *st = get_state(L);
  sigent *e = st->ent[sig];
  if (!e || e->handler == LUA_NOREF) { lua_pushboolean(L, 0); return 1; }
  luaL_unref(L, LUA_REGISTRYINDEX, e->handler);
  e->handler = LUA_NOREF;
  ent_release_if_unused(e);
  lua_pushboolean(L, 1);
  return 1;
}

static int push_signal(lua_State *L, int sig) {
  const char *name = luaio_signal_name(sig);
  if (name) lua_pushstring(L, name);
  else lua_pushinteger(L, sig);
  return 1;
}

static int wait_signal_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  sigwaiter *w = lua_touserdata(L, (int)ctx);
  luaio_task *t = luaio_rt(L)->current;
  if (luaio_take_wake_cancel(t)) {
    rec_detach(w);
    return luaio_raise_cancelled(L, t);
  }
  rec_detach(w);
  return push_signal(L, w->got);
}

/* wait_signal(sig1 [, sig2 ...]) -> the name of the one that arrived */
static int l_wait_signal(lua_State *L) {
  int n = lua_gettop(L);
  if (n == 0) return luaio_argerror(L, 1, "signal name or number expected");
  uint64_t mask = 0;
  for (int i = 1; i <= n; i++) {
    int sig = luaio_check_signal(L, i, 1, 0);
    if (sig > 64) return luaio_argerror(L, i, "signal number out of range");
    mask |= (uint64_t)1 << (sig - 1);
  }
  sigstate *st = get_state(L);
  luaio_task *t = luaio_check_suspend(L, "wait_signal");
  sigwaiter *w = lua_newuserdatauv(L, sizeof *w, 0);
  memset(w, 0, sizeof *w);
  luaL_setmetatable(L, SIGWAIT);
  int widx = lua_gettop(L);
  w->st = st;
  w->t = t;
  luaio_list_append(&st->recs, &w->node);
  for (int sig = 1; sig < NSIGS && sig <= 64; sig++) {
    if (!(mask & ((uint64_t)1 << (sig - 1)))) continue;
    sigent *e = ent_get(L, st, sig); /* on a memory error the record's __gc detaches it */
    e->nwait++;
    w->mask |= (uint64_t)1 << (sig - 1);
    int err = ent_start(e);
    if (err) {
      rec_detach(w);
      return luaio_raise_oserror(L, err, lua_pushfstring(L, "wait_signal %s", luaio_signal_name(sig)));
    }
  }
  luaio_list_append(&st->waiters, &t->node);
  return luaio_park(L, t, &signal_wait, widx, wait_signal_k);
}

static int sigwait_gc(lua_State *L) {
  sigwaiter *w = lua_touserdata(L, 1);
  if (w->st) rec_detach(w);
  return 0;
}

static int sigwait_tostring(lua_State *L) {
  sigwaiter *w = lua_touserdata(L, 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, "signals");
  for (int sig = 1; sig <= 64; sig++) {
    if (!(w->mask & ((uint64_t)1 << (sig - 1)))) continue;
    luaL_addchar(&b, ' ');
    const char *name = luaio_signal_name(sig);
    if (name) luaL_addstring(&b, name);
    else { lua_pushinteger(L, sig); luaL_addvalue(&b); }
  }
  luaL_pushresult(&b);
  return 1;
}

/* The runtime's state goes (luaio_close, or lua_close): every watcher stops, and the
 * dispositions are restored, before the runtime closes the loop. */
static int state_gc(lua_State *L) {
  sigstate *st = lua_touserdata(L, 1);
  for (int sig = 1; sig < NSIGS; sig++) {
    sigent *e = st->ent[sig];
    if (!e) continue;
    st->ent[sig] = NULL;
    if (e->handler != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, e->handler);
    e->handler = LUA_NOREF;
    e->st = NULL;
    ent_stop(e);
    if (!uv_is_closing((uv_handle_t *)&e->h)) uv_close((uv_handle_t *)&e->h, ent_close_cb);
    else free(e); /* closed by the runtime's walk: its callback will not run */
  }
  while (!luaio_list_empty(&st->recs)) {
    sigwaiter *w = luaio_container(st->recs.next, sigwaiter, node);
    luaio_list_unlink(&w->node);
    w->st = NULL;
  }
  luaio_list_init(&st->waiters);
  luaio_part_state_forget(L, &key_state, st);
  return 0;
}

void luaio_signal_handlers_open(lua_State *L, luaio_runtime *rt) {
  luaio_wait_kind_register(rt, &signal_wait);
  if (luaL_newmetatable(L, SIGWAIT)) {
    lua_pushcfunction(L, sigwait_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, sigwait_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, SIGSTATE)) {
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  sigstate *st = luaio_part_state_new(L, rt, &key_state, sizeof *st, SIGSTATE);
  luaio_list_init(&st->waiters);
  luaio_list_init(&st->recs);
  static const luaL_Reg funcs[] = {
    {"add_signal_handler", l_add_signal_handler},
    {"remove_signal_handler", l_remove_signal_handler},
    {"wait_signal", l_wait_signal}, {NULL, NULL}
  };
  luaio_register(L, funcs, rt);
}
