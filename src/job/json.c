/*
 * json.c — the JSON checks errand makes, with jansson (a small, well-kept C
 * library made for exactly this; Debian's libjansson-dev).  errand never
 * parses JSON by hand: arguments, results and progress payloads that cross
 * into or out of a job are read here.
 */
#include "job/job_int.h"

#include <string.h>

/* jansson does not report every failed allocation as
 * json_error_out_of_memory: a byte its lexer cannot save surfaces as a
 * syntax error further on, and a container it cannot create ends the parse
 * with no error text at all.  Input that is really malformed fails the same
 * way every time, so a failed parse is made once more: it is bad input only
 * when the second attempt fails at the same place with the same message.
 * This costs a second parse on bad input only. */
int errand__json_parse(const char *text, size_t len, size_t flags,
                       json_t **out) {
  if (out)
    *out = NULL;
  if (!text)
    return ERRAND_E_INVALID;
  json_error_t e1, e2;
  json_t *v = json_loadb(text, len, flags, &e1);
  if (!v && json_error_code(&e1) != json_error_out_of_memory && e1.text[0]) {
    v = json_loadb(text, len, flags, &e2);
    if (!v && json_error_code(&e2) != json_error_out_of_memory &&
        e1.position == e2.position && strcmp(e1.text, e2.text) == 0)
      return ERRAND_E_INVALID;
  }
  if (!v)
    return ERRAND_E_NOMEM;
  if (out)
    *out = v;
  else
    json_decref(v);
  return 0;
}

int errand__json_check(const char *text, bool container_only) {
  if (!text)
    return ERRAND_E_INVALID;
  json_t *v;
  int rc = errand__json_parse(text, strlen(text),
                              JSON_DECODE_ANY | JSON_ALLOW_NUL, &v);
  if (rc)
    return rc;
  bool ok = !container_only || json_is_array(v) || json_is_object(v);
  json_decref(v);
  return ok ? 0 : ERRAND_E_INVALID;
}
