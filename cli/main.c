/*
 * main.c — the errand program: commands, options and help.
 *
 *   errand run [options] [FILE]     run the jobs in FILE (or stdin)
 *   errand help [run|format|progress|exit]
 *   errand --help | --version
 *
 * The program is also its own worker process for module jobs run in a
 * resident pool: errand_worker_main() comes first and never returns in a
 * worker, which loads each job's module itself from the file:// name the job
 * carries (so nothing but the name crosses the process boundary).
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cli_progname = "errand";

static const char usage_top[] =
    "Usage: errand run [options] [FILE]\n"
    "       errand help [run|format|progress|exit]\n"
    "       errand --help | --version\n"
    "\n"
    "errand runs the jobs described in FILE (or standard input) in the\n"
    "background, shows them while they run, and prints a table when they\n"
    "are done.  It is the command-line front end of liberrand.\n"
    "\n";

static const char help_run[] =
    "errand run [options] [FILE]\n"
    "\n"
    "Runs every job in FILE ('-' or nothing: standard input) and exits when\n"
    "all of them are final.  Nothing starts if FILE has an error.\n"
    "\n"
    "Options:\n"
    "  -j, --parallel N       jobs running at once (default: online CPUs)\n"
    "  -t, --timeout DUR      default per-job timeout (default: none); a job\n"
    "                         past it is stopped and reported Canceled\n"
    "  -T, --total-timeout DUR\n"
    "                         overall timeout: when it expires every job not\n"
    "                         yet done is canceled and reported as such\n"
    "  -p, --priority LEVEL   default priority: user-blocking (high),\n"
    "                         user-visible (normal, the default), background\n"
    "                         (low)\n"
    "  -r, --retries N        run a failed job up to N more times (default 0)\n"
    "      --first            stop at the first job that succeeds; cancel the\n"
    "                         rest (exit 0 if one succeeded)\n"
    "  -x, --fail-fast        stop at the first job that fails; cancel the "
    "rest\n"
    "      --json             print one JSON object per job on stdout as it\n"
    "                         ends (instead of the table); events go to "
    "stderr\n"
    "  -l, --log-dir DIR      keep each job's output in DIR/NN-NAME.out and\n"
    "                         .err (default: a new errand-XXXXXX folder in\n"
    "                         $TMPDIR, printed at the end)\n"
    "      --tail             also show the jobs' output as it comes, each\n"
    "                         line prefixed by 'NAME | ' (stderr: 'NAME ! ')\n"
    "      --live, --no-live  force the live view on or off (default: on when\n"
    "                         the output is a terminal)\n"
    "  -q, --quiet            no event lines and no live view, just the table\n"
    "      --kill-grace DUR   time between SIGTERM and SIGKILL (default 2s)\n"
    "      --color WHEN       auto (default), always or never; NO_COLOR is\n"
    "                         honoured\n"
    "  -n, --dry-run          check FILE and list the jobs; run nothing\n"
    "  -h, --help             this text\n"
    "\n"
    "DUR is a number with a unit: 250ms, 2s, 1.5m, 1h, 1m30s (no unit:\n"
    "seconds).  0 means none.\n"
    "\n"
    "While it runs, on a terminal: one line per running job (name, elapsed\n"
    "time, a progress bar when the job reports progress) and the totals.\n"
    "Otherwise one line per event, in the order they happen:\n"
    "  [   0.004] start    #1 compress (pid 4242)\n"
    "  [   0.210] progress #2 checksums 3/10 src/task\n"
    "  [   1.020] finish   #1 compress: RanToCompletion, exit code 0, 1.0s\n"
    "  [   2.001] finish   #4 slow: Canceled, run timeout of 2000 ms expired, "
    "2.0s\n"
    "  [   3.000] cancel   all: overall timeout of 3s expired\n"
    "\n"
    "At the end, the table of seed 003: Id, Name, Status (Created,\n"
    "WaitingToRun, Running, WaitingForChildrenToComplete, RanToCompletion,\n"
    "Canceled, Faulted), IsFaulted, IsCanceled, IsCompleted, IsSucceeded and\n"
    "Result (the exit code, a module's JSON result, or the error text).\n"
    "\n"
    "Ctrl-C cancels every job (SIGTERM to each job's process group, SIGKILL\n"
    "after the grace period; a second Ctrl-C kills at once), still prints the\n"
    "table, and exits 130.\n"
    "\n"
    "See also: errand help format, errand help progress, errand help exit,\n"
    "man errand.\n";

static const char help_format[] =
    "The job file\n"
    "\n"
    "One job per line.  Blank lines and lines starting with # are ignored;\n"
    "a line ending in \\ continues on the next one (as in sh).\n"
    "\n"
    "  [key=value ...] name: command ...\n"
    "\n"
    "Both the settings in brackets and the name are optional:\n"
    "\n"
    "  gzip -9 -k data.txt                        a command, no name\n"
    "  compress: gzip -9 -k data.txt              named 'compress'\n"
    "  [priority=high timeout=5s] fast: make -C lib\n"
    "  [delay=500ms retries=2] fetch: curl -fsS https://example.org/ -o x\n"
    "  [module=./jobs.so#resize args={\"w\": 64}] thumb:\n"
    "\n"
    "A command runs with /bin/sh -c in the current directory, in a process\n"
    "group of its own, stdin on /dev/null.  A name is one word of letters,\n"
    "digits, '_', '.', '-' followed by ':' and a blank (so 'echo a:b' is a\n"
    "command); names must be unique.  Settings start with '[' directly\n"
    "followed by a letter (the shell's '[ -f x ]' has a space).\n"
    "\n"
    "Settings:\n"
    "  priority=LEVEL  user-blocking|high, user-visible|normal,\n"
    "                  background|low (default: -p, else user-visible)\n"
    "  timeout=DUR     stop the job after DUR (default: -t); reported\n"
    "                  Canceled with 'run timeout of N ms expired'\n"
    "  delay=DUR       do not start before DUR has passed\n"
    "  retries=N       run again up to N times if it fails or times out\n"
    "  mode=MODE       commands: pool (default; counts against -j) or\n"
    "                  dedicated (a thread of its own, not counted);\n"
    "                  modules: worker (default; a resident worker process\n"
    "                  of a pool of -j), process (a fresh process), pool or\n"
    "                  dedicated (a thread inside errand)\n"
    "  module=PATH#HANDLER\n"
    "                  the job is HANDLER of the shared object PATH (which\n"
    "                  exports errand_module_init); no command then\n"
    "  args=JSON       the module job's arguments: a JSON array or object\n"
    "                  (default [])\n"
    "\n"
    "A value may be \"quoted\" to hold blanks.  Errors are reported as\n"
    "FILE:LINE: message, and then nothing starts (exit code 2).\n";

static const char help_progress[] =
    "Progress\n"
    "\n"
    "A command finds the descriptor number in $ERRAND_PROGRESS_FD and may\n"
    "write lines to it:\n"
    "\n"
    "  progress N/M [text]     e.g. progress 3/10 hashing src/\n"
    "  progress P% [text]      e.g. progress 40%\n"
    "\n"
    "  for i in 1 2 3; do work $i; echo \"progress $i/3\" "
    ">&$ERRAND_PROGRESS_FD; "
    "done\n"
    "\n"
    "Other lines are ignored.  Commands also get ERRAND_JOB_ID,\n"
    "ERRAND_JOB_NAME and ERRAND_JOB_ATTEMPT.\n"
    "\n"
    "A module job reports progress with errand's protocol:\n"
    "errand_job_progress(job, \"progress\", JSON) where JSON is a percentage\n"
    "(40), \"3/10\", [3,10], {\"done\":3,\"total\":10,\"text\":\"...\"} or\n"
    "{\"percent\":40}.  Events with other names are shown as they are.\n";

static const char help_exit[] =
    "Exit status\n"
    "\n"
    "  0    every job succeeded (with --first: one job succeeded)\n"
    "  1    a job failed, timed out or was canceled\n"
    "  2    usage error, or an error in the job file (nothing ran)\n"
    "  130  interrupted by Ctrl-C (SIGINT); 143 for SIGTERM, 129 for SIGHUP\n"
    "\n"
    "Whatever the way out, every job's process group is gone before errand\n"
    "exits.\n";

static void print_help(FILE *out) {
  fputs(usage_top, out);
  fputs(help_run, out);
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: ", cli_progname);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nTry 'errand help run'.\n");
  return 2;
}

static int cmd_help(int argc, char **argv) {
  if (argc < 2) {
    print_help(stdout);
    return 0;
  }
  const char *topic = argv[1];
  if (!strcmp(topic, "run"))
    fputs(help_run, stdout);
  else if (!strcmp(topic, "format") || !strcmp(topic, "jobs") ||
           !strcmp(topic, "file"))
    fputs(help_format, stdout);
  else if (!strcmp(topic, "progress"))
    fputs(help_progress, stdout);
  else if (!strcmp(topic, "exit"))
    fputs(help_exit, stdout);
  else
    return usage_error("no help on '%s' (try run, format, progress, exit)",
                       topic);
  return 0;
}

static int cmd_run(int argc, char **argv) {
  cli_options o;
  memset(&o, 0, sizeof o);
  o.live = -1;
  o.color = -1;
  o.kill_grace_ms = 2000;
  enum {
    OPT_FIRST = 1000,
    OPT_JSON,
    OPT_TAIL,
    OPT_LIVE,
    OPT_NO_LIVE,
    OPT_GRACE,
    OPT_COLOR
  };
  static const struct option longs[] = {
      {"parallel", required_argument, 0, 'j'},
      {"timeout", required_argument, 0, 't'},
      {"total-timeout", required_argument, 0, 'T'},
      {"priority", required_argument, 0, 'p'},
      {"retries", required_argument, 0, 'r'},
      {"first", no_argument, 0, OPT_FIRST},
      {"fail-fast", no_argument, 0, 'x'},
      {"json", no_argument, 0, OPT_JSON},
      {"log-dir", required_argument, 0, 'l'},
      {"tail", no_argument, 0, OPT_TAIL},
      {"live", no_argument, 0, OPT_LIVE},
      {"no-live", no_argument, 0, OPT_NO_LIVE},
      {"quiet", no_argument, 0, 'q'},
      {"kill-grace", required_argument, 0, OPT_GRACE},
      {"color", required_argument, 0, OPT_COLOR},
      {"dry-run", no_argument, 0, 'n'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "+:j:t:T:p:r:xl:qnh", longs, NULL)) !=
         -1) {
    char *end;
    long v;
    switch (c) {
    case 'j':
      v = strtol(optarg, &end, 10);
      if (!*optarg || *end || v < 1 || v > 1024)
        return usage_error("--parallel '%s': a number from 1 to 1024", optarg);
      o.parallel = (int)v;
      break;
    case 't':
      if (cli_parse_duration(optarg, &o.timeout_ms))
        return usage_error("--timeout '%s': not a duration (e.g. 2s, 500ms)",
                           optarg);
      break;
    case 'T':
      if (cli_parse_duration(optarg, &o.total_timeout_ms))
        return usage_error(
            "--total-timeout '%s': not a duration (e.g. 30s, 2m)", optarg);
      break;
    case 'p':
      if (cli_parse_priority(optarg, &o.priority))
        return usage_error("--priority '%s': use user-blocking, user-visible "
                           "or background",
                           optarg);
      break;
    case 'r':
      v = strtol(optarg, &end, 10);
      if (!*optarg || *end || v < 0 || v > 1000)
        return usage_error("--retries '%s': a number from 0 to 1000", optarg);
      o.retries = (int)v;
      break;
    case OPT_FIRST:
      o.first = 1;
      break;
    case 'x':
      o.fail_fast = 1;
      break;
    case OPT_JSON:
      o.json = 1;
      break;
    case 'l':
      o.log_dir = optarg;
      break;
    case OPT_TAIL:
      o.tail = 1;
      break;
    case OPT_LIVE:
      o.live = 1;
      break;
    case OPT_NO_LIVE:
      o.live = 0;
      break;
    case 'q':
      o.quiet = 1;
      break;
    case OPT_GRACE:
      if (cli_parse_duration(optarg, &o.kill_grace_ms))
        return usage_error("--kill-grace '%s': not a duration", optarg);
      break;
    case OPT_COLOR:
      if (!strcmp(optarg, "auto"))
        o.color = -1;
      else if (!strcmp(optarg, "always"))
        o.color = 1;
      else if (!strcmp(optarg, "never"))
        o.color = 0;
      else
        return usage_error("--color '%s': auto, always or never", optarg);
      break;
    case 'n':
      o.dry_run = 1;
      break;
    case 'h':
      fputs(help_run, stdout);
      return 0;
    case ':':
      return usage_error("option '%s' needs a value", argv[optind - 1]);
    default:
      return usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (o.first && o.fail_fast)
    return usage_error("%s", "--first and --fail-fast do not go together");
  if (argc - optind > 1)
    return usage_error("one job file at most (got '%s' too)", argv[optind + 1]);
  if (!o.parallel) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    o.parallel = n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
  }

  const char *path = argc > optind ? argv[optind] : "-";
  FILE *f = stdin;
  const char *display = "<stdin>";
  if (strcmp(path, "-") != 0) {
    f = fopen(path, "r");
    display = path;
    if (!f) {
      fprintf(stderr, "%s: cannot open %s: %m\n", cli_progname, path);
      return 2;
    }
  }
  cli_jobfile jf;
  int errors = cli_jobfile_parse(display, f, &jf, stderr, 20);
  if (f != stdin)
    fclose(f);
  if (errors) {
    cli_jobfile_free(&jf);
    fprintf(stderr, "%s: %d error%s in %s; nothing was started\n", cli_progname,
            errors, errors == 1 ? "" : "s", display);
    return 2;
  }
  int rc = cli_run(&o, &jf, display);
  cli_jobfile_free(&jf);
  return rc;
}

int main(int argc, char **argv) {
  /* In a worker process of errand's pool this serves jobs and never
   * returns; module jobs name their module (file://...), which the worker
   * loads itself. */
  errand_jobs *worker_jobs = NULL;
  if (getenv("ERRAND_WORKER")) {
    if (errand_jobs_create(&worker_jobs) == 0)
      errand_worker_main(worker_jobs);
    errand_jobs_release(worker_jobs);
  }

  if (argc < 2) {
    print_help(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "run"))
    return cmd_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "help"))
    return cmd_help(argc - 1, argv + 1);
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    print_help(stdout);
    fputs("\n", stdout);
    fputs(help_format, stdout);
    fputs("\n", stdout);
    fputs(help_progress, stdout);
    fputs("\n", stdout);
    fputs(help_exit, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("errand %d.%d.%d\n", ERRAND_VERSION_MAJOR, ERRAND_VERSION_MINOR,
           ERRAND_VERSION_PATCH);
    return 0;
  }
  return usage_error("unknown command '%s' (try 'errand --help')", cmd);
}
