/*
 * core_int.h — what every layer of errand shares: the atomics wrapper,
 * error reporting, the generation-checked handle table and the parker.
 *
 * Lock order across errand (outermost first; never call user code while
 * holding any of them):
 *   signal mutex (signal/signal.c)
 *   -> task stripe locks (task/listener.c; one at a time)
 *   -> scheduler injection lock -> idle lock; timer lock; dedicated-thread
 *      lock; loop mutex; process pool mutex
 *   -> handle table mutex (core/table.c)
 * Under a stripe lock errand only wakes threads and queues work (a loop
 * delivery, an internal pool task), never blocks.
 */
#ifndef ERRAND_CORE_INT_H
#define ERRAND_CORE_INT_H

#include "errand.h"
#include "platform/platform_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- atomics: every non-default order says why where it is used ---- */
#define ld_rlx(p) atomic_load_explicit((p), memory_order_relaxed)
#define ld_acq(p) atomic_load_explicit((p), memory_order_acquire)
#define st_rlx(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define st_rel(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define faa_rlx(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define fas_rlx(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)

/* A counter with a single writer: a plain load+store is enough and avoids a
 * locked instruction; readers on other threads see a value that is at most
 * a little stale. */
#define inc_owned(p, v) st_rlx((p), ld_rlx(p) + (v))

#define ERRAND_UNUSED(x) (void)(x)

#define container_of(ptr, type, member)                                        \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Allocation: errand__malloc and friends, declared in platform_int.h
 * (spawn.c allocates too), defined in core/alloc.c. */

/* ---- errors ---- */

/* Records a detail message for errand_last_error() on this thread and
 * returns code, so callers write `return errand__err(ERRAND_E_INVALID,
 * "...")`. */
int errand__err(int code, const char *fmt, ...) ERRAND_PRINTF(2, 3);

/* malloc'ed "code + message" carried by a task that ended in error. */
typedef struct errand__error {
  int code;
  /* Copied from an attached child's fault: the parent's own end (its
   * failure, or its cancellation's reason) takes its place. */
  bool from_child;
  char message[];
} errand__error;

errand__error *errand__error_new(int code, const char *fmt, ...)
    ERRAND_PRINTF(2, 3);
errand__error *errand__error_newv(int code, const char *fmt, va_list ap);

/* ---- the handle table ----
 *
 * Objects that users hold (tasks, runtimes) live in type-stable slots of a
 * table and are handed out as an encoded (type, index, generation) value
 * disguised as a pointer.  A slot's first member is its refgen word: the
 * generation in the high half, the reference count in the low half.  A
 * lookup with a stale generation fails cleanly even after the slot was
 * reused, and since slot memory is never returned to malloc while errand is
 * loaded, reading a stale slot's refgen is never a use-after-free.
 */
typedef struct errand__slot {
  _Atomic uint64_t refgen;
  uint32_t index;
  /* The owning layer's, never touched by the table (it would be padding
   * otherwise): a task's state word. */
  _Atomic uint32_t word;
} errand__slot;

/* The table itself is here (not in table.c) so that decoding a handle, done
 * on every call that takes one, inlines into the caller. */
#define ERRAND__SEG_SHIFT 12u
#define ERRAND__SEG_SIZE (1u << ERRAND__SEG_SHIFT)
#define ERRAND__MAX_SEGS (1u << 14) /* 64M slots per table */
/* The task table's first segment is faulted in this much at a time, ahead
 * of the tasks that fill it (see populate_ahead_locked in table.c). */
#define ERRAND__POPULATE_STEP ((size_t)64 << 10)
#define ERRAND__GEN_MASK ((1u << 29) - 1u)
#define ERRAND__TYPE_SHIFT 61
#define ERRAND__REFS_MASK 0xffffffffull

typedef struct errand__table {
  size_t elem_size;
  /* A table may give each slot a second, "cold" part of cold_size bytes in
   * memory of its own (cold_segs, one pointer per segment): fields most
   * objects never use, so that the part every object uses stays one cache
   * line and the cold memory is never touched, and so never made
   * resident, by objects that do not use it.  The table hands out cold
   * parts zeroed only when fresh: the owner zeroes a cold part it wrote
   * before it frees the slot. */
  size_t cold_size;
  _Atomic(char *) *cold_segs; /* [MAX_SEGS] when cold_size != 0 */
  unsigned type;
  bool per_thread_cache;
  pthread_mutex_t mu;
  _Atomic(char *) segs[ERRAND__MAX_SEGS]; /* written once under mu */
  _Atomic uint32_t nsegs;
  uint32_t *free; /* under mu */
  uint32_t nfree, capfree;
  uint32_t next_fresh; /* under mu */
  /* Bytes of segs[0] faulted in ahead, and up to where (0: the segment
   * is not faulted in ahead); under mu. */
  size_t populated, populate_end;
} errand__table;

enum {
  ERRAND__TYPE_TASK = 1,
  ERRAND__TYPE_RUNTIME = 2,
  ERRAND__TYPE_SIGNAL = 3,
  ERRAND__TYPE_CONTROLLER = 4,
  ERRAND__TYPE_LOOP = 5,
  ERRAND__TYPE_JOBS = 6,
  ERRAND__TYPE_PROCPOOL = 7
};

extern errand__table errand__task_table;
extern errand__table errand__runtime_table;
extern errand__table errand__signal_table;
extern errand__table errand__controller_table;
extern errand__table errand__loop_table;
extern errand__table errand__jobs_table;
extern errand__table errand__procpool_table;

/* The size of one object (set once, before the first allocation). */
void errand__table_set_size(errand__table *tb, size_t elem_size);
/* The size of each slot's cold part (likewise; tb must have cold_segs). */
void errand__table_set_cold(errand__table *tb, size_t cold_size);
/* A new zeroed slot (beyond the slot header) with refs references, or NULL. */
void *errand__table_alloc(errand__table *tb, uint32_t refs);
/* Gives a slot whose count reached zero back to the table. */
void errand__table_free(errand__table *tb, void *obj);
/* Takes n slots out of the table for the calling thread alone: a caller
 * that must make n objects or none (errand_post_batch) reserves them
 * first, and then making each cannot fail.  Returns a malloc'd array of
 * their indices (the caller frees it, once each index has gone to
 * errand__table_alloc_reserved or back through errand__table_free_index),
 * or NULL when the table or the memory cannot hold them (nothing taken). */
uint32_t *errand__table_reserve(errand__table *tb, size_t n);
/* Makes the object in reserved slot idx, as errand__table_alloc does. */
void *errand__table_alloc_reserved(errand__table *tb, uint32_t idx,
                                   uint32_t refs);
/* Gives back a slot by index (one reserved and not used, or one freed). */
void errand__table_free_index(errand__table *tb, uint32_t idx);

/* The encoded handle of a live object. */
static inline void *errand__handle_of(errand__table *tb, const void *obj) {
  const errand__slot *s = obj;
  uint64_t gen = (ld_rlx(&s->refgen) >> 32) & ERRAND__GEN_MASK;
  uint64_t h = ((uint64_t)tb->type << ERRAND__TYPE_SHIFT) | (gen << 32) |
               ((uint64_t)s->index + 1);
  return (void *)(uintptr_t)h;
}

/* The slot h names, or NULL with *code set to E_INVALID (h is NULL) or
 * E_RELEASED (anything else that does not decode to a slot of this table: a
 * made-up value, another type's handle).  *gen: the generation h carries. */
static inline errand__slot *errand__table_decode(errand__table *tb,
                                                 const void *h, uint32_t *gen,
                                                 int *code) {
  uint64_t v = (uint64_t)(uintptr_t)h;
  if (!h) {
    *code = ERRAND_E_INVALID;
    return NULL;
  }
  if ((v >> ERRAND__TYPE_SHIFT) != tb->type || (uint32_t)v == 0) {
    *code = ERRAND_E_RELEASED;
    return NULL;
  }
  uint32_t idx = (uint32_t)v - 1;
  char *seg;
  if ((idx >> ERRAND__SEG_SHIFT) >= ld_acq(&tb->nsegs) ||
      !(seg = ld_acq(&tb->segs[idx >> ERRAND__SEG_SHIFT]))) {
    *code = ERRAND_E_RELEASED;
    return NULL;
  }
  *gen = (uint32_t)(v >> 32) & ERRAND__GEN_MASK;
  return (errand__slot *)(seg + (size_t)(idx & (ERRAND__SEG_SIZE - 1)) *
                                    tb->elem_size);
}

/* The cold part of a live object (see errand__table.cold_size). */
static inline void *errand__table_cold(errand__table *tb, const void *obj) {
  uint32_t idx = ((const errand__slot *)obj)->index;
  return ld_acq(&tb->cold_segs[idx >> ERRAND__SEG_SHIFT]) +
         (size_t)(idx & (ERRAND__SEG_SIZE - 1)) * tb->cold_size;
}

/* The object in slot idx of tb, which must have been handed out. */
static inline void *errand__table_at(errand__table *tb, uint32_t idx) {
  return ld_acq(&tb->segs[idx >> ERRAND__SEG_SHIFT]) +
         (size_t)(idx & (ERRAND__SEG_SIZE - 1)) * tb->elem_size;
}

/* Decodes h.  Returns the object, or NULL with *code set to E_INVALID (NULL
 * or not this type) or E_RELEASED.  Does not take a reference. */
static inline void *errand__table_get(errand__table *tb, const void *h,
                                      int *code) {
  uint32_t gen;
  errand__slot *s = errand__table_decode(tb, h, &gen, code);
  if (!s)
    return NULL;
  /* acquire: pairs with the release in table_alloc, so the body is seen. */
  uint64_t rg = ld_acq(&s->refgen);
  if ((uint32_t)(rg >> 32) != gen || (rg & ERRAND__REFS_MASK) == 0) {
    *code = ERRAND_E_RELEASED;
    return NULL;
  }
  return s;
}

/* Reference counting on a live object (obj from table_get/alloc). */
bool errand__ref_inc(void *obj);
/* Returns true when this was the last reference: the caller then destroys
 * the object and calls errand__table_free. */
bool errand__ref_dec(void *obj);
/* Drops n references at once (n <= the references the caller holds). */
bool errand__ref_sub(void *obj, uint32_t n);
/* Decodes and takes one reference in one step (false if stale). */
bool errand__ref_inc_checked(errand__table *tb, const void *h, void **obj,
                             int *code);

/* ---- parker: one per thread, for sleeping until another thread says so ----
 */
typedef struct errand__parker {
  _Atomic uint32_t state; /* 0 empty, 1 notified, 2 parked */
} errand__parker;

/* This thread's parker (lives as long as the thread). */
errand__parker *errand__parker_self(void);
/* Sleeps until unparked or until deadline_ns (0 = no deadline; absolute
 * errand__now_ns time).  Consumes one notification. */
void errand__park(errand__parker *p, uint64_t deadline_ns);
/* Spins up to `rounds` pauses or until p is notified (the notification
 * stays for errand__park to consume): before parking, for waits whose
 * wake-up is often only microseconds away. */
void errand__spin_for_unpark(errand__parker *p, int rounds);
void errand__unpark(errand__parker *p);
/* Called while spinning for what another thread will do: yields the CPU
 * once if this thread unparked a thread since it last asked (see
 * parker.c), so that one, if the kernel queued it on this CPU, runs now
 * rather than after the spin.  True if it yielded. */
bool errand__yield_if_woke(void);

/* timeout_ms (negative forever, 0 poll) -> absolute deadline or 0 for
 * forever; poll gives "now". */
uint64_t errand__deadline(int64_t timeout_ms);

#endif
