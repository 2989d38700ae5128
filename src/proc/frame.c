/*
 * frame.c — encode and decode protocol frames through a bounded buffer
 * (the s2n "stuffer" habit: every length from the wire is checked once,
 * here, before anything is read past it).
 */
#include "proc/frame.h"

#include <stdlib.h>
#include <string.h>

void errand__buf_free(errand__buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->pos = b->cap = 0;
}

int errand__buf_reserve(errand__buf *b, size_t n) {
  if (n > SIZE_MAX / 2 - b->len)
    return -1;
  if (b->len + n <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + n)
    cap *= 2;
  uint8_t *d = realloc(b->data, cap);
  if (!d)
    return -1;
  b->data = d;
  b->cap = cap;
  return 0;
}

int errand__buf_append(errand__buf *b, const void *p, size_t n) {
  if (errand__buf_reserve(b, n))
    return -1;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void errand__buf_compact(errand__buf *b) {
  if (b->pos == 0)
    return;
  memmove(b->data, b->data + b->pos, b->len - b->pos);
  b->len -= b->pos;
  b->pos = 0;
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         (uint32_t)p[3];
}

static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

int errand__frame_next(errand__buf *b, unsigned accept_mask, size_t max_payload,
                       errand__frame *f, const char **why) {
  size_t avail = b->len - b->pos;
  if (avail < 4)
    return ERRAND__FRAME_NEED_MORE;
  const uint8_t *p = b->data + b->pos;
  uint32_t n = get_u32(p);
  if (n < ERRAND__FRAME_HEADER - 4) {
    *why = "frame shorter than its header";
    return ERRAND__FRAME_BAD;
  }
  if ((size_t)n - (ERRAND__FRAME_HEADER - 4) > max_payload) {
    *why = "frame payload larger than the limit";
    return ERRAND__FRAME_BAD;
  }
  /* The type is known from the fifth byte: reject garbage before waiting
   * for a body that may never come. */
  if (avail >= 5) {
    uint8_t type = p[4];
    if (type == 0 || type > ERRAND__F_LAST || !(accept_mask & (1u << type))) {
      *why = "unknown or unexpected frame type";
      return ERRAND__FRAME_BAD;
    }
  }
  if (avail - 4 < n)
    return ERRAND__FRAME_NEED_MORE;
  f->type = p[4];
  f->id = get_u64(p + 5);
  f->payload = p + ERRAND__FRAME_HEADER;
  f->len = (size_t)n - (ERRAND__FRAME_HEADER - 4);
  b->pos += 4 + (size_t)n;
  return ERRAND__FRAME_OK;
}

int errand__frame_encode(errand__buf *b, uint8_t type, uint64_t id,
                         const void *payload, size_t len) {
  if (len > ERRAND__FRAME_MAX_PAYLOAD)
    return -1;
  if (errand__buf_reserve(b, ERRAND__FRAME_HEADER + len))
    return -1;
  uint8_t *p = b->data + b->len;
  put_u32(p, (uint32_t)(len + ERRAND__FRAME_HEADER - 4));
  p[4] = type;
  put_u32(p + 5, (uint32_t)(id >> 32));
  put_u32(p + 9, (uint32_t)id);
  if (len)
    memcpy(p + ERRAND__FRAME_HEADER, payload, len);
  b->len += ERRAND__FRAME_HEADER + len;
  return 0;
}
