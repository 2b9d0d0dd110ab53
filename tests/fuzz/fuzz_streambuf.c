/* fuzz_streambuf.c — libFuzzer target for the StreamReader's buffer and separator logic
 * (src/streambuf.c). The input is a script: a separator, a limit, then chunks that are
 * appended and consumed the way stream.c does; every answer of luaio_sbuf_until is checked
 * against a naive model (memmem over the whole buffer, asyncio's rules). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "streambuf.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static const char *naive_find(const char *h, size_t hlen, const char *sep, size_t seplen) {
  if (hlen < seplen) return NULL;
  for (size_t i = 0; i + seplen <= hlen; i++)
    if (memcmp(h + i, sep, seplen) == 0) return h + i;
  return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  size_t seplen = data[0] % 4 + 1;
  size_t limit = data[1] % 64 + 1;
  data += 2; size -= 2;
  if (size < seplen) return 0;
  char sep[4];
  memcpy(sep, data, seplen);
  data += seplen; size -= seplen;

  luaio_sbuf b;
  luaio_sbuf_init(&b);
  size_t scan = 0;
  int eof = 0;
  while (size > 0 || !eof) {
    if (size == 0) eof = 1;
    else { /* next chunk: a length byte then that many bytes, read through reserve/commit */
      size_t n = data[0] % 17;
      data++; size--;
      if (n > size) n = size;
      size_t avail;
      char *p = luaio_sbuf_reserve(&b, n ? n : 1, &avail);
      CHECK(p && avail >= (n ? n : 1));
      memcpy(p, data, n);
      luaio_sbuf_commit(&b, n);
      data += n; size -= n;
    }
    for (;;) {
      size_t got = 0, len = luaio_sbuf_len(&b);
      const char *buf = luaio_sbuf_ptr(&b);
      int r = luaio_sbuf_until(&b, sep, seplen, limit, eof, &scan, &got);
      const char *f = naive_find(buf, len, sep, seplen);
      if (r == SEP_FOUND) {
        CHECK(f && (size_t)(f - buf) + seplen == got && (size_t)(f - buf) <= limit);
        luaio_sbuf_consume(&b, got);
        scan = 0;
        continue;
      }
      if (r == SEP_OVERRUN) {
        if (f) CHECK((size_t)(f - buf) == got && got > limit);
        else CHECK(got > limit && got <= len);
        /* readline's recovery: drop the line (or everything) and go on */
        luaio_sbuf_consume(&b, f ? got + seplen : len);
        scan = 0;
        continue;
      }
      if (r == SEP_EOF) {
        CHECK(eof && !f && got == len);
        luaio_sbuf_consume(&b, got);
        scan = 0;
        break;
      }
      CHECK(r == SEP_MORE && !eof && (!f || (size_t)(f - buf) + seplen > len) && len <= limit + seplen);
      CHECK(!f);
      break;
    }
    if (eof) break;
  }
  CHECK(luaio_sbuf_len(&b) == 0 || !eof);
  luaio_sbuf_free(&b);
  return 0;
}
