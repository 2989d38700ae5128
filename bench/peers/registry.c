/* registry.c — which adapters were built (CMake defines BENCH_HAVE_*). */
#include <string.h>

#include "../peer.h"

static const bench_peer *const all_peers[] = {
#ifdef BENCH_HAVE_ERRAND
    &bench_peer_errand, &bench_peer_errand_batch, &bench_peer_errand_ff,
#endif
    &bench_peer_plain,
#ifdef BENCH_HAVE_UV
    &bench_peer_uv,
#endif
#ifdef BENCH_HAVE_GLIB
    &bench_peer_glib,   &bench_peer_glib_sort,
#endif
#ifdef BENCH_HAVE_TBB
    &bench_peer_tbb,
#endif
#ifdef BENCH_HAVE_OMP
    &bench_peer_omp,
#endif
    &bench_peer_serial,
};

size_t bench_peer_count(void) {
  return sizeof all_peers / sizeof all_peers[0];
}
const bench_peer *bench_peer_at(size_t i) {
  return i < bench_peer_count() ? all_peers[i] : NULL;
}

const bench_peer *bench_peer_find(const char *id) {
  for (size_t i = 0; i < sizeof all_peers / sizeof all_peers[0]; i++)
    if (strcmp(all_peers[i]->id, id) == 0)
      return all_peers[i];
  return NULL;
}
