/* pool.h — the luaio binary's small-block allocator for Lua (see pool.c). */
#ifndef LUAIO_POOL_H
#define LUAIO_POOL_H

#include <stddef.h>

#define POOL_GRAIN 16
#define POOL_MAX 512 /* larger blocks go to malloc */

typedef struct luaio_pool {
  void *free[POOL_MAX / POOL_GRAIN]; /* one free list per size class */
  char *cur, *end;                   /* the unused part of the newest slab */
  struct slab *slabs;
} luaio_pool;

void luaio_pool_init(luaio_pool *p);
/* a lua_Alloc: ud is the pool */
void *luaio_pool_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
void luaio_pool_destroy(luaio_pool *p);

#endif
