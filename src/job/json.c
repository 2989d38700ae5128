/*
 * json.c — the JSON checks errand makes, with jansson (a small, well-kept C
 * library made for exactly this; Debian's libjansson-dev).  errand never
 * parses JSON by hand: arguments, results and progress payloads that cross
 * into or out of a job are validated here once.
 */
#include "job/job_int.h"

#include <jansson.h>

int errand__json_check(const char *text, bool container_only) {
  if (!text)
    return ERRAND_E_INVALID;
  json_error_t e;
  json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  if (!v)
    return json_error_code(&e) == json_error_out_of_memory ? ERRAND_E_NOMEM
                                                           : ERRAND_E_INVALID;
  bool ok = !container_only || json_is_array(v) || json_is_object(v);
  json_decref(v);
  return ok ? 0 : ERRAND_E_INVALID;
}

bool errand__json_valid(const char *text, bool container_only) {
  return errand__json_check(text, container_only) == 0;
}

bool errand__json_valid_n(const char *text, size_t len) {
  json_error_t e;
  json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  if (!v)
    return false;
  json_decref(v);
  return true;
}
