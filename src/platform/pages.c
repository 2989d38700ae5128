/*
 * pages.c — memory mapped whole and faulted in at once.
 *
 * Task slots live in segments that are never given back.  Letting the
 * kernel fault a segment in page by page as posts fill it costs one trap
 * per 4 KiB, and under a hypervisor a trap costs microseconds: posting
 * 1,000,000 tasks with handles took 34,500 faults, and mapping segments
 * populated brought it from 545-770 to 380-570 ns per task (W1, one
 * worker, alternating builds on a 2-CPU virtual machine).
 */
#include "platform_int.h"

#include <stdlib.h>
#include <sys/mman.h>

void *errand__alloc_prefaulted(size_t n) {
  if (errand__fault(ERRAND__FAULT_ALLOC))
    return NULL;
#ifdef MAP_POPULATE
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
#else
  return calloc(1, n);
#endif
}
