/*
 * error.c — error codes to text, and the per-thread detail message.
 *
 * The names and messages come from the same X-macro list as the enum in
 * errand.h, so the three can never disagree.
 */
#include "core/core_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[256];

const char *errand_strerror(int code) {
  switch (code) {
#define ERRAND__TEXT(name, value, text)                                        \
  case value:                                                                  \
    return text;
    ERRAND_ERROR_MAP(ERRAND__TEXT)
#undef ERRAND__TEXT
  default:
    return "task-defined error";
  }
}

const char *errand_errname(int code) {
  switch (code) {
#define ERRAND__NAME(name, value, text)                                        \
  case value:                                                                  \
    return "ERRAND_" #name;
    ERRAND_ERROR_MAP(ERRAND__NAME)
#undef ERRAND__NAME
  default:
    return "ERRAND_E_UNKNOWN";
  }
}

const char *errand_last_error(void) { return last_error; }

int errand__err(int code, const char *fmt, ...) {
  /* Through a copy: callers may pass errand_last_error() itself as an
   * argument (to wrap the detail of a failed inner call). */
  char buf[sizeof last_error];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  memcpy(last_error, buf, sizeof buf);
  if (n < 0)
    last_error[0] = '\0';
  return code;
}

errand__error *errand__error_newv(int code, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    n = 0;
  errand__error *e = errand__malloc(sizeof *e + (size_t)n + 1);
  if (!e)
    return NULL;
  e->code = code;
  e->from_child = false;
  if (n > 0)
    vsnprintf(e->message, (size_t)n + 1, fmt, ap);
  else
    e->message[0] = '\0';
  return e;
}

errand__error *errand__error_new(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  errand__error *e = errand__error_newv(code, fmt, ap);
  va_end(ap);
  return e;
}
