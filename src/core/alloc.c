/*
 * alloc.c — every allocation errand makes, in one place.
 *
 * So that tests can make any one of them fail (ERRAND_FAIL_ALLOC=N, see
 * platform/fault.c) and check that the failure comes back as a clear
 * error with nothing leaked.
 */
#include "core/core_int.h"

#include <stdlib.h>
#include <string.h>

static bool should_fail(void) { return errand__fault(ERRAND__FAULT_ALLOC); }

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
