/* queue.c — Queue, LifoQueue, PriorityQueue: items live in a preallocated slot
 * table (an upvalue of the queue's methods) indexed by a C-managed ring / stack / binary
 * heap, waiters are tasks linked through their own node, and items are handed to a woken
 * getter on its own stack, so a put/get pair that does not wait allocates nothing.
 *
 * Object layout, chosen for the hot path: the script sees a plain table whose metatable is
 * "luaio.Queue", "luaio.LifoQueue" or "luaio.PriorityQueue", holding `maxsize` (a public
 * field), the C state at [1] (a "luaio.QueueState" userdata that points back at its object) and
 * the methods as C closures made for this queue, whose upvalues are the state, the slot
 * table and less(): `q:get()` is a plain field hit for the VM, and the self check is one
 * pointer compare (see toqueue), not a metatable or registry lookup. */
#include <stdlib.h>
#include <string.h>
#include "queue.h"
#include "task.h"
#include "loop.h"

#define LUAIO_QUEUE "luaio.Queue"
#define LUAIO_LIFOQUEUE "luaio.LifoQueue"
#define LUAIO_PRIOQUEUE "luaio.PriorityQueue"
#define LUAIO_QUEUESTATE "luaio.QueueState"

enum { Q_FIFO = 0, Q_LIFO, Q_PRIO };
static const char *const kind_names[] = {"Queue", "LifoQueue", "PriorityQueue"};

/* upvalues of the constructors and of __tostring: 1 the runtime (luaio_rt), 2..4 the
 * metatables of the three kinds */
#define UV_MT(kind) lua_upvalueindex(2 + (kind))
#define NUPVALUES 4
/* upvalues of the methods of one queue: the runtime (first, as for every luaio function:
 * luaio_check_task finds it there), the state, the slot table, less() or nil */
#define UV_STATE lua_upvalueindex(2)
#define SLOTS lua_upvalueindex(3)
#define UV_LESS lua_upvalueindex(4)

typedef struct queue {
  const void *owner;    /* the object table: the methods check their self against it */
  luaio_runtime *rt;
  luaio_node getters;   /* tasks waiting in get(); non-empty only while count == 0 */
  luaio_node putters;   /* tasks waiting in put(); non-empty only while full */
  luaio_node joiners;   /* tasks waiting in join() */
  lua_Integer maxsize;  /* as given; <= 0 means unbounded */
  lua_Integer unfinished;
  lua_Integer reserved; /* putters woken with a slot kept for them, not yet run */
  lua_Integer next_seq; /* PriorityQueue: insertion order, for stability */
  lua_Integer *seqs;    /* PriorityQueue: seq of each heap slot (owned, freed in __gc) */
  size_t seqcap;
  size_t head, count, cap; /* Queue: ring of cap slots starting at head (0-based) */
  int kind;
  unsigned char shutdown;  /* 1 shut down, 2 shut down with immediate=true */
  unsigned char busy;      /* PriorityQueue: inside a comparison; re-entry is refused */
  /* the slot table and less(a, b) are upvalues of the methods, which keep them alive */
} queue;

/* ---- self check: a method of this queue called on this queue's object (q:get()) ---- */
static int state_of(lua_State *L, int idx); /* for the slow paths below */

/* Named explicitly: the methods are closures made per queue, which the registered names
 * do not cover. */
static void bad_self(lua_State *L, const char *fname) {
  if (state_of(L, 1))
    luaio_argerror_in(L, 1, fname, "Queue method called on another queue (call it as q:method(...))");
  luaio_argerror_in(L, 1, fname, lua_pushfstring(L, "Queue expected, got %s", luaL_typename(L, 1)));
}

static queue *toqueue(lua_State *L, const char *fname) {
  queue *q = lua_touserdata(L, UV_STATE);
  if (lua_topointer(L, 1) != q->owner) bad_self(L, fname);
  return q;
}

/* Named explicitly: the method is called as q:put(item), so the item is argument #1. */
static void check_item(lua_State *L, const char *fname) {
  if (lua_isnoneornil(L, 2)) luaio_argerror_in(L, 1, fname, "queue items cannot be nil");
}

static int is_full(const queue *q) {
  return q->maxsize > 0 && q->count + (size_t)q->reserved >= (size_t)q->maxsize;
}

/* ---- slot storage: `st` is the slot table's index (SLOTS, an upvalue) ---- */
static size_t ring_slot(const queue *q, size_t i) {
  size_t p = q->head + i;
  return (p >= q->cap ? p - q->cap : p) + 1;
}

/* Doubles the ring; the wrapped part [0, head) moves after the old end, so the ring stays
 * contiguous from head. Only called when full (count == cap). */
static void ring_grow(lua_State *L, queue *q, int st) {
  size_t cap = q->cap;
  for (size_t p = 0; p < q->head; p++) {
    lua_rawgeti(L, st, (lua_Integer)p + 1);
    lua_rawseti(L, st, (lua_Integer)(p + cap) + 1);
    lua_pushnil(L);
    lua_rawseti(L, st, (lua_Integer)p + 1);
  }
  q->cap = cap * 2;
}

static void seq_reserve(lua_State *L, queue *q) {
  if (q->count < q->seqcap) return;
  size_t cap = q->seqcap ? q->seqcap * 2 : 8;
  lua_Integer *s = luaio_realloc(L, q->seqs, cap * sizeof *s);
  q->seqs = s;
  q->seqcap = cap;
}

/* ---- PriorityQueue ordering: by less(a, b) or `<`, FIFO among equals ---- */
static int lt_meta(lua_State *L) {
  lua_pushboolean(L, lua_compare(L, 1, 2, LUA_OPLT));
  return 1;
}

/* a < b. Numbers with numbers and strings with strings compare in place; anything else
 * (a user less, __lt) runs under pcall so the busy flag is cleared before an error goes on. */
static int less(lua_State *L, queue *q, int a, int b) {
  int ta = lua_type(L, a), tb = lua_type(L, b);
  if (q->busy == 1 && ta == tb && (ta == LUA_TNUMBER || ta == LUA_TSTRING))
    return lua_compare(L, a, b, LUA_OPLT);
  luaL_checkstack(L, 3, NULL);
  if (q->busy == 2) lua_pushvalue(L, UV_LESS);
  else lua_pushcfunction(L, lt_meta);
  lua_pushvalue(L, a);
  lua_pushvalue(L, b);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
    q->busy = 0;
    lua_error(L);
  }
  int r = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return r;
}

/* Does the entry (a, sa) come out before (b, sb)? One comparison call per test: for a
 * strict weak order, the older of two entries goes first unless the newer is smaller. */
static int before(lua_State *L, queue *q, int a, lua_Integer sa, int b, lua_Integer sb) {
  return sa < sb ? !less(L, q, b, a) : less(L, q, a, b);
}

/* Comparisons may call Lua code: every comparison is made first, with the heap untouched,
 * and only then are the slots moved, so an error in less() leaves the queue intact. */
static void begin_compare(lua_State *L, queue *q) {
  if (q->busy)
    luaio_raise(L, "RuntimeError", "PriorityQueue used from inside its own comparison");
  q->busy = lua_isnil(L, UV_LESS) ? 1 : 2;
}

static void heap_push(lua_State *L, queue *q, int st, int item, lua_Integer seq) {
  seq_reserve(L, q);
  begin_compare(L, q);
  size_t i = q->count;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    lua_rawgeti(L, st, (lua_Integer)p + 1);
    int b = before(L, q, item, seq, lua_gettop(L), q->seqs[p]);
    lua_pop(L, 1);
    if (!b) break;
    i = p;
  }
  q->busy = 0;
  for (size_t j = q->count; j > i;) {
    size_t p = (j - 1) / 2;
    lua_rawgeti(L, st, (lua_Integer)p + 1);
    lua_rawseti(L, st, (lua_Integer)j + 1);
    q->seqs[j] = q->seqs[p];
    j = p;
  }
  lua_pushvalue(L, item);
  lua_rawseti(L, st, (lua_Integer)i + 1);
  q->seqs[i] = seq;
  q->count++;
}

/* Pushes the smallest entry and returns its seq. */
static lua_Integer heap_pop(lua_State *L, queue *q, int st) {
  /* get_nowait() from inside less(): even without a comparison of its own (one or two
   * entries), popping would move the slots under the push or pop that is comparing */
  if (q->busy) luaio_raise(L, "RuntimeError", "PriorityQueue used from inside its own comparison");
  size_t n = q->count - 1, i = 0, depth = 0;
  size_t path[sizeof(size_t) * 8];
  lua_Integer lseq = q->seqs[n];
  if (n > 1) {
    begin_compare(L, q);
    lua_rawgeti(L, st, (lua_Integer)n + 1);
    int last = lua_gettop(L);
    for (;;) {
      size_t c = 2 * i + 1;
      if (c >= n) break;
      lua_rawgeti(L, st, (lua_Integer)c + 1);
      if (c + 1 < n) {
        lua_rawgeti(L, st, (lua_Integer)c + 2);
        if (before(L, q, last + 2, q->seqs[c + 1], last + 1, q->seqs[c])) {
          c++;
          lua_replace(L, last + 1);
        } else {
          lua_pop(L, 1);
        }
      }
      int b = before(L, q, last + 1, q->seqs[c], last, lseq);
      lua_pop(L, 1);
      if (!b) break;
      path[depth++] = c;
      i = c;
    }
    lua_pop(L, 1);
    q->busy = 0;
  }
  lua_rawgeti(L, st, 1);
  lua_Integer seq = q->seqs[0];
  /* move the chosen children up one level each, then the last entry into the hole */
  size_t hole = 0;
  for (size_t d = 0; d < depth; d++) {
    lua_rawgeti(L, st, (lua_Integer)path[d] + 1);
    lua_rawseti(L, st, (lua_Integer)hole + 1);
    q->seqs[hole] = q->seqs[path[d]];
    hole = path[d];
  }
  if (n > 0) {
    lua_rawgeti(L, st, (lua_Integer)n + 1);
    lua_rawseti(L, st, (lua_Integer)hole + 1);
    q->seqs[hole] = lseq;
  }
  lua_pushnil(L);
  lua_rawseti(L, st, (lua_Integer)n + 1);
  q->count = n;
  return seq;
}

/* ---- storing and taking, per kind ---- */
static void store_back(lua_State *L, queue *q, int item, lua_Integer seq) {
  const int st = SLOTS;
  switch (q->kind) {
  case Q_FIFO:
    if (q->count == q->cap) ring_grow(L, q, st);
    lua_pushvalue(L, item);
    lua_rawseti(L, st, (lua_Integer)ring_slot(q, q->count));
    q->count++;
    break;
  case Q_LIFO:
    lua_pushvalue(L, item);
    lua_rawseti(L, st, (lua_Integer)++q->count);
    break;
  default:
    heap_push(L, q, st, item, seq);
  }
}

/* Pushes the next item (count > 0) and returns its seq. */
static lua_Integer take(lua_State *L, queue *q) {
  const int st = SLOTS;
  lua_Integer seq = 0;
  lua_Integer slot;
  switch (q->kind) {
  case Q_FIFO:
    slot = (lua_Integer)q->head + 1;
    q->head = q->head + 1 == q->cap ? 0 : q->head + 1;
    q->count--;
    break;
  case Q_LIFO:
    slot = (lua_Integer)q->count--;
    break;
  default:
    return heap_pop(L, q, st);
  }
  lua_rawgeti(L, st, slot);
  lua_pushnil(L);
  lua_rawseti(L, st, slot);
  return seq;
}

/* ---- waking ---- */
static luaio_task *first(luaio_node *list) {
  return luaio_container(list->next, luaio_task, node);
}

/* An item enters the slots and wakes the first waiting getter, which takes an item when it
 * runs. As asyncio: until then the item counts in qsize() and full(), and another get may
 * take it first (the woken getter then waits again, first in line). */
static void insert(lua_State *L, queue *q, int item, lua_Integer seq) {
  store_back(L, q, item, seq);
  if (!luaio_list_empty(&q->getters)) luaio_wake(q->rt, first(&q->getters));
}

/* Wakes putters, in order, while there is room; each gets a slot reserved for it (the
 * `true` on its stack) so a later put cannot take it. */
static void wake_putters(queue *q) {
  while (!luaio_list_empty(&q->putters) && !is_full(q)) {
    luaio_task *t = first(&q->putters);
    lua_pushboolean(t->co, 1); /* a parked put() holds 2 of its LUA_MINSTACK slots */
    t->nargs = 1;
    q->reserved++;
    luaio_wake(q->rt, t);
  }
}

static void wake_all(luaio_runtime *rt, luaio_node *list) {
  while (!luaio_list_empty(list)) luaio_wake(rt, first(list));
}

/* The task is known to be the running one: deliver a pending cancellation before a real
 * suspension (what luaio_check_suspend does, without checking the task twice). */
static void deliver_cancel(lua_State *L, luaio_task *t) {
  if (t->must_cancel) {
    t->must_cancel = 0;
    luaio_raise_cancelled(L, t);
  }
}

/* luaio_check_task, with the common case (the running task calls) decided inline. */
static luaio_task *check_task(lua_State *L, queue *q, const char *fname) {
  luaio_task *t = q->rt->current;
  if (t && t->co == L && lua_isyieldable(L)) return t;
  return luaio_check_task(L, fname);
}

static int raise_shutdown(lua_State *L, const char *fname) {
  return luaio_raise(L, "QueueShutDown", "%s: the queue is shut down", fname);
}

/* ---- put ---- */
static int q_put_nowait(lua_State *L) {
  queue *q = toqueue(L, "put_nowait");
  check_item(L, "put_nowait");
  if (q->shutdown) return raise_shutdown(L, "put_nowait");
  if (is_full(q)) return luaio_raise(L, "QueueFull", "put_nowait: the queue is full (maxsize %I)", q->maxsize);
  insert(L, q, 2, q->next_seq++);
  q->unfinished++;
  return 0;
}

/* Stack: queue, item [, true when a slot was reserved for this putter]. */
/* a task in put(), get() or join(): cancelling it is the default (it wakes with
 * CancelledError and gives its turn away in the continuation) */
static const luaio_wait_kind queue_wait = {"a Queue", NULL, NULL, 0};

static int put_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  queue *q = lua_touserdata(L, UV_STATE);
  luaio_task *t = q->rt->current;
  int reserved = lua_gettop(L) >= 3;
  if (reserved) q->reserved--;
  if (luaio_take_wake_cancel(t)) {
    if (reserved) wake_putters(q); /* the slot goes to the next putter */
    return luaio_raise_cancelled(L, t);
  }
  if (q->shutdown) return raise_shutdown(L, "put");
  if (!reserved) { /* not expected: wait again, first in line */
    luaio_task *self = luaio_check_suspend(L, "Queue:put");
    lua_settop(L, 2);
    luaio_list_append(q->putters.next, &self->node);
    return luaio_park(L, self, &queue_wait, 1, put_k);
  }
  insert(L, q, 2, q->next_seq++);
  q->unfinished++;
  wake_putters(q);
  return 0;
}

static int q_put(lua_State *L) {
  queue *q = toqueue(L, "put");
  check_item(L, "put");
  luaio_task *t = check_task(L, q, "Queue:put");
  if (q->shutdown) return raise_shutdown(L, "put");
  if (!is_full(q) && luaio_list_empty(&q->putters)) {
    insert(L, q, 2, q->next_seq++);
    q->unfinished++;
    return 0;
  }
  deliver_cancel(L, t);
  lua_settop(L, 2);
  luaio_list_append(&q->putters, &t->node);
  return luaio_park(L, t, &queue_wait, 1, put_k);
}

/* ---- get ---- */
static int q_get_nowait(lua_State *L) {
  queue *q = toqueue(L, "get_nowait");
  if (q->count == 0) {
    if (q->shutdown) return raise_shutdown(L, "get_nowait");
    return luaio_raise(L, "QueueEmpty", "get_nowait: the queue is empty");
  }
  lua_settop(L, 1);
  take(L, q);
  wake_putters(q);
  return 1;
}

static int get_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  queue *q = lua_touserdata(L, UV_STATE);
  luaio_task *t = q->rt->current;
  if (luaio_take_wake_cancel(t)) {
    /* a wake-up it will not use goes to the next getter: no item waits for nobody */
    if (q->count > 0 && !luaio_list_empty(&q->getters)) luaio_wake(q->rt, first(&q->getters));
    return luaio_raise_cancelled(L, t);
  }
  lua_settop(L, 1);
  if (q->count > 0) {
    take(L, q);
    wake_putters(q);
    return 1;
  }
  if (q->shutdown) return raise_shutdown(L, "get");
  luaio_task *self = luaio_check_suspend(L, "Queue:get"); /* taken meanwhile: wait again, first */
  luaio_list_append(q->getters.next, &self->node);
  return luaio_park(L, self, &queue_wait, 1, get_k);
}

static int q_get(lua_State *L) {
  queue *q = toqueue(L, "get");
  luaio_task *t = check_task(L, q, "Queue:get");
  lua_settop(L, 1);
  if (q->count > 0) {
    take(L, q);
    wake_putters(q);
    return 1;
  }
  if (q->shutdown) return raise_shutdown(L, "get");
  deliver_cancel(L, t);
  luaio_list_append(&q->getters, &t->node);
  return luaio_park(L, t, &queue_wait, 1, get_k);
}

/* ---- task_done / join / shutdown ---- */
static int q_task_done(lua_State *L) {
  queue *q = toqueue(L, "task_done");
  if (q->unfinished <= 0) return luaio_raise(L, "ValueError", "task_done() called too many times");
  if (--q->unfinished == 0) wake_all(q->rt, &q->joiners);
  return 0;
}

static int join_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status; (void)ctx;
  luaio_raise_if_cancelled(L, ((queue *)lua_touserdata(L, UV_STATE))->rt->current);
  return 0;
}

static int q_join(lua_State *L) {
  queue *q = toqueue(L, "join");
  luaio_task *t = check_task(L, q, "Queue:join");
  if (q->unfinished == 0) return 0;
  deliver_cancel(L, t);
  lua_settop(L, 1);
  luaio_list_append(&q->joiners, &t->node);
  return luaio_park(L, t, &queue_wait, 1, join_k);
}

/* As Python 3.13: put raises QueueShutDown from now on, get once the queue is drained;
 * immediate=true drops the queued items (counting them done) and wakes every getter. */
static int q_shutdown(lua_State *L) {
  queue *q = toqueue(L, "shutdown");
  int immediate = lua_toboolean(L, 2);
  if (q->kind == Q_PRIO && q->busy)
    return luaio_raise(L, "RuntimeError", "PriorityQueue used from inside its own comparison");
  q->shutdown = immediate ? 2 : (q->shutdown ? q->shutdown : 1);
  if (immediate) {
    size_t slots = q->kind == Q_FIFO ? q->cap : q->count;
    for (size_t i = 1; i <= slots; i++) { lua_pushnil(L); lua_rawseti(L, SLOTS, (lua_Integer)i); }
    lua_Integer n = (lua_Integer)q->count;
    q->unfinished = q->unfinished > n ? q->unfinished - n : 0;
    q->count = q->head = 0;
    if (q->unfinished == 0) wake_all(q->rt, &q->joiners);
  }
  wake_all(q->rt, &q->getters);
  wake_all(q->rt, &q->putters);
  return 0;
}

/* ---- inspection ---- */
static int q_qsize(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)toqueue(L, "qsize")->count);
  return 1;
}

static int q_empty(lua_State *L) {
  lua_pushboolean(L, toqueue(L, "empty")->count == 0);
  return 1;
}

/* True when put_nowait would raise QueueFull (slots kept for woken putters count). */
static int q_full(lua_State *L) {
  lua_pushboolean(L, is_full(toqueue(L, "full")));
  return 1;
}

static int q_is_shutdown(lua_State *L) {
  lua_pushboolean(L, toqueue(L, "is_shutdown")->shutdown != 0);
  return 1;
}

static int list_len(const luaio_node *h) {
  int n = 0;
  for (const luaio_node *p = h->next; p != h; p = p->next) n++;
  return n;
}

static int describe(lua_State *L, queue *q) {
  lua_pushfstring(L, "%s(maxsize=%I, qsize=%I, unfinished=%I, getters=%d, putters=%d%s): %p",
                  kind_names[q->kind], q->maxsize, (lua_Integer)q->count, q->unfinished,
                  list_len(&q->getters), list_len(&q->putters),
                  q->shutdown ? ", shut down" : "", (void *)q);
  return 1;
}

/* The state of the queue object at idx, or NULL: the object's [1] must be a state that
 * names this object as its owner. */
static int state_of(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  lua_rawgeti(L, idx, 1);
  queue *q = luaL_testudata(L, -1, LUAIO_QUEUESTATE);
  lua_pop(L, 1);
  return q && q->owner == lua_topointer(L, idx);
}

static int q_tostring(lua_State *L) {
  if (!state_of(L, 1)) luaio_typeerror(L, 1, "Queue");
  lua_rawgeti(L, 1, 1);
  return describe(L, lua_touserdata(L, -1));
}

/* What a task dump shows for a task waiting on a queue (its stack holds the state). */
static int state_tostring(lua_State *L) {
  return describe(L, luaio_checkudata(L, 1, LUAIO_QUEUESTATE));
}

/* Detach the waiter lists so no task node points into freed memory (only reached when
 * the whole state closes: a waiting task keeps its queue alive on its stack). */
static int q_gc(lua_State *L) {
  queue *q = luaL_testudata(L, 1, LUAIO_QUEUESTATE);
  if (!q) return 0;
  luaio_node *lists[] = {&q->getters, &q->putters, &q->joiners};
  for (int i = 0; i < 3; i++)
    if (lists[i]->next)
      while (!luaio_list_empty(lists[i])) luaio_list_unlink(lists[i]->next);
  free(q->seqs);
  q->seqs = NULL;
  q->seqcap = 0;
  return 0;
}

static const luaL_Reg queue_methods[] = {
  {"put", q_put}, {"get", q_get}, {"put_nowait", q_put_nowait}, {"get_nowait", q_get_nowait},
  {"task_done", q_task_done}, {"join", q_join}, {"shutdown", q_shutdown},
  {"qsize", q_qsize}, {"empty", q_empty}, {"full", q_full}, {"is_shutdown", q_is_shutdown},
  {NULL, NULL}
};

/* ---- constructors ---- */
static int new_queue(lua_State *L, int kind) {
  lua_Integer maxsize = 0;
  int lessidx = 0;
  if (kind == Q_PRIO && lua_type(L, 1) == LUA_TFUNCTION && lua_isnone(L, 2)) {
    lessidx = 1; /* PriorityQueue(less) */
  } else {
    maxsize = luaio_optinteger(L, 1, 0);
    if (kind == Q_PRIO && !lua_isnoneornil(L, 2)) {
      if (!lua_isfunction(L, 2) && luaL_getmetafield(L, 2, "__call") == LUA_TNIL)
        luaio_typeerror(L, 2, "function");
      lessidx = 2;
    } else if (kind != Q_PRIO && lua_gettop(L) > 1) {
      luaio_argerror(L, 2, "no value expected");
    }
  }
  size_t cap = 8;
  if (maxsize > 0 && (lua_Unsigned)maxsize < cap) cap = (size_t)maxsize;
  lua_createtable(L, 1, 12); /* the object: state, maxsize, the methods */
  int obj = lua_gettop(L);
  lua_pushinteger(L, maxsize);
  lua_setfield(L, obj, "maxsize");
  lua_pushvalue(L, UV_MT(kind));
  lua_setmetatable(L, obj);
  queue *q = lua_newuserdatauv(L, sizeof *q, 0);
  memset(q, 0, sizeof *q);
  q->owner = lua_topointer(L, obj);
  q->rt = luaio_rt(L);
  q->kind = kind;
  q->maxsize = maxsize;
  q->cap = cap;
  luaio_list_init(&q->getters);
  luaio_list_init(&q->putters);
  luaio_list_init(&q->joiners);
  luaL_setmetatable(L, LUAIO_QUEUESTATE);
  int state = lua_gettop(L);
  lua_createtable(L, (int)cap, 0); /* the slots */
  if (lessidx) lua_pushvalue(L, lessidx);
  else lua_pushnil(L);
  for (const luaL_Reg *m = queue_methods; m->name; m++) {
    lua_pushlightuserdata(L, q->rt);
    for (int i = 0; i < 3; i++) lua_pushvalue(L, state + i);
    lua_pushcclosure(L, m->func, 4);
    lua_setfield(L, obj, m->name);
  }
  lua_settop(L, state);
  lua_rawseti(L, obj, 1);
  return 1;
}

static int l_queue(lua_State *L) { return new_queue(L, Q_FIFO); }
static int l_lifoqueue(lua_State *L) { return new_queue(L, Q_LIFO); }
static int l_prioqueue(lua_State *L) { return new_queue(L, Q_PRIO); }

static void push_upvalues(lua_State *L, luaio_runtime *rt) {
  lua_pushlightuserdata(L, rt);
  luaL_getmetatable(L, LUAIO_QUEUE);
  luaL_getmetatable(L, LUAIO_LIFOQUEUE);
  luaL_getmetatable(L, LUAIO_PRIOQUEUE);
}

void luaio_queue_open(lua_State *L, luaio_runtime *rt) {
  static const char *const tnames[] = {LUAIO_QUEUE, LUAIO_LIFOQUEUE, LUAIO_PRIOQUEUE};
  luaio_wait_kind_register(rt, &queue_wait);
  int aio = lua_gettop(L);
  luaL_newmetatable(L, LUAIO_QUEUESTATE);
  lua_pushcfunction(L, q_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, state_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "QueueState");
  lua_setfield(L, -2, "__metatable"); /* not reachable by scripts; belt and braces */
  lua_pop(L, 1);
  for (int k = 0; k < 3; k++) {
    luaL_newmetatable(L, tnames[k]);
    lua_pushcfunction(L, q_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
  }
  static const luaL_Reg funcs[] = {
    {"Queue", l_queue}, {"LifoQueue", l_lifoqueue}, {"PriorityQueue", l_prioqueue}, {NULL, NULL}
  };
  lua_pushvalue(L, aio);
  push_upvalues(L, rt);
  luaL_setfuncs(L, funcs, NUPVALUES);
  lua_settop(L, aio);
}
