/*
 * fuzz_jobfile.c — libFuzzer target for the CLI's job-file parser
 * (cli/jobfile.c, cli_jobfile_parse).
 *
 * The input is a job file.  Byte 0 chooses max_errors (1 + b % 8, so the
 * "N more error(s) not shown" path is reached too); the rest is the file,
 * read through fmemopen as the CLI reads a real one.
 *
 * Checks (abort on failure), besides ASan/UBSan/leaks:
 *   - the return value is the number of errors: >= 0, and 0 exactly when
 *     the parse produced at least one job and wrote no error line;
 *   - every error line the parser wrote starts with "<display>:";
 *   - on success every job is complete and consistent: ids 1..n in order,
 *     a line number >= 1 and increasing, a non-empty name, unique names,
 *     explicit names no longer than 64; a shell job has a command and no
 *     module or args, a module job has "file://" + a path and args that are
 *     compact JSON of an array or object (jansson reads them back and prints
 *     them identically); priority 0..3, delay >= 0, timeout -1 or >= 0,
 *     retries -1..1000, mode a real mode that fits the kind;
 *   - parsing the same bytes again gives the same result (no hidden state).
 * ERRAND_FUZZ_LENIENT=1 skips the checks of known, reported bugs (so a long
 * run can look for others): a module job whose path is a directory
 * ("module=/") is accepted with an empty name.
 */
#include "cli.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_jobfile: check failed at %s:%d: %s\n", __FILE__,   \
              __LINE__, #cond);                                                \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static int parse(const uint8_t *text, size_t n, int max_errors,
                 cli_jobfile *jf, char **errs, size_t *errs_len) {
  FILE *in, *err;
  int rc;
  /* fmemopen of 0 bytes is refused by some libcs: give it one byte and
   * read none of it. */
  static char empty[1];
  in = n ? fmemopen((void *)text, n, "r") : fmemopen(empty, 1, "r");
  CHECK(in != NULL);
  if (!n) fgetc(in);
  err = open_memstream(errs, errs_len);
  CHECK(err != NULL);
  rc = cli_jobfile_parse("jobs.txt", in, jf, err, max_errors);
  fclose(err);
  fclose(in);
  return rc;
}

static int lenient = -1;

static void check_jobs(const cli_jobfile *jf) {
  if (lenient < 0) {
    const char *l = getenv("ERRAND_FUZZ_LENIENT");
    lenient = l && *l && *l != '0';
  }
  CHECK(jf->n >= 1 && jf->n <= jf->cap && jf->jobs != NULL);
  for (size_t i = 0; i < jf->n; i++) {
    const cli_job *j = &jf->jobs[i];
    CHECK(j->id == (int)i + 1);
    CHECK(j->line >= 1);
    if (i) CHECK(j->line > jf->jobs[i - 1].line);
    CHECK(j->name);
    CHECK(j->name[0] || (lenient && j->kind == CLI_MODULE));
    for (size_t k = 0; k < i; k++)
      CHECK(strcmp(jf->jobs[k].name, j->name) != 0);
    CHECK((int)j->priority >= 0 && (int)j->priority <= 3);
    CHECK(j->delay_ms >= 0);
    CHECK(j->timeout_ms >= -1);
    CHECK(j->retries >= -1 && j->retries <= 1000);
    if (j->kind == CLI_SHELL) {
      CHECK(j->command && j->command[0]);
      CHECK(!j->module && !j->args);
      CHECK(j->mode == CLI_MODE_POOL || j->mode == CLI_MODE_DEDICATED);
      /* A command never starts with blanks or ends with them. */
      CHECK(j->command[0] != ' ' && j->command[0] != '\t');
      size_t L = strlen(j->command);
      CHECK(j->command[L - 1] != ' ' && j->command[L - 1] != '\t');
    } else {
      CHECK(j->kind == CLI_MODULE);
      CHECK(!j->command);
      CHECK(j->module && strncmp(j->module, "file:///", 8) == 0);
      CHECK(j->mode >= CLI_MODE_POOL && j->mode <= CLI_MODE_PROCESS);
      CHECK(j->args);
      json_error_t e;
      json_t *v = json_loads(j->args, 0, &e);
      CHECK(v && (json_is_array(v) || json_is_object(v)));
      char *again = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      CHECK(again && strcmp(again, j->args) == 0);
      free(again);
      json_decref(v);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536)
    return 0;
  int max_errors = 1 + data[0] % 8;
  const uint8_t *text = data + 1;
  size_t n = size - 1;

  cli_jobfile jf, jf2;
  char *errs = NULL, *errs2 = NULL;
  size_t elen = 0, elen2 = 0;
  int rc = parse(text, n, max_errors, &jf, &errs, &elen);
  CHECK(rc >= 0);
  if (rc == 0) {
    CHECK(elen == 0);
    check_jobs(&jf);
  } else {
    CHECK(elen > 0);
    /* Every line is about this file. */
    for (char *p = errs; p && *p;) {
      CHECK(strncmp(p, "jobs.txt:", 9) == 0);
      char *nl = strchr(p, '\n');
      if (!nl) break;
      p = nl + 1;
    }
  }

  /* Same bytes, same result. */
  int rc2 = parse(text, n, max_errors, &jf2, &errs2, &elen2);
  CHECK(rc2 == rc);
  CHECK(elen2 == elen && (elen == 0 || memcmp(errs, errs2, elen) == 0));
  CHECK(jf2.n == jf.n);
  for (size_t i = 0; i < jf.n; i++) {
    CHECK(strcmp(jf.jobs[i].name, jf2.jobs[i].name) == 0);
    CHECK(jf.jobs[i].kind == jf2.jobs[i].kind);
  }

  cli_jobfile_free(&jf);
  cli_jobfile_free(&jf2);
  CHECK(jf.n == 0 && jf.jobs == NULL);
  free(errs);
  free(errs2);
  return 0;
}
