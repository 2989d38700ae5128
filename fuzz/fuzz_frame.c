/*
 * fuzz_frame.c — libFuzzer target for the frame codec (src/proc/frame.c).
 *
 * The input is a byte stream as a peer would write it on the protocol
 * socket, preceded by 4 bytes that choose how it is read:
 *
 *   byte 0  accept mask: (b & 3) 0 = host's (ERRAND__HOST_ACCEPTS),
 *           1 = worker's (ERRAND__WORKER_ACCEPTS), 2 = every type 1..9,
 *           3 = every bit set (types 0 and > 9 must still be refused)
 *   byte 1  max payload: < 0x80 the real limit (16 MiB), 0x80..0xfe a
 *           small limit b - 0x80 (0..126 bytes), 0xff SIZE_MAX
 *   byte 2  seed of the chunk sizes
 *   byte 3  largest chunk: 0 = the whole stream in one chunk, else 1..255
 *   rest    the stream
 *
 * The stream is appended to an errand__buf in chunks; after each chunk
 * errand__frame_next is called until NEED_MORE or BAD (after BAD, stop), and
 * errand__buf_compact runs between chunks — the host's read loop.
 *
 * Checks (abort on failure), besides ASan/UBSan/leaks:
 *   - the frames, and the final NEED_MORE or BAD, are exactly those of a
 *     reference decoder written from docs/protocol.md over the whole stream
 *     (so chunking never changes the result);
 *   - a frame's payload lies inside the buffer and equals the stream bytes;
 *     re-encoding it with errand__frame_encode gives the original bytes;
 *   - NEED_MORE and BAD consume nothing; BAD gives a reason and stays BAD;
 *   - the buffer's pos <= len <= cap always.
 */
#include "proc/frame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CONFIG_BYTES 4

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_frame: check failed at %s:%d: %s\n", __FILE__,     \
              __LINE__, #cond);                                                \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* ---- the reference decoder (from the spec, not from frame.c) ---- */

typedef struct ref_frame {
  int status; /* ERRAND__FRAME_OK / _NEED_MORE / _BAD */
  uint8_t type;
  uint64_t id;
  size_t start; /* offset of the frame's first byte in the stream */
  size_t payload_len;
} ref_frame;

static uint64_t be(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

/* The frame at s[off..n): a length below 9 or a payload above max is bad as
 * soon as the length is known; a type outside 1..9 or not in mask is bad as
 * soon as the type byte is known; otherwise it is whole or needs more. */
static ref_frame ref_next(const uint8_t *s, size_t n, size_t off, unsigned mask,
                          size_t max_payload) {
  ref_frame r = {ERRAND__FRAME_NEED_MORE, 0, 0, off, 0};
  size_t avail = n - off;
  if (avail < 4)
    return r;
  uint64_t length = be(s + off, 4);
  if (length < 9 || length - 9 > max_payload) {
    r.status = ERRAND__FRAME_BAD;
    return r;
  }
  if (avail >= 5) {
    unsigned t = s[off + 4];
    if (t < 1 || t > 9 || !((mask >> t) & 1u)) {
      r.status = ERRAND__FRAME_BAD;
      return r;
    }
  }
  if (avail - 4 < length)
    return r;
  r.status = ERRAND__FRAME_OK;
  r.type = s[off + 4];
  r.id = be(s + off + 5, 8);
  r.payload_len = (size_t)length - 9;
  return r;
}

/* ---- chunk sizes ---- */

static uint32_t rng_next(uint32_t *x) {
  /* xorshift32; the state is never 0 */
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return *x;
}

static void check_buf(const errand__buf *b) {
  CHECK(b->pos <= b->len);
  CHECK(b->len <= b->cap);
  CHECK(b->cap == 0 || b->data != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < CONFIG_BYTES)
    return 0;

  static const unsigned masks[4] = {
      ERRAND__HOST_ACCEPTS, ERRAND__WORKER_ACCEPTS, 0x3feu, 0xffffffffu};
  unsigned mask = masks[data[0] & 3];
  size_t max_payload = data[1] < 0x80   ? (size_t)ERRAND__FRAME_MAX_PAYLOAD
                       : data[1] < 0xff ? (size_t)(data[1] - 0x80)
                                        : SIZE_MAX;
  uint32_t rng = 0x9e3779b9u ^ ((uint32_t)data[2] * 0x01000193u);
  size_t max_chunk = data[3];
  const uint8_t *s = data + CONFIG_BYTES;
  size_t n = size - CONFIG_BYTES;

  errand__buf b = {0};
  errand__buf enc = {0};
  size_t fed = 0;      /* stream bytes appended so far */
  size_t consumed = 0; /* stream offset of the buffer's pos */
  int last = ERRAND__FRAME_NEED_MORE;

  while (fed < n && last != ERRAND__FRAME_BAD) {
    size_t chunk = n - fed;
    if (max_chunk != 0) {
      size_t c = 1 + rng_next(&rng) % max_chunk;
      if (c < chunk)
        chunk = c;
    }
    CHECK(errand__buf_append(&b, s + fed, chunk) == 0);
    fed += chunk;
    check_buf(&b);

    for (;;) {
      errand__frame f;
      const char *why = NULL;
      size_t pos = b.pos;
      ref_frame want = ref_next(s, fed, consumed, mask, max_payload);
      last = errand__frame_next(&b, mask, max_payload, &f, &why);
      check_buf(&b);
      CHECK(last == want.status);
      if (last == ERRAND__FRAME_NEED_MORE) {
        CHECK(b.pos == pos);
        break;
      }
      if (last == ERRAND__FRAME_BAD) {
        CHECK(why != NULL && why[0] != '\0');
        CHECK(b.pos == pos);
        const char *why2 = NULL;
        errand__frame f2;
        CHECK(errand__frame_next(&b, mask, max_payload, &f2, &why2) ==
              ERRAND__FRAME_BAD);
        CHECK(b.pos == pos);
        break;
      }
      /* A whole frame. */
      CHECK(f.type == want.type && f.id == want.id);
      CHECK(f.type >= 1 && f.type <= ERRAND__F_LAST);
      CHECK((mask >> f.type) & 1u);
      CHECK(f.len == want.payload_len && f.len <= max_payload);
      CHECK(b.pos == pos + ERRAND__FRAME_HEADER + f.len);
      /* The payload is the end of the bytes just consumed. */
      CHECK(f.payload == b.data + b.pos - f.len);
      CHECK(f.len == 0 ||
            memcmp(f.payload, s + consumed + ERRAND__FRAME_HEADER, f.len) == 0);
      /* Round trip. */
      enc.len = enc.pos = 0;
      CHECK(errand__frame_encode(&enc, f.type, f.id, f.payload, f.len) == 0);
      CHECK(enc.len == ERRAND__FRAME_HEADER + f.len);
      CHECK(memcmp(enc.data, s + consumed, enc.len) == 0);
      consumed += ERRAND__FRAME_HEADER + f.len;
    }
    errand__buf_compact(&b);
    check_buf(&b);
    CHECK(b.pos == 0 && b.len == fed - consumed);
  }

  /* Whatever the chunking, the stream ends as the reference says. */
  if (last != ERRAND__FRAME_BAD) {
    CHECK(fed == n);
    CHECK(ref_next(s, n, consumed, mask, max_payload).status ==
          ERRAND__FRAME_NEED_MORE);
  }

  /* Requests the buffer can never satisfy fail cleanly. */
  CHECK(errand__buf_reserve(&b, SIZE_MAX) == -1);

  errand__buf_free(&b);
  errand__buf_free(&enc);
  CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
  return 0;
}
