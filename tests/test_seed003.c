/*
 * test_seed003.c — seed 003 in-process: runs the example
 * examples/seed003_return_value.c (included here with its main() left out)
 * with a short sleep and checks its output against the seed's, line by
 * line, timestamps aside.  Ids are 1, 2, 3 in errand (10, 11, 12 in the
 * seed, whose host had run other tasks before).  Also seed 003's
 * wait-for-any and fire-and-forget scenarios.
 */
#define SEED003_NO_MAIN
#include "../examples/seed003_return_value.c"

#include <ctype.h>

#include "helpers.h"

static const char *const seed_table[] = {
    "***",
    "Id          = 1",
    "Status      = RanToCompletion",
    "IsFaulted   = false",
    "IsCanceled  = false",
    "IsCompleted = true",
    "IsSucceeded = true",
    "Result      = [TASK 1] RETURN",
    "***",
    "Id          = 2",
    "Status      = Faulted",
    "IsFaulted   = true",
    "IsCanceled  = false",
    "IsCompleted = true",
    "IsSucceeded = false",
    "Result      = One or more errors occurred. ([TASK 2] ERROR)",
    "***",
    "Id          = 3",
    "Status      = RanToCompletion",
    "IsFaulted   = false",
    "IsCanceled  = false",
    "IsCompleted = true",
    "IsSucceeded = true",
    "Result      = [TASK 3] RETURN",
};
#define SEED_TABLE_LINES ((int)(sizeof seed_table / sizeof seed_table[0]))

/* "[YYYY-MM-DD HH:MM:SS] " */
static int has_stamp(const char *line) {
  static const char pat[] = "[dddd-dd-dd dd:dd:dd] ";
  size_t i;
  for (i = 0; i < sizeof pat - 1; i++) {
    if (line[i] == '\0') return 0;
    if (pat[i] == 'd' ? !isdigit((unsigned char)line[i]) : line[i] != pat[i])
      return 0;
  }
  return 1;
}

enum { MAX_LINES = 64 };

/* Splits buf into lines (in place); returns the count. */
static int split_lines(char *buf, char **lines) {
  int n = 0;
  char *p = buf;
  while (*p && n < MAX_LINES) {
    char *nl = strchr(p, '\n');
    lines[n++] = p;
    if (!nl) break;
    *nl = '\0';
    p = nl + 1;
  }
  return n;
}

static int index_of(char **lines, int n, const char *s) {
  int i;
  for (i = 0; i < n; i++)
    if (strcmp(lines[i], s) == 0) return i;
  return -1;
}

TEST(seed003_return_value_or_error_prints_the_seed_table) {
  char *buf = NULL, *lines[MAX_LINES];
  size_t size = 0;
  FILE *out = open_memstream(&buf, &size);
  int n, i, first_table;
  REQUIRE(out != NULL);
  CHECK_OK(seed003_run(out, 100));
  fclose(out);
  REQUIRE(buf != NULL);
  n = split_lines(buf, lines);
  /* 1 + 3*2 task lines + WAIT ALL + 24 table lines + 1 */
  if (!CHECK_EQ_INT(n, 1 + 6 + 1 + SEED_TABLE_LINES + 1)) {
    for (i = 0; i < n; i++) printf("  | %s\n", lines[i]);
    free(buf);
    return;
  }
  for (i = 0; i < n; i++) {
    if (!CHECK(has_stamp(lines[i]))) printf("  bad prefix: %s\n", lines[i]);
    lines[i] += strlen("[YYYY-MM-DD HH:MM:SS] ");
  }
  CHECK_EQ_STR(lines[0], "[MAIN] НАЧАЛО");
  CHECK_EQ_STR(lines[n - 1], "[MAIN] КОНЕЦ");
  /* The task lines interleave as the threads run; each task starts before
   * it ends, and every end comes before the table (WAIT ALL). */
  first_table = 1 + 6 + 1;
  for (i = 1; i <= 3; i++) {
    char start[64], end[64];
    int s, e;
    snprintf(start, sizeof start, "[TASK %d] НАЧАЛО", i);
    snprintf(end, sizeof end, "[TASK %d] КОНЕЦ", i);
    s = index_of(lines, first_table, start);
    e = index_of(lines, first_table, end);
    CHECK(s > 0);
    CHECK(e > s);
  }
  CHECK(index_of(lines, first_table, "[MAIN] WAIT ALL") > 0);
  for (i = 0; i < SEED_TABLE_LINES; i++)
    CHECK_EQ_STR(lines[first_table + i], seed_table[i]);
  free(buf);
}

/* wait-for-any.djs: WHILE ARRAY_COUNT(@tasks) > 0 WAIT ANY @tasks INTO
 * @task — every task comes out exactly once. */
static int sleepy(errand_task *self, void *arg) {
  return errand_task_sleep(self, (int64_t)(intptr_t)arg);
}

TEST(seed003_wait_for_any_reports_each_task_once) {
  errand_task *tasks[3], *all[3];
  int seen[4] = {0, 0, 0, 0};
  size_t n = 3;
  int i;
  errand_runtime *rt = rt_new(3);
  REQUIRE(rt);
  for (i = 0; i < 3; i++) {
    REQUIRE_OK(errand_post(rt, sleepy, (void *)(intptr_t)(30 * (3 - i)), NULL,
                           &tasks[i]));
    all[i] = tasks[i];
  }
  while (n > 0) {
    size_t idx = 99;
    uint64_t id;
    if (!CHECK_OK(errand_wait_any(tasks, n, -1, &idx))) break;
    if (!CHECK(idx < n)) break;
    CHECK_EQ_INT(status_of(tasks[idx]), ERRAND_STATUS_RAN_TO_COMPLETION);
    id = id_of(tasks[idx]);
    if (CHECK(id >= 1 && id <= 3)) seen[id]++;
    tasks[idx] = tasks[n - 1]; /* remove it from the array */
    n--;
  }
  CHECK(seen[1] == 1 && seen[2] == 1 && seen[3] == 1);
  for (i = 0; i < 3; i++) CHECK_OK(errand_task_release(all[i]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* fire-and-forget.djs: the main script ends before its tasks; they still
 * run to their end (the host here is the runtime: destroy drains). */
static atomic_int ends;
static int ff_task(errand_task *self, void *arg) {
  int rc = errand_task_sleep(self, 50);
  (void)arg;
  if (rc == 0) atomic_fetch_add(&ends, 1);
  return rc;
}

TEST(seed003_fire_and_forget_tasks_finish) {
  int i;
  errand_runtime *rt = rt_new(3);
  REQUIRE(rt);
  atomic_store(&ends, 0);
  for (i = 0; i < 3; i++) {
    errand_task *t = NULL;
    CHECK_OK(errand_post(rt, ff_task, NULL, NULL, &t));
    CHECK_OK(errand_task_release(t)); /* no INTO @tasks */
  }
  CHECK(check_wait_count(&ends, 3, CHECK_LONG_MS));
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&ends), 3);
}

CHECK_MAIN()
