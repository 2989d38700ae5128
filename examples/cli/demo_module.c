/*
 * demo_module.c — a job module for `errand run` (module=PATH#HANDLER jobs).
 *
 * Built as <build>/cli/demo_module.so.  A job file names a handler in it:
 *
 *   [module=build/cli/demo_module.so#wordcount args=["README.md"]] words:
 *
 * errand loads the module where the job runs (a resident worker process by
 * default) and calls errand_module_init, which registers the handlers.  The
 * module uses errand's functions from the program that loads it, so it is
 * not linked to liberrand.
 *
 * Handlers:
 *   wordcount  args: ["file", ...]  counts lines, words and bytes of the
 *              files, reporting progress {"done":i,"total":n,"text":file};
 *              result {"files":n,"lines":L,"words":W,"bytes":B}
 *   sleep      args: {"ms": N, "steps": S}  sleeps N ms in S steps with
 *              progress; stops at once when canceled
 *   fail       args: {"message": "..."}  fails with that message
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errand.h"

/* Tiny readers for the flat JSON these handlers take (the module keeps no
 * JSON library of its own). */
static long num_member(const char *json, const char *key, long dflt) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\"", key);
  const char *p = strstr(json, pat);
  if (!p)
    return dflt;
  p += strlen(pat);
  while (*p == ' ' || *p == ':')
    p++;
  char *end;
  long v = strtol(p, &end, 10);
  return end == p ? dflt : v;
}

/* Next "string" in an array of plain strings (no escapes); advances *pp. */
static int next_string(const char **pp, char *buf, size_t len) {
  const char *p = strchr(*pp, '"');
  if (!p)
    return 0;
  const char *q = strchr(p + 1, '"');
  if (!q)
    return 0;
  size_t n = (size_t)(q - p - 1);
  if (n >= len)
    n = len - 1;
  memcpy(buf, p + 1, n);
  buf[n] = '\0';
  *pp = q + 1;
  return 1;
}

static int wordcount(errand_job *job, const char *args, void *arg) {
  (void)arg;
  int total = 0;
  char name[1024];
  for (const char *p = args; next_string(&p, name, sizeof name);)
    total++;
  long lines = 0, words = 0, bytes = 0;
  int done = 0;
  for (const char *p = args; next_string(&p, name, sizeof name);) {
    if (errand_job_is_canceled(job))
      return errand_job_fail(job, ERRAND_E_CANCELED, "canceled");
    FILE *f = fopen(name, "r");
    if (!f)
      return errand_job_fail(job, 2, "cannot open %s", name);
    int c, inword = 0;
    while ((c = getc(f)) != EOF) {
      bytes++;
      if (c == '\n')
        lines++;
      if (isspace(c))
        inword = 0;
      else if (!inword)
        inword = 1, words++;
    }
    fclose(f);
    done++;
    char prog[1200];
    snprintf(prog, sizeof prog, "{\"done\":%d,\"total\":%d,\"text\":\"%s\"}",
             done, total, strchr(name, '"') ? "?" : name);
    errand_job_progress(job, "progress", prog);
    printf("%s: %ld lines so far\n", name, lines);
  }
  fflush(stdout);
  char res[160];
  snprintf(res, sizeof res,
           "{\"files\":%d,\"lines\":%ld,\"words\":%ld,\"bytes\":%ld}", total,
           lines, words, bytes);
  return errand_job_return(job, res);
}

static int sleeper(errand_job *job, const char *args, void *arg) {
  (void)arg;
  long ms = num_member(args, "ms", 1000);
  long steps = num_member(args, "steps", 10);
  if (steps < 1)
    steps = 1;
  for (long i = 1; i <= steps; i++) {
    int rc = errand_job_sleep(job, ms / steps);
    if (rc)
      return rc;
    char prog[64];
    snprintf(prog, sizeof prog, "[%ld,%ld]", i, steps);
    errand_job_progress(job, "progress", prog);
  }
  return errand_job_return(job, "{\"slept\":true}");
}

static int failer(errand_job *job, const char *args, void *arg) {
  (void)arg;
  const char *m = strstr(args, "\"message\"");
  char msg[256] = "it failed on purpose";
  if (m) {
    m += 9;
    next_string(&m, msg, sizeof msg);
  }
  fprintf(stderr, "about to fail: %s\n", msg);
  fflush(stderr);
  return errand_job_fail(job, 7, "%s", msg);
}

int errand_module_init(errand_jobs *jobs);
int errand_module_init(errand_jobs *jobs) {
  int rc = errand_jobs_register(jobs, "wordcount", wordcount, NULL);
  if (!rc)
    rc = errand_jobs_register(jobs, "sleep", sleeper, NULL);
  if (!rc)
    rc = errand_jobs_register(jobs, "fail", failer, NULL);
  return rc;
}
