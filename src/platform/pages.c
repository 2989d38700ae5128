/*
 * pages.c — memory mapped whole and faulted in at once.
 *
 * Task slots live in segments that are never given back.  Letting the
 * kernel fault a segment in page by page as posts fill it costs one trap
 * per 4 KiB, and under a hypervisor a trap costs microseconds: posting
 * 1,000,000 tasks with handles took 34,500 faults, and mapping segments
 * populated brought it from 545-770 to 380-570 ns per task (W1, one
 * worker, alternating builds on a 2-CPU virtual machine).
 *
 * Populating is not the whole cost: a hypervisor that shadows the guest's
 * page tables still traps on the first write to each 4 KiB page, populated
 * or not.  Writing 128-byte records into fresh memory cost 170-230 ns per
 * record with 4 KiB pages on such a machine, and 13-37 ns in 2 MiB pages
 * (one trap per 2 MiB).  So memory handed out in whole 2 MiB units is
 * aligned to 2 MiB and offered to the kernel for transparent huge pages;
 * where the kernel has none to give, it is ordinary populated memory.
 */
#include "platform_int.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HUGE_PAGE ((size_t)2 << 20)

/* Whether the kernel backs memory advised MADV_HUGEPAGE with huge pages
 * ("[always]" or "[madvise]" in sysfs).  Read once: the setting is the
 * machine's, and a change of it while errand runs only costs speed. */
static bool huge_pages_on(void) {
  static _Atomic int known; /* 0 unknown, 1 off, 2 on */
  int k = atomic_load_explicit(&known, memory_order_relaxed);
  if (k)
    return k == 2;
  char buf[128] = {0};
  int fd =
      open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r < 0)
      buf[0] = 0;
  }
  bool on = strstr(buf, "[always]") || strstr(buf, "[madvise]");
  atomic_store_explicit(&known, on ? 2 : 1, memory_order_relaxed);
  return on;
}

static bool advise_huge(char *p, size_t n) {
#ifdef MADV_HUGEPAGE
  return huge_pages_on() && madvise(p, n, MADV_HUGEPAGE) == 0;
#else
  (void)p, (void)n;
  return false;
#endif
}

void errand__populate(void *p, size_t n) {
#ifdef MADV_POPULATE_WRITE
  madvise(p, n, MADV_POPULATE_WRITE); /* Linux 5.14+; else faulted lazily */
#else
  (void)p, (void)n;
#endif
}

static void *map_huge(size_t n) {
  /* Over-map by one huge page and trim both ends, so the region starts on
   * a 2 MiB boundary (the kernel only backs aligned 2 MiB ranges). */
  char *raw = mmap(NULL, n + HUGE_PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED)
    return NULL;
  uintptr_t start =
      ((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
  char *p = (char *)start;
  size_t head = (size_t)(p - raw);
  if (head)
    munmap(raw, head);
  munmap(p + n, HUGE_PAGE - head); /* never empty: head < HUGE_PAGE */
  /* With huge pages, each 2 MiB is one fault when first written, so the
   * region is left to fill as it is used: a table that needs one more
   * segment does not make 8 MiB resident.  Without them, it is faulted in
   * now, in one call. */
  if (!advise_huge(p, n))
    errand__populate(p, n);
  return p;
}

void *errand__alloc_prefaulted(size_t n) {
  if (errand__fault(ERRAND__FAULT_ALLOC))
    return NULL;
  if (n % HUGE_PAGE == 0)
    return map_huge(n);
#ifdef MAP_POPULATE
  void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  return p == MAP_FAILED ? NULL : p;
#else
  return errand__alloc_lazy(n); /* errand__free_pages unmaps either */
#endif
}

void *errand__alloc_lazy(size_t n) {
  if (errand__fault(ERRAND__FAULT_ALLOC))
    return NULL;
  void *p =
      mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void errand__free_pages(void *p, size_t n) { munmap(p, n); }

size_t errand__huge_page_size(void) { return HUGE_PAGE; }
