/*
 * frame.h — errand's worker protocol frames (docs/protocol.md) and the one
 * bounded buffer every frame goes through.
 *
 * Wire format: u32 length (big-endian, bytes after this field, >= 9),
 * u8 type, u64 job id (big-endian), payload.  Lengths are checked once, in
 * errand__frame_next, against a maximum payload size; nothing else in
 * errand reads raw bytes from a worker.
 */
#ifndef ERRAND_PROC_FRAME_H
#define ERRAND_PROC_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum {
  ERRAND__F_HELLO = 1,    /* worker -> host: {"protocol":1,"pid":N} */
  ERRAND__F_RUN = 2,      /* host -> worker: {"name":..,"args":..} */
  ERRAND__F_PROGRESS = 3, /* worker -> host: {"name":..,"data":..} */
  ERRAND__F_RESULT = 4,   /* worker -> host: any JSON value */
  ERRAND__F_ERROR = 5,    /* worker -> host: {"code":N,"message":".."} */
  ERRAND__F_CANCEL = 6,   /* host -> worker: empty */
  ERRAND__F_PING = 7,     /* host -> worker: empty */
  ERRAND__F_PONG = 8,     /* worker -> host: empty */
  ERRAND__F_BYE = 9,      /* host -> worker: empty, exit 0 */
  ERRAND__F_LAST = 9
};

#define ERRAND__FRAME_HEADER 13u
#define ERRAND__FRAME_MAX_PAYLOAD (16u << 20)
#define ERRAND__PROTOCOL_VERSION 1

/* Types each side may receive. */
#define ERRAND__HOST_ACCEPTS                                                   \
  ((1u << ERRAND__F_HELLO) | (1u << ERRAND__F_PROGRESS) |                      \
   (1u << ERRAND__F_RESULT) | (1u << ERRAND__F_ERROR) |                        \
   (1u << ERRAND__F_PONG))
#define ERRAND__WORKER_ACCEPTS                                                 \
  ((1u << ERRAND__F_RUN) | (1u << ERRAND__F_CANCEL) | (1u << ERRAND__F_PING) | \
   (1u << ERRAND__F_BYE))

/* A growable byte buffer with a read cursor. */
typedef struct errand__buf {
  uint8_t *data;
  size_t len; /* bytes written */
  size_t pos; /* bytes consumed */
  size_t cap;
} errand__buf;

void errand__buf_free(errand__buf *b);
/* Room for n more bytes; 0 or -1 (no memory). */
int errand__buf_reserve(errand__buf *b, size_t n);
int errand__buf_append(errand__buf *b, const void *p, size_t n);
/* Drops consumed bytes (moves the rest to the front). */
void errand__buf_compact(errand__buf *b);

typedef struct errand__frame {
  uint8_t type;
  uint64_t id;
  const uint8_t *payload; /* into the buffer, valid until it changes */
  size_t len;
} errand__frame;

enum {
  ERRAND__FRAME_NEED_MORE = 0,
  ERRAND__FRAME_OK = 1,
  ERRAND__FRAME_BAD = -1
};

/* Takes the next whole frame from b.  On ERRAND__FRAME_BAD, *why says what
 * is wrong (static text) and the stream cannot be trusted any more. */
int errand__frame_next(errand__buf *b, unsigned accept_mask, size_t max_payload,
                       errand__frame *f, const char **why);
/* Appends one frame to b.  0 or -1 (no memory / too big). */
int errand__frame_encode(errand__buf *b, uint8_t type, uint64_t id,
                         const void *payload, size_t len);

#endif
