/* streambuf.h — the StreamReader's byte buffer and its separator logic, in plain C (no Lua,
 * no libuv) so the fuzzer in tests/fuzz/ can drive it directly. */
#ifndef LUAIO_STREAMBUF_H
#define LUAIO_STREAMBUF_H

#include <stddef.h>

/* Bytes [start, end) of data are buffered; [end, cap) is free space reads land in. */
typedef struct luaio_sbuf {
  char *data;
  size_t start, end, cap;
} luaio_sbuf;

#define luaio_sbuf_len(b) ((b)->end - (b)->start)
#define luaio_sbuf_ptr(b) ((b)->data + (b)->start)

void luaio_sbuf_init(luaio_sbuf *b);
void luaio_sbuf_free(luaio_sbuf *b);
/* Makes at least `min` bytes free after the data (compacting first, growing only when that
 * is not enough); returns the free space and its size, or NULL when memory runs out. */
char *luaio_sbuf_reserve(luaio_sbuf *b, size_t min, size_t *avail);
void luaio_sbuf_commit(luaio_sbuf *b, size_t n);        /* n bytes were written at the end */
int luaio_sbuf_append(luaio_sbuf *b, const char *p, size_t n); /* 0, or -1 out of memory */
void luaio_sbuf_consume(luaio_sbuf *b, size_t n);       /* drops n bytes from the front */

/* What readuntil(sep) can do with the buffer as it is (asyncio's algorithm):
 *   SEP_FOUND    the chunk up to and including sep is *n bytes long;
 *   SEP_OVERRUN  LimitOverrunError with consumed = *n (sep found past the limit, or not
 *                found in more than `limit` bytes); the data stays;
 *   SEP_MORE     wait for more data, then call again with the same *scan;
 *   SEP_EOF      no sep before EOF: IncompleteReadError with the *n bytes left.
 * *scan carries the offset already searched between calls (start it at 0; reset it
 * whenever data is consumed) so a growing buffer is never rescanned from the start. */
enum { SEP_FOUND = 0, SEP_MORE, SEP_OVERRUN, SEP_EOF };
int luaio_sbuf_until(const luaio_sbuf *b, const char *sep, size_t seplen, size_t limit,
                     int eof, size_t *scan, size_t *n);

#endif
