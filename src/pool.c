/* pool.c — a Lua allocator for the luaio binary: small blocks (coroutines, call frames,
 * tasks, closures) come from per-size-class free lists carved out of 64 KiB slabs, with
 * no per-block header; larger blocks go to malloc. Lua passes the old size on every free
 * and resize, so the class of a block is always known. Memory of small blocks is reused,
 * never returned to the system before luaio_pool_destroy. */
#include <stdlib.h>
#include <string.h>
#include "pool.h"

#define SLAB_SIZE (64 * 1024)
#define CLASS_OF(n) (((n) + POOL_GRAIN - 1) / POOL_GRAIN - 1)

typedef struct slab { struct slab *next; } slab;

static void *take(luaio_pool *p, size_t n) {
  size_t c = CLASS_OF(n), size = (c + 1) * POOL_GRAIN;
  void *b = p->free[c];
  if (b) {
    p->free[c] = *(void **)b;
    return b;
  }
  if ((size_t)(p->end - p->cur) < size) {
    slab *s = malloc(SLAB_SIZE);
    if (!s) return NULL;
    s->next = p->slabs;
    p->slabs = s;
    /* blocks start after the link, aligned to the grain */
    p->cur = (char *)s + POOL_GRAIN;
    p->end = (char *)s + SLAB_SIZE;
  }
  b = p->cur;
  p->cur += size;
  return b;
}

static void give(luaio_pool *p, void *b, size_t n) {
  size_t c = CLASS_OF(n);
  *(void **)b = p->free[c];
  p->free[c] = b;
}

void *luaio_pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  luaio_pool *p = ud;
  if (ptr == NULL) osize = 0; /* then osize only says what kind of object it is */
  if (nsize == 0) {
    if (ptr) {
      if (osize <= POOL_MAX) give(p, ptr, osize);
      else free(ptr);
    }
    return NULL;
  }
  if (osize > POOL_MAX && nsize > POOL_MAX) return realloc(ptr, nsize);
  if (ptr && osize <= POOL_MAX && nsize <= POOL_MAX && CLASS_OF(osize) == CLASS_OF(nsize))
    return ptr;
  void *nb = nsize <= POOL_MAX ? take(p, nsize) : malloc(nsize);
  if (!nb) return NULL; /* Lua keeps the old block */
  if (ptr) {
    memcpy(nb, ptr, osize < nsize ? osize : nsize);
    if (osize <= POOL_MAX) give(p, ptr, osize);
    else free(ptr);
  }
  return nb;
}

void luaio_pool_init(luaio_pool *p) { memset(p, 0, sizeof *p); }

void luaio_pool_destroy(luaio_pool *p) {
  while (p->slabs) {
    slab *s = p->slabs;
    p->slabs = s->next;
    free(s);
  }
  memset(p, 0, sizeof *p);
}
