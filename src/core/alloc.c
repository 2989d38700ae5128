/*
 * alloc.c — every allocation errand makes, in one place.
 *
 * So that tests can make the Nth allocation fail (curl's torture mode,
 * SQLite's fault simulator) and check that each failure comes back as a
 * clear error with nothing leaked: ERRAND_FAIL_ALLOC=N fails the Nth
 * allocation of the process (counting from 1), ERRAND_FAIL_ALLOC=N+ fails
 * the Nth and every later one.  Read once; without it the cost is one
 * predictable branch.
 */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

static _Atomic int64_t fail_at = -1; /* -1: not read yet, 0: never */
static bool fail_after;
static _Atomic int64_t count;

static void read_env(void) {
  const char *v = getenv("ERRAND_FAIL_ALLOC");
  int64_t n = 0;
  if (v && *v) {
    char *end;
    n = strtoll(v, &end, 10);
    if (n < 0)
      n = 0;
    fail_after = *end == '+';
  }
  int64_t expect = -1;
  atomic_compare_exchange_strong(&fail_at, &expect, n);
}

static bool should_fail(void) {
  int64_t at = ld_rlx(&fail_at);
  if (at < 0) {
    read_env();
    at = ld_rlx(&fail_at);
  }
  if (at == 0)
    return false;
  int64_t k = atomic_fetch_add(&count, 1) + 1;
  return k == at || (fail_after && k > at);
}

void *errand__malloc(size_t n) { return should_fail() ? NULL : malloc(n); }

void *errand__calloc(size_t n, size_t size) {
  return should_fail() ? NULL : calloc(n, size);
}

void *errand__realloc(void *p, size_t n) {
  return should_fail() ? NULL : realloc(p, n);
}

void *errand__aligned_alloc(size_t align, size_t n) {
  return should_fail() ? NULL : aligned_alloc(align, n);
}

char *errand__strdup(const char *s) { return should_fail() ? NULL : strdup(s); }

char *errand__strndup(const char *s, size_t n) {
  return should_fail() ? NULL : strndup(s, n);
}
