/* piscina.c — runs the piscina measurements (see piscina.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "piscina.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common.h"

#ifndef BENCH_NODE_DIR_DEFAULT
#define BENCH_NODE_DIR_DEFAULT "bench/node"
#endif

static const char *node_dir(void) {
  const char *d = getenv("BENCH_NODE_DIR");
  return d && *d ? d : BENCH_NODE_DIR_DEFAULT;
}

static const char *node_bin(void) {
  const char *b = getenv("BENCH_NODE");
  return b && *b ? b : "node";
}

static int have_node(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "'%s' --version >/dev/null 2>&1", node_bin());
  return system(cmd) == 0;
}

int bench_piscina_available(char *why, size_t len) {
  char path[1024];
  if (!have_node()) {
    snprintf(why, len, "node not found");
    return 0;
  }
  snprintf(path, sizeof path, "%s/node_modules/piscina/package.json",
           node_dir());
  if (access(path, R_OK) != 0) {
    snprintf(why, len, "piscina not installed (run bench/setup.sh)");
    return 0;
  }
  return 1;
}

const char *bench_piscina_version(void) {
  static char buf[128];
  char cmd[1024];
  if (buf[0])
    return buf;
  snprintf(cmd, sizeof cmd,
           "cd '%s' 2>/dev/null && '%s' -p \"JSON.parse(require('fs')"
           ".readFileSync('node_modules/piscina/package.json')).version + "
           "' (node ' + process.version + ')'\" 2>/dev/null",
           node_dir(), node_bin());
  FILE *f = popen(cmd, "r");
  if (!f)
    return "";
  if (!fgets(buf, sizeof buf, f))
    buf[0] = 0;
  pclose(f);
  buf[strcspn(buf, "\n")] = 0;
  return buf;
}

int bench_node_available(const char *script, char *why, size_t len) {
  char path[1024];
  if (!have_node()) {
    snprintf(why, len, "node not found");
    return 0;
  }
  snprintf(path, sizeof path, "%s/%s", node_dir(), script);
  if (access(path, R_OK) != 0) {
    snprintf(why, len, "%s not found", path);
    return 0;
  }
  return 1;
}

const char *bench_node_version(void) {
  static char buf[64];
  char cmd[600];
  if (buf[0])
    return buf;
  snprintf(cmd, sizeof cmd, "'%s' --version 2>/dev/null", node_bin());
  FILE *f = popen(cmd, "r");
  if (!f)
    return "";
  if (!fgets(buf, sizeof buf, f))
    buf[0] = 0;
  pclose(f);
  buf[strcspn(buf, "\n")] = 0;
  return buf;
}

void bench_piscina_exec(const char *const *args) {
  bench_node_exec("piscina_bench.mjs", args);
}

void bench_node_exec(const char *script_name, const char *const *args) {
  char script[1024];
  const char *argv[32];
  int n = 0;
  snprintf(script, sizeof script, "%s/%s", node_dir(), script_name);
  argv[n++] = node_bin();
  argv[n++] = script;
  for (; *args && n < 31; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  if (bench_emit_fd() != STDOUT_FILENO)
    dup2(bench_emit_fd(), STDOUT_FILENO);
  execvp(argv[0], (char *const *)argv);
  bench_fail("exec %s: cannot start node", argv[0]);
}
