#!/usr/bin/env python3
"""make_corpus.py — writes the seed corpus of fuzz/fuzz_frame.c.

  fuzz/make_corpus.py [OUT_DIR]      default OUT_DIR: fuzz/corpus/frame

Each seed is 4 configuration bytes (see the top of fuzz_frame.c: accept mask,
payload limit, chunk seed, largest chunk) followed by a byte stream as a peer
writes it on the protocol socket (docs/protocol.md §2).  The output is
deterministic; the seeds are committed, so run this again only after
changing it.  Files in OUT_DIR that this script did not write are left alone
(a corpus grown with fuzz/run.sh --grow keeps its additions).
"""
import json
import os
import struct
import sys

HELLO, RUN, PROGRESS, RESULT, ERROR, CANCEL, PING, PONG, BYE = range(1, 10)

# byte 0: accept mask
HOST, WORKER, ALL_TYPES, ALL_BITS = 0, 1, 2, 3
# byte 1: payload limit
REAL_LIMIT = 0x00


def small_limit(n):
    assert 0 <= n <= 126
    return 0x80 + n


def config(mask=HOST, limit=REAL_LIMIT, seed=1, max_chunk=0):
    return bytes([mask, limit, seed, max_chunk])


def frame(ftype, job_id, payload=b""):
    if not isinstance(payload, bytes):
        payload = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return struct.pack(">IBQ", 9 + len(payload), ftype, job_id) + payload


def header(length, ftype, job_id=0):
    return struct.pack(">IBQ", length, ftype, job_id)


SEEDS = {
    # valid frames, one per type a worker sends, through the host's mask
    "hello": config(HOST, seed=1, max_chunk=7)
    + frame(HELLO, 0, {"protocol": 1, "pid": 4242}),
    "result": config(HOST, seed=2, max_chunk=0) + frame(RESULT, 258, b"6"),
    "progress": config(HOST, seed=3, max_chunk=5)
    + frame(PROGRESS, 258, {"name": "tick", "data": {"n": 1}}),
    "error": config(HOST, seed=4, max_chunk=13)
    + frame(ERROR, 258, {"code": 42, "message": "python says no"}),
    "pong": config(HOST, seed=5, max_chunk=1) + frame(PONG, 0),
    # the host's frames through the worker's mask
    "run": config(WORKER, seed=6, max_chunk=16)
    + frame(RUN, 258, {"name": "add", "args": [1, 2, 3]}),
    "control": config(WORKER, seed=7, max_chunk=3)
    + frame(PING, 0) + frame(CANCEL, 0xFFFFFFFFFFFFFFFF) + frame(BYE, 0),
    # two frames back to back, a byte at a time
    "two_frames": config(HOST, seed=8, max_chunk=1)
    + frame(PROGRESS, 7, {"name": "tick", "data": None})
    + frame(RESULT, 7, {"done": 1}),
    # a frame cut in the middle of its payload
    "truncated": config(HOST, seed=9, max_chunk=4)
    + frame(RESULT, 9, {"a": [1, 2, 3]})[:17],
    # length claiming a payload of 16 MiB + 1 (header only)
    "oversized": config(HOST, seed=10, max_chunk=0)
    + header(9 + 16 * 1024 * 1024 + 1, RESULT, 1),
    # a length of 0, and one of 8 (one byte short of a header)
    "zero_length": config(HOST, seed=11, max_chunk=2) + header(0, RESULT, 1),
    "short_length": config(HOST, seed=12, max_chunk=0)
    + frame(PONG, 0) + header(8, PONG)[:12],
    # a type the host never accepts (RUN from a worker), an unknown one
    "bad_type": config(HOST, seed=13, max_chunk=0) + frame(RUN, 1, b"{}"),
    "unknown_type": config(ALL_BITS, seed=14, max_chunk=2)
    + frame(RESULT, 1, b"null") + frame(200, 1, b"null"),
    # a payload over a small limit
    "small_limit": config(HOST, limit=small_limit(10), seed=15, max_chunk=9)
    + frame(RESULT, 1, b"[1,2]") + frame(RESULT, 2, b'"0123456789ab"'),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "frame")
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("make_corpus.py: %d seeds in %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
