/*
 * json.c — the JSON checks errand makes, with jansson (a small, well-kept C
 * library made for exactly this; Debian's libjansson-dev).  errand never
 * parses JSON by hand: arguments, results and progress payloads that cross
 * into or out of a job are validated here once.
 */
#include "job/job_int.h"

#include <jansson.h>

bool errand__json_valid(const char *text, bool container_only) {
  if (!text)
    return false;
  json_error_t e;
  json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  if (!v)
    return false;
  bool ok = !container_only || json_is_array(v) || json_is_object(v);
  json_decref(v);
  return ok;
}

bool errand__json_valid_n(const char *text, size_t len) {
  json_error_t e;
  json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &e);
  if (!v)
    return false;
  json_decref(v);
  return true;
}
