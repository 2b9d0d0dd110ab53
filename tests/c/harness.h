/* harness.h — a tiny TAP harness for the C tests of the embedding API: each TEST prints
 * `ok N - name` or `not ok N - name` (with the failed check), which tools/test.sh counts. */
#ifndef LUAIO_TEST_HARNESS_H
#define LUAIO_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

typedef struct tap_state {
  int n, failed, cur_failed;
  const char *cur;
} tap_state;

/* CHECK records the first failed condition of the running test and keeps going. */
#define CHECK(T, cond)                                                                 \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      if (!(T)->cur_failed) printf("# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      (T)->cur_failed = 1;                                                             \
    }                                                                                  \
  } while (0)
#define CHECK_STR(T, a, b)                                                             \
  do {                                                                                 \
    const char *a_ = (a), *b_ = (b);                                                   \
    if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                           \
      if (!(T)->cur_failed)                                                            \
        printf("# %s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__, b_ ? b_ : "(null)", \
               a_ ? a_ : "(null)");                                                    \
      (T)->cur_failed = 1;                                                             \
    }                                                                                  \
  } while (0)

static inline void tap_run(tap_state *T, const char *name, void (*fn)(tap_state *)) {
  T->cur = name;
  T->cur_failed = 0;
  fn(T);
  T->n++;
  if (T->cur_failed) T->failed++;
  printf("%sok %d - %s\n", T->cur_failed ? "not " : "", T->n, name);
  fflush(stdout);
}

#define RUN(T, fn) tap_run((T), #fn, fn)

static inline int tap_done(tap_state *T) {
  printf("1..%d\n", T->n);
  return T->failed ? 1 : 0;
}

#endif
