/* streambuf.c — the StreamReader's growable byte buffer and the readuntil decision
 * (pure C; see streambuf.h). */
#include <stdlib.h>
#include <string.h>
#include "streambuf.h"

void luaio_sbuf_init(luaio_sbuf *b) { memset(b, 0, sizeof *b); }

void luaio_sbuf_free(luaio_sbuf *b) {
  free(b->data);
  luaio_sbuf_init(b);
}

char *luaio_sbuf_reserve(luaio_sbuf *b, size_t min, size_t *avail) {
  if (b->cap - b->end < min && b->start > 0) { /* compact: cheaper than growing */
    size_t len = b->end - b->start;
    if (len) memmove(b->data, b->data + b->start, len);
    b->start = 0;
    b->end = len;
  }
  if (b->cap - b->end < min) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->end < min) {
      if (cap > ((size_t)-1) / 2) return NULL;
      cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) return NULL;
    b->data = p;
    b->cap = cap;
  }
  if (avail) *avail = b->cap - b->end;
  return b->data + b->end;
}

void luaio_sbuf_commit(luaio_sbuf *b, size_t n) { b->end += n; }

int luaio_sbuf_append(luaio_sbuf *b, const char *p, size_t n) {
  if (!n) return 0;
  char *dst = luaio_sbuf_reserve(b, n, NULL);
  if (!dst) return -1;
  memcpy(dst, p, n);
  b->end += n;
  return 0;
}

void luaio_sbuf_consume(luaio_sbuf *b, size_t n) {
  b->start += n;
  if (b->start >= b->end) b->start = b->end = 0; /* empty: the next read lands at the front */
}

/* memmem with a memchr fast path for the one-byte separators readline uses */
static const char *find(const char *h, size_t hlen, const char *sep, size_t seplen) {
  if (seplen == 1) return memchr(h, sep[0], hlen);
  if (hlen < seplen) return NULL;
  const char *last = h + (hlen - seplen);
  for (const char *p = h; p <= last; p++) {
    p = memchr(p, sep[0], (size_t)(last - p) + 1);
    if (!p) return NULL;
    if (memcmp(p + 1, sep + 1, seplen - 1) == 0) return p;
  }
  return NULL;
}

int luaio_sbuf_until(const luaio_sbuf *b, const char *sep, size_t seplen, size_t limit,
                     int eof, size_t *scan, size_t *n) {
  size_t len = luaio_sbuf_len(b);
  const char *data = luaio_sbuf_ptr(b);
  size_t off = *scan;
  if (len >= seplen && len - off >= seplen) {
    const char *p = find(data + off, len - off, sep, seplen);
    if (p) {
      size_t isep = (size_t)(p - data);
      if (isep > limit) { *n = isep; return SEP_OVERRUN; }
      *n = isep + seplen;
      return SEP_FOUND;
    }
    /* a separator may start in the last seplen-1 bytes: search those again next time */
    off = len + 1 - seplen;
    *scan = off;
    if (off > limit) { *n = off; return SEP_OVERRUN; }
  }
  if (eof) { *n = len; return SEP_EOF; }
  return SEP_MORE;
}
