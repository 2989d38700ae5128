/*
 * test_worker_protocol.c — the worker side of docs/protocol.md, driven by a
 * fake host: this test starts itself as a worker on one end of a socket
 * pair and writes frames byte for byte, so it can send what errand's own
 * host only sends by chance (a RUN and its CANCEL in one write).
 */
/* ERRAND_TEST_LABELS: valgrind */
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "proc/frame.h"

extern char **environ;

/* Sleeps up to 20 s, or until the job is cancelled. */
static int h_sleepy(errand_job *job, const char *args, void *arg) {
  (void)args;
  (void)arg;
  int rc = errand_job_sleep(job, 20000);
  if (rc == ERRAND_E_CANCELED)
    return errand_job_fail(job, ERRAND_E_CANCELED, "saw the cancel");
  return errand_job_return(job, "\"slept\"");
}

static int h_echo(errand_job *job, const char *args, void *arg) {
  (void)arg;
  return errand_job_return(job, args);
}

static char self_path[4096];

typedef struct fake_host {
  int sock;
  pid_t pid;
  errand__buf in;
} fake_host;

/* Starts this program as a worker with the other end of a socket pair as
 * its descriptor 3, as errand's host does. */
static int start_worker(fake_host *h) {
  int sv[2];
  memset(h, 0, sizeof *h);
  if (!CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0))
    return 0;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
  char *argv[] = {self_path, NULL};
  char *env[] = {"ERRAND_WORKER=1", "ERRAND_WORKER_FD=3", "ERRAND_PROTOCOL=1",
                 NULL};
  int rc = posix_spawn(&h->pid, self_path, &fa, NULL, argv, env);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  h->sock = sv[0];
  return CHECK_EQ_INT(rc, 0);
}

/* The next frame from the worker within timeout_ms; 0 on timeout or EOF. */
static int next_frame(fake_host *h, errand__frame *f, int timeout_ms) {
  int64_t end = check_now_ms() + timeout_ms;
  for (;;) {
    const char *why = "";
    int r = errand__frame_next(&h->in, ERRAND__HOST_ACCEPTS,
                               ERRAND__FRAME_MAX_PAYLOAD, f, &why);
    if (r == ERRAND__FRAME_OK)
      return 1;
    if (!CHECK(r != ERRAND__FRAME_BAD)) {
      fprintf(stderr, "  bad frame from the worker: %s\n", why);
      return 0;
    }
    int64_t left = end - check_now_ms();
    struct pollfd p = {.fd = h->sock, .events = POLLIN};
    if (left <= 0 || poll(&p, 1, (int)left) <= 0)
      return 0;
    errand__buf_compact(&h->in);
    if (errand__buf_reserve(&h->in, 4096))
      return 0;
    ssize_t k = read(h->sock, h->in.data + h->in.len, 4096);
    if (k <= 0)
      return 0;
    h->in.len += (size_t)k;
  }
}

static void stop_worker(fake_host *h) {
  int status = 0;
  close(h->sock); /* end of file: the worker exits */
  CHECK_EQ_INT(waitpid(h->pid, &status, 0), h->pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  errand__buf_free(&h->in);
}

/* Sends RUN(id, payload) and, when cancel_id is not 0, CANCEL(cancel_id)
 * in the same write, so the worker reads them in one go; then the worker's
 * answer for id into *f.  1 if one came within 10 s. */
static int run_job(fake_host *h, uint64_t id, const char *payload,
                   uint64_t cancel_id, errand__frame *f) {
  errand__buf out = {0};
  int ok = errand__frame_encode(&out, ERRAND__F_RUN, id, payload,
                                strlen(payload)) == 0 &&
           (!cancel_id || errand__frame_encode(&out, ERRAND__F_CANCEL,
                                               cancel_id, NULL, 0) == 0);
  ok = CHECK(ok) &&
       CHECK_EQ_INT((int)write(h->sock, out.data, out.len), (int)out.len) &&
       CHECK(next_frame(h, f, 10000)) && CHECK(f->id == id);
  errand__buf_free(&out);
  return ok;
}

/* Starts a worker and reads its HELLO. */
static int start_and_greet(fake_host *h) {
  errand__frame f;
  return start_worker(h) && CHECK(next_frame(h, &f, 10000)) &&
         CHECK_EQ_INT(f.type, ERRAND__F_HELLO);
}

TEST(a_cancel_in_the_same_write_as_its_run_reaches_the_job) {
  fake_host h;
  errand__frame f;
  REQUIRE(start_and_greet(&h));
  /* A lost cancel would leave the handler asleep for 20 s. */
  if (run_job(&h, 7, "{\"name\":\"sleepy\",\"args\":[]}", 7, &f)) {
    CHECK_EQ_INT(f.type, ERRAND__F_ERROR);
    CHECK(f.len > 0 && memmem(f.payload, f.len, "saw the cancel", 14));
  }
  /* The worker goes on serving. */
  if (run_job(&h, 8, "{\"name\":\"echo\",\"args\":[1]}", 0, &f)) {
    CHECK_EQ_INT(f.type, ERRAND__F_RESULT);
    CHECK(f.len == 3 && memcmp(f.payload, "[1]", 3) == 0);
  }
  stop_worker(&h);
}

TEST(a_cancel_for_another_job_is_ignored) {
  fake_host h;
  errand__frame f;
  REQUIRE(start_and_greet(&h));
  if (run_job(&h, 9, "{\"name\":\"echo\",\"args\":{\"k\":2}}", 10, &f))
    CHECK_EQ_INT(f.type, ERRAND__F_RESULT);
  stop_worker(&h);
}

int main(int argc, char **argv) {
  errand_jobs *jobs = NULL;
  if (errand_jobs_create(&jobs) != 0 ||
      errand_jobs_register(jobs, "sleepy", h_sleepy, NULL) != 0 ||
      errand_jobs_register(jobs, "echo", h_echo, NULL) != 0)
    return 2;
  errand_worker_main(jobs); /* a worker never returns */
  ssize_t n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
  if (n <= 0)
    return 2;
  self_path[n] = '\0';
  int rc = check_run(argc, argv);
  errand_jobs_release(jobs);
  return rc;
}
