/* piscina.h — the Node.js peers: piscina (worker_threads pool from npm),
 * measured by bench/node/piscina_bench.mjs in a node process of its own;
 * and, for W5, Node's child_process (fork per job, a persistent child),
 * measured by bench/node/proc_bench.mjs. */
#ifndef BENCH_PISCINA_H
#define BENCH_PISCINA_H
#include <stddef.h>

/* 1 when node and bench/node/node_modules/piscina are there; else 0 and a
 * reason in why. */
int bench_piscina_available(char *why, size_t len);

/* Text like "5.3.2 (node v20.1.0)", or "" when not available. */
const char *bench_piscina_version(void);

/* In a measurement child: replaces the process with
 * `node piscina_bench.mjs <args...>`, whose stdout becomes the metric
 * channel.  Never returns. */
void bench_piscina_exec(const char *const *args);

/* 1 when node is there and bench/node/<script> exists; else 0 and a reason
 * in why. */
int bench_node_available(const char *script, char *why, size_t len);

/* Text like "v20.1.0", or "" when node is not there. */
const char *bench_node_version(void);

/* In a measurement child: replaces the process with
 * `node bench/node/<script> <args...>`, whose stdout becomes the metric
 * channel.  Never returns. */
void bench_node_exec(const char *script, const char *const *args);

#endif
