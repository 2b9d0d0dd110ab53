/* list.h — the intrusive circular list every wait list is made of (future waiters, queue
 * getters, stream readers ...), and what a node is embedded in. */
#ifndef LUAIO_LIST_H
#define LUAIO_LIST_H

#include <stddef.h>

/* a node sits in a task, a callback handle or a C watch: the kind says which */
enum { NODE_TASK = 1, NODE_HANDLE, NODE_WATCH };
typedef struct luaio_node {
  struct luaio_node *next, *prev; /* NULL when not linked */
  int kind;
} luaio_node;

static inline void luaio_list_init(luaio_node *head) {
  head->next = head->prev = head;
  head->kind = 0;
}

static inline void luaio_list_append(luaio_node *head, luaio_node *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}

/* no-op when not linked */
static inline void luaio_list_unlink(luaio_node *n) {
  if (!n->next) return;
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->next = n->prev = NULL;
}

#define luaio_list_empty(h) ((h)->next == (h))
#define luaio_container(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#endif
