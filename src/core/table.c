/*
 * table.c — type-stable slots and generation-checked handles.
 *
 * The idea: a handle is (type, index, generation) packed into a pointer-sized
 * value, and the slot it names is never given back to malloc while errand is
 * loaded.  So checking a handle is one load of the slot's refgen word, and a
 * released or reused handle is reported as ERRAND_E_RELEASED instead of being
 * a use-after-free.  Slots come in segments of 4096 that are allocated once;
 * free indices go through a small per-thread cache so allocating a task is
 * usually a pop from a thread-local array.
 */
#include "core/core_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SEG_SHIFT ERRAND__SEG_SHIFT
#define SEG_SIZE ERRAND__SEG_SIZE
#define MAX_SEGS ERRAND__MAX_SEGS
#define GEN_MASK ERRAND__GEN_MASK
#define TYPE_SHIFT ERRAND__TYPE_SHIFT
#define REFS_MASK ERRAND__REFS_MASK
#define CACHE_MAX 64u
#define CACHE_MOVE 32u

/* Sizes are filled in by the layers that own the objects (they know the
 * struct); the tables only need them before the first allocation. */
static _Atomic(char *) task_cold_segs[MAX_SEGS];
errand__table errand__task_table = {.type = ERRAND__TYPE_TASK,
                                    .per_thread_cache = true,
                                    .cold_segs = task_cold_segs,
                                    .mu = ERRAND__MUTEX_HOT_INITIALIZER};
errand__table errand__runtime_table = {.type = ERRAND__TYPE_RUNTIME,
                                       .mu = PTHREAD_MUTEX_INITIALIZER};
errand__table errand__signal_table = {.type = ERRAND__TYPE_SIGNAL,
                                      .mu = PTHREAD_MUTEX_INITIALIZER};
errand__table errand__controller_table = {.type = ERRAND__TYPE_CONTROLLER,
                                          .mu = PTHREAD_MUTEX_INITIALIZER};
errand__table errand__loop_table = {.type = ERRAND__TYPE_LOOP,
                                    .mu = PTHREAD_MUTEX_INITIALIZER};
errand__table errand__jobs_table = {.type = ERRAND__TYPE_JOBS,
                                    .mu = PTHREAD_MUTEX_INITIALIZER};
errand__table errand__procpool_table = {.type = ERRAND__TYPE_PROCPOOL,
                                        .mu = PTHREAD_MUTEX_INITIALIZER};

/* Free task indices kept by this thread; flushed back when the thread ends. */
typedef struct tcache {
  uint32_t n;
  bool registered;
  uint32_t idx[CACHE_MAX];
} tcache;
static ERRAND__HOT_TLS tcache task_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static size_t round_up(size_t n, size_t unit) {
  return (n + unit - 1) / unit * unit;
}

static bool push_free_locked(errand__table *tb, uint32_t idx) {
  if (tb->nfree == tb->capfree) {
    uint32_t cap = tb->capfree ? tb->capfree * 2 : 1024;
    uint32_t *nf = errand__realloc(tb->free, cap * sizeof *nf);
    if (!nf)
      return false;
    tb->free = nf;
    tb->capfree = cap;
  }
  tb->free[tb->nfree++] = idx;
  return true;
}

static void flush_cache(void *p) {
  tcache *c = p;
  errand__table *tb = &errand__task_table;
  pthread_mutex_lock(&tb->mu);
  for (uint32_t i = 0; i < c->n; i++)
    if (!push_free_locked(tb, c->idx[i]))
      break; /* out of memory at thread exit: the slots stay unused */
  c->n = 0;
  /* A destructor that runs after this one and frees a task registers the
   * cache again, so the key's destructor runs once more for it. */
  c->registered = false;
  pthread_mutex_unlock(&tb->mu);
}

static void make_key(void) { pthread_key_create(&cache_key, flush_cache); }

/* How many bytes to map when a growing table needs segments, and how many
 * segments (*nseg) they hold: whole huge pages (1 to 4 of them), choosing
 * the count that leaves the least of them unused.  64-byte slots (tasks)
 * fill one huge page with 8 segments; 120-byte slots would leave 6 % of
 * one unused, and of 4 only 0.4 % (17 segments). */
static size_t chunk_bytes(size_t seg_bytes, uint32_t *nseg) {
  size_t huge = errand__huge_page_size();
  if (seg_bytes > huge) {
    *nseg = 1;
    return seg_bytes;
  }
  size_t best = 0, best_waste = SIZE_MAX;
  for (size_t k = 1; k <= 4; k++) {
    size_t bytes = k * huge;
    size_t waste = bytes % seg_bytes;
    /* compare waste / bytes without dividing: waste * best < best_waste *
     * bytes */
    if (!best || waste * best < best_waste * bytes) {
      best = bytes;
      best_waste = waste;
      *nseg = (uint32_t)(bytes / seg_bytes);
    }
  }
  return best;
}

/* Under tb->mu: allocates segment seg (and, for a growing task table,
 * the ones after it that share its memory).  false: out of memory. */
static bool map_segments_locked(errand__table *tb, uint32_t seg) {
  /* A task table past its first segment is growing under a burst of
   * posts, and will fill this segment and more: map several segments
   * at once, in one huge page where the kernel has them and faulted in
   * with one call (see platform/pages.c: a page fault costs microseconds
   * under a hypervisor).  The first segment, and the tables of
   * long-lived objects, stay lazily zeroed so a program with a few
   * tasks does not pay for 4096 of them in memory. */
  size_t seg_bytes = (size_t)SEG_SIZE * tb->elem_size;
  size_t cold_bytes = (size_t)SEG_SIZE * tb->cold_size;
  uint32_t nseg = 1;
  char *mem, *cold = NULL;
  if (tb->per_thread_cache && seg > 0) {
    size_t bytes = chunk_bytes(seg_bytes, &nseg);
    if (nseg > MAX_SEGS - seg)
      nseg = MAX_SEGS - seg; /* the table's last segments: some unused */
    mem = errand__alloc_prefaulted(bytes);
    /* In huge pages too where the kernel has them, but faulted in only
     * where a cold part is first written (see errand__alloc_prefaulted):
     * a burst of tasks that use no cold field never makes it resident. */
    if (mem && cold_bytes &&
        !(cold = errand__alloc_prefaulted(
              round_up(nseg * cold_bytes, errand__huge_page_size())))) {
      errand__free_pages(mem, bytes);
      mem = NULL;
    }
  } else if (tb->cold_size) {
    /* Page-aligned, so records of a power-of-two size start on a cache
     * line; zero pages until written. */
    mem = errand__alloc_lazy(seg_bytes);
    if (mem && !(cold = errand__alloc_lazy(cold_bytes))) {
      errand__free_pages(mem, seg_bytes);
      mem = NULL;
    }
    /* The task table's first segment: faulted in a step ahead of its
     * fresh indices (populate_ahead_locked). */
    if (mem && tb->per_thread_cache)
      tb->populate_end = seg_bytes;
  } else {
    mem = errand__calloc(SEG_SIZE, tb->elem_size);
  }
  if (!mem)
    return false;
  /* release: a reader that finds a segment pointer sees zeroed slots
   * (and their cold parts, published first). */
  for (uint32_t i = 0; i < nseg; i++) {
    if (cold)
      st_rel(&tb->cold_segs[seg + i], cold + i * cold_bytes);
    st_rel(&tb->segs[seg + i], mem + i * seg_bytes);
  }
  st_rel(&tb->nsegs, seg + nseg);
  return true;
}

/* The task table's first segment is mapped lazily, so that a program with
 * a few tasks keeps few of its pages.  Faulted page by page, though, every
 * 64th new task would pay a page fault inside errand_post: 10-15 us each
 * on a 2-CPU VM, the largest part of W3's tail (64 of its 10,000 posts).
 * So it is faulted in POPULATE_STEP at a time, in one call, as fresh
 * indices reach each step: 4 calls for the whole segment. */
#define POPULATE_STEP ERRAND__POPULATE_STEP

static void populate_ahead_locked(errand__table *tb) {
  if (tb->populated >= tb->populate_end)
    return; /* done, or not a segment faulted in ahead */
  size_t want = round_up((size_t)tb->next_fresh * tb->elem_size, POPULATE_STEP);
  if (want > tb->populate_end)
    want = tb->populate_end;
  if (want <= tb->populated)
    return;
  errand__populate(ld_rlx(&tb->segs[0]) + tb->populated, want - tb->populated);
  tb->populated = want;
}

/* Returns an index with its segment allocated, or UINT32_MAX. */
static uint32_t take_index_locked(errand__table *tb) {
  if (tb->nfree)
    return tb->free[--tb->nfree];
  uint32_t idx = tb->next_fresh;
  uint32_t seg = idx >> SEG_SHIFT;
  if (seg >= MAX_SEGS)
    return UINT32_MAX;
  if (!ld_rlx(&tb->segs[seg]) && !map_segments_locked(tb, seg))
    return UINT32_MAX;
  tb->next_fresh++;
  populate_ahead_locked(tb);
  return idx;
}

/* This thread's cache, registered so that it is flushed when the thread
 * ends.  Threads that only free (pool workers running what others posted)
 * need it as much as posters: without it each free would take the table
 * lock, against the poster and every other worker. */
static tcache *my_cache(void) {
  tcache *c = &task_cache;
  if (!c->registered) {
    pthread_once(&cache_once, make_key);
    c->registered = pthread_setspecific(cache_key, c) == 0;
  }
  return c;
}

/* Makes the object in slot idx: zeroed beyond its header, with refs
 * references and the slot's next generation. */
static inline void *init_slot(errand__table *tb, uint32_t idx, uint32_t refs) {
  errand__slot *s = (errand__slot *)errand__table_at(tb, idx);
  /* Every post comes here: for a task record (one cache line) the size is
   * spelled out, so the compiler zeroes it with a few stores instead of a
   * call to memset. */
  if (tb->elem_size == 64)
    memset((char *)s + sizeof *s, 0, 64 - sizeof *s);
  else
    memset((char *)s + sizeof *s, 0, tb->elem_size - sizeof *s);
  uint32_t gen = (uint32_t)(ld_rlx(&s->refgen) >> 32);
  if (gen == 0)
    gen = 1;
  s->index = idx;
  /* release: the zeroed body is visible to whoever decodes the handle. */
  st_rel(&s->refgen, ((uint64_t)gen << 32) | refs);
  return s;
}

void *errand__table_alloc(errand__table *tb, uint32_t refs) {
  uint32_t idx = UINT32_MAX;
  tcache *c = tb->per_thread_cache ? my_cache() : NULL;
  if (c && c->registered) {
    if (c->n == 0) {
      pthread_mutex_lock(&tb->mu);
      while (c->n < CACHE_MOVE) {
        uint32_t i = take_index_locked(tb);
        if (i == UINT32_MAX)
          break;
        c->idx[c->n++] = i;
      }
      pthread_mutex_unlock(&tb->mu);
    }
    if (c->n)
      idx = c->idx[--c->n];
  } else {
    pthread_mutex_lock(&tb->mu);
    idx = take_index_locked(tb);
    pthread_mutex_unlock(&tb->mu);
  }
  if (idx == UINT32_MAX)
    return NULL;
  return init_slot(tb, idx, refs);
}

/* Under tb->mu: takes n indices into out, free ones first, then fresh
 * ones with their segments mapped; false (nothing taken) if the table or
 * the memory cannot hold them.  Fresh indices come as one range, so the
 * lock is held for the free ones and the segments, not for each index. */
static bool take_n_locked(errand__table *tb, uint32_t *out, size_t n) {
  size_t from_free = n < tb->nfree ? n : tb->nfree;
  size_t fresh = n - from_free;
  uint32_t first = tb->next_fresh;
  if (fresh > (size_t)MAX_SEGS * SEG_SIZE - first)
    return false;
  if (fresh) {
    uint32_t last_seg = (uint32_t)((first + fresh - 1) >> SEG_SHIFT);
    for (uint32_t seg = first >> SEG_SHIFT; seg <= last_seg; seg++)
      if (!ld_rlx(&tb->segs[seg]) && !map_segments_locked(tb, seg))
        return false; /* the segments mapped so far stay the table's */
  }
  tb->nfree -= (uint32_t)from_free;
  if (from_free) /* tb->free may still be NULL */
    memcpy(out, tb->free + tb->nfree, from_free * sizeof *out);
  tb->next_fresh = first + (uint32_t)fresh;
  populate_ahead_locked(tb);
  for (size_t i = 0; i < fresh; i++)
    out[from_free + i] = first + (uint32_t)i;
  return true;
}

uint32_t *errand__table_reserve(errand__table *tb, size_t n) {
  if (n > (size_t)MAX_SEGS * SEG_SIZE)
    return NULL;
  uint32_t *idx = errand__malloc(n * sizeof *idx);
  if (!idx)
    return NULL;
  /* This thread's cached indices first: they are the warmest slots. */
  size_t k = 0;
  tcache *c = tb->per_thread_cache ? my_cache() : NULL;
  while (c && c->n && k < n)
    idx[k++] = c->idx[--c->n];
  pthread_mutex_lock(&tb->mu);
  bool ok = take_n_locked(tb, idx + k, n - k);
  pthread_mutex_unlock(&tb->mu);
  if (!ok) {
    while (k)
      errand__table_free_index(tb, idx[--k]);
    free(idx);
    return NULL;
  }
  return idx;
}

void *errand__table_alloc_reserved(errand__table *tb, uint32_t idx,
                                   uint32_t refs) {
  return init_slot(tb, idx, refs);
}

void errand__table_free(errand__table *tb, void *obj) {
  errand__table_free_index(tb, ((errand__slot *)obj)->index);
}

void errand__table_free_index(errand__table *tb, uint32_t idx) {
  if (tb->per_thread_cache) {
    tcache *c = my_cache();
    if (c->registered && c->n < CACHE_MAX) {
      c->idx[c->n++] = idx;
      return;
    }
    pthread_mutex_lock(&tb->mu);
    if (c->registered) {
      while (c->n > CACHE_MAX - CACHE_MOVE &&
             push_free_locked(tb, c->idx[c->n - 1]))
        c->n--;
      if (c->n < CACHE_MAX) {
        c->idx[c->n++] = idx;
        pthread_mutex_unlock(&tb->mu);
        return;
      }
    }
    push_free_locked(tb, idx);
    pthread_mutex_unlock(&tb->mu);
    return;
  }
  pthread_mutex_lock(&tb->mu);
  push_free_locked(tb, idx);
  pthread_mutex_unlock(&tb->mu);
}

_Static_assert(sizeof(uintptr_t) == 8, "errand's handles need 64-bit pointers");

bool errand__ref_inc_checked(errand__table *tb, const void *h, void **obj,
                             int *code) {
  uint32_t gen;
  errand__slot *s = errand__table_decode(tb, h, &gen, code);
  if (!s)
    return false;
  uint64_t rg = ld_acq(&s->refgen);
  for (;;) {
    if ((uint32_t)(rg >> 32) != gen || (rg & REFS_MASK) == 0) {
      *code = ERRAND_E_RELEASED;
      return false;
    }
    if (atomic_compare_exchange_weak_explicit(&s->refgen, &rg, rg + 1,
                                              memory_order_acquire,
                                              memory_order_acquire))
      break;
  }
  *obj = s;
  return true;
}

bool errand__ref_inc(void *obj) {
  errand__slot *s = obj;
  /* relaxed: the caller already holds a reference, so the slot cannot
   * change generation under us. */
  faa_rlx(&s->refgen, 1);
  return true;
}

bool errand__ref_dec(void *obj) { return errand__ref_sub(obj, 1); }

bool errand__ref_sub(void *obj, uint32_t n) {
  errand__slot *s = obj;
  uint64_t rg = ld_rlx(&s->refgen);
  for (;;) {
    uint64_t refs = rg & REFS_MASK;
    uint64_t nv;
    if (refs <= n) {
      uint32_t gen = ((uint32_t)(rg >> 32) + 1) & GEN_MASK;
      nv = (uint64_t)(gen ? gen : 1) << 32;
    } else {
      nv = rg - n;
    }
    /* acq_rel: every use of the object by other holders happens before the
     * last holder destroys it. */
    if (atomic_compare_exchange_weak_explicit(
            &s->refgen, &rg, nv, memory_order_acq_rel, memory_order_relaxed))
      return refs <= n;
  }
}

void errand__table_set_size(errand__table *tb, size_t elem_size) {
  tb->elem_size = elem_size;
}

void errand__table_set_cold(errand__table *tb, size_t cold_size) {
  tb->cold_size = cold_size;
}
