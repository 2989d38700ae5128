#!/usr/bin/env python3
"""make_corpus.py — writes the seed corpora of the fuzz targets.

  fuzz/make_corpus.py                 every corpus: fuzz/corpus/{frame,json_args,jobfile}
  fuzz/make_corpus.py OUT_DIR         the frame corpus only, into OUT_DIR
  fuzz/make_corpus.py --target NAME [OUT_DIR]
                                      one corpus (frame, json_args, jobfile);
                                      default OUT_DIR: fuzz/corpus/NAME

fuzz_frame's seeds (SEEDS below):
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


# fuzz_json_args: the arguments text of a job (cut at the first NUL).
JSON_ARGS_SEEDS = {
    "empty_array": b"[]",
    "empty_object": b"{}",
    "numbers": b"[1,-2,3.5e10,0,-0.0,9223372036854775807]",
    "nested": b'{"a":[1,{"b":[true,false,null]}],"c":"d"}',
    "strings": b'["\\u00e9t\\u00e9","\\ud83d\\ude00","tab\\tnew\\nline"]',
    "nul_escape": b'["x\\u0000y"]',
    "utf8": "[\"\u00e9t\u00e9 \u65e5\u672c\"]".encode("utf-8"),
    "whitespace": b' \n\t[ 1 , 2 ]\r\n ',
    "deep": b"[" * 64 + b"]" * 64,
    "dup_keys": b'{"a":1,"a":2}',
    "scalar": b"42",
    "string_scalar": b'"just a string"',
    "trailing": b"[1,2] x",
    "trailing_comma": b"[1,2,]",
    "nan": b"[NaN]",
    "big_int": b"[123456789012345678901234567890]",
    "big_real": b"[1e999]",
    "bad_escape": b'["\\x41"]',
    "lone_surrogate": b'["\\ud800"]',
    "bad_utf8": b'["\xff\xfe"]',
    "unterminated": b'{"a":[1,2',
    "comment": b"[1 /* no */]",
    "two_values": b"[1][2]",
}

# fuzz_jobfile: byte 0 = max_errors - 1 (mod 8), then the job file.
JOBFILE_SEEDS = {
    "basic": b"\x07" + b"build: make -j4\ntest: make test\n",
    "settings": b"\x07"
    + b"[priority=high timeout=1.5s delay=200ms retries=2] fetch: curl -s http://x\n",
    "comments": b"\x07" + b"# a comment\n\n   \t\n# another\nls -l\n",
    "continued": b"\x07" + b"long: echo one \\\n  two \\\n  three\n",
    "quoted": b"\x07" + b'[mode=dedicated priority="background"] q: sleep 1\n',
    "shell_brackets": b"\x07" + b"[ -f x ] && echo yes\necho a:b\ndate +%H:%M\n",
    "module": b"\x07" + b"[module=/bin/sh#h args=[1,{\"a\":2}]] m: \n",
    "module_no_file": b"\x07" + b"[module=./nope.so#run] m:\n",
    "bad_setting": b"\x02" + b"[colour=red] x: ls\n[priority=urgent] y: ls\n",
    "bad_duration": b"\x07" + b"[timeout=soon] x: ls\n[delay=-1s] y: ls\n",
    "missing_bracket": b"\x07" + b"[timeout=1s x: ls\n",
    "settings_after_name": b"\x07" + b"x: [timeout=1s] ls\n",
    "dup_names": b"\x00" + b"a: ls\na: pwd\nb: ls\nb: pwd\nc:\n",
    "no_command": b"\x07" + b"name:\n",
    "args_for_shell": b"\x07" + b"[args=[1]] x: ls\n",
    "bad_args": b"\x07" + b"[module=/bin/sh args={bad] x:\n",
    "nul_byte": b"\x07" + b"a: ls\x00\nb: pwd\n",
    "crlf": b"\x07" + b"a: ls\r\nb: pwd\r\n",
    "long_name": b"\x07" + b"n" * 80 + b": ls\n",
    "long_command": b"\x07" + b"echo " + b"word " * 40 + b"\n",
    "modes": b"\x07"
    + b"[mode=pool] a: ls\n[mode=worker] b: ls\n[mode=process] c: ls\n",
    "ends_in_backslash": b"\x07" + b"a: ls \\",
    "empty": b"\x07",
    "only_comments": b"\x07" + b"# nothing\n",
    "retries": b"\x07" + b"[retries=1001] a: ls\n[retries=3] b: ls\n[retries=x] c: ls\n",
}

CORPORA = {
    "frame": SEEDS,
    "json_args": JSON_ARGS_SEEDS,
    "jobfile": JOBFILE_SEEDS,
}


def write(name, out):
    seeds = CORPORA[name]
    os.makedirs(out, exist_ok=True)
    for seed, data in sorted(seeds.items()):
        with open(os.path.join(out, seed), "wb") as f:
            f.write(data)
    print("make_corpus.py: %d seeds in %s" % (len(seeds), out))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = sys.argv[1:]
    if args and args[0] == "--target":
        if len(args) < 2 or args[1] not in CORPORA:
            sys.exit("make_corpus.py: --target takes one of %s"
                     % ", ".join(sorted(CORPORA)))
        name = args[1]
        write(name, args[2] if len(args) > 2 else
              os.path.join(here, "corpus", name))
    elif args:
        write("frame", args[0])  # the original form: the frame corpus
    else:
        for name in sorted(CORPORA):
            write(name, os.path.join(here, "corpus", name))


if __name__ == "__main__":
    main()
