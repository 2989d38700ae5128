#!/usr/bin/env python3
"""py_worker.py — an errand worker in Python 3 (standard library only).

Written from docs/protocol.md alone, as a check that the document is enough
to write a worker in another language, and as a worker for the host's tests
(crashes, protocol errors, output capture...).

Jobs it serves:
  echo      result = args
  add       args = array of numbers, result = their sum
  fail      ERROR code 42 "python says no"
  progress  args = {"count": N}: N PROGRESS "tick" {"n": i}, then {"done": N}
  pid       result = the worker's pid
  print     "hello from python\\n" on stdout, "warn\\n" on stderr, result null
  exit3     exits with status 3 while running the job
  segv      kills itself with SIGSEGV while running the job
  hang      sleeps forever (for cancel and timeout tests)
  garbage   writes 64 random bytes to the protocol socket, then sleeps
  big       sends a frame header whose length claims 100 MiB, then sleeps
  index     result = int(ERRAND_WORKER_INDEX)
Any other name: ERROR code 1 "unknown job name: <name>".

Outside a host (no ERRAND_WORKER_FD) it prints this text and exits 2.
"""

import json
import os
import random
import signal
import struct
import sys
import time

# ---- protocol constants (docs/protocol.md §2, §3) ---------------------------
HELLO, RUN, PROGRESS, RESULT, ERROR, CANCEL, PING, PONG, BYE = range(1, 10)
HEADER = struct.Struct(">IBQ")  # length, type, job id
MAX_PAYLOAD = 16 * 1024 * 1024
WORKER_RECEIVES = {RUN, CANCEL, PING, BYE}
HOST_RECEIVES = {HELLO, PROGRESS, RESULT, ERROR, PONG}

E_INVALID, E_CANCELED, E_FAILED = 1, 6, 7


class JobError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Conn:
    """Frames over the protocol descriptor."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = bytearray()

    def _read_exactly(self, n):
        """n bytes, or None at end of file before the first byte of them."""
        while len(self.buf) < n:
            chunk = os.read(self.fd, max(65536, n - len(self.buf)))
            if not chunk:
                if not self.buf:
                    return None
                die("end of file inside a frame")
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_frame(self):
        """(type, id, payload), or None at end of file."""
        head = self._read_exactly(4)
        if head is None:
            return None
        (length,) = struct.unpack(">I", head)
        if length < 9:
            die("frame shorter than its header (length %d)" % length)
        if length - 9 > MAX_PAYLOAD:
            die("frame payload larger than the limit (length %d)" % length)
        rest = self._read_exactly(length)
        if rest is None:
            die("end of file inside a frame")
        ftype = rest[0]
        (fid,) = struct.unpack(">Q", rest[1:9])
        if ftype not in WORKER_RECEIVES:
            die("unknown or unexpected frame type %d" % ftype)
        return ftype, fid, rest[9:]

    def write_raw(self, data):
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

    def send(self, ftype, fid, payload=b""):
        if len(payload) > MAX_PAYLOAD:
            raise JobError(E_FAILED, "payload larger than 16 MiB")
        self.write_raw(HEADER.pack(9 + len(payload), ftype, fid) + payload)

    def send_json(self, ftype, fid, value):
        self.send(ftype, fid, to_json(value))


def to_json(value):
    # Strict JSON (no NaN/Infinity), UTF-8, compact.
    return json.dumps(value, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode("utf-8")


def die(why):
    sys.stderr.write("py_worker: protocol error from host: %s\n" % why)
    sys.stderr.flush()
    os._exit(2)


def flush_output():
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass


def sleep_forever():
    while True:
        time.sleep(3600)


# ---- jobs -------------------------------------------------------------------
# Each takes (conn, job id, args) and returns the result (a JSON-able value)
# or raises JobError.


def job_echo(conn, jid, args):
    return args


def job_add(conn, jid, args):
    if not isinstance(args, list) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool)
            for x in args):
        raise JobError(E_INVALID, "add: args must be an array of numbers")
    return sum(args)


def job_fail(conn, jid, args):
    raise JobError(42, "python says no")


def job_progress(conn, jid, args):
    count = args.get("count") if isinstance(args, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise JobError(E_INVALID,
                       'progress: args must be {"count": N} with N >= 0')
    for i in range(count):
        conn.send_json(PROGRESS, jid, {"name": "tick", "data": {"n": i}})
    return {"done": count}


def job_pid(conn, jid, args):
    return os.getpid()


def job_print(conn, jid, args):
    sys.stdout.write("hello from python\n")
    sys.stderr.write("warn\n")
    return None


def job_exit3(conn, jid, args):
    flush_output()
    os._exit(3)


def job_segv(conn, jid, args):
    flush_output()
    try:  # no core file for a crash on purpose
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    signal.signal(signal.SIGSEGV, signal.SIG_DFL)  # even under faulthandler
    os.kill(os.getpid(), signal.SIGSEGV)
    sleep_forever()


def job_hang(conn, jid, args):
    sleep_forever()


def garbage_bytes():
    """64 random bytes that can never start a valid worker->host frame.

    Random bytes start a plausible frame about once in 60000 tries (a length
    in [9, 16 MiB + 9] and a type the host accepts); the host would then wait
    for the rest instead of seeing a protocol error at once.  Draw again in
    that case, so the host's test is deterministic."""
    while True:
        data = os.urandom(64)
        length = struct.unpack(">I", data[:4])[0]
        if not (9 <= length <= 9 + MAX_PAYLOAD and data[4] in HOST_RECEIVES):
            return data


def job_garbage(conn, jid, args):
    conn.write_raw(garbage_bytes())
    sleep_forever()


def job_big(conn, jid, args):
    conn.write_raw(HEADER.pack(100 * 1024 * 1024, RESULT, jid))
    sleep_forever()


WORKER_INDEX = None  # read at start-up, before the environment is cleaned


def job_index(conn, jid, args):
    return WORKER_INDEX


JOBS = {
    "echo": job_echo,
    "add": job_add,
    "fail": job_fail,
    "progress": job_progress,
    "pid": job_pid,
    "print": job_print,
    "exit3": job_exit3,
    "segv": job_segv,
    "hang": job_hang,
    "garbage": job_garbage,
    "big": job_big,
    "index": job_index,
}


def run_job(conn, jid, payload):
    try:
        req = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        die("RUN payload is not valid UTF-8 JSON")
    if not isinstance(req, dict) or not isinstance(req.get("name"), str):
        die('RUN payload is not {"name":..,"args":..}')
    name = req["name"]
    args = req.get("args", [])
    fn = JOBS.get(name)
    try:
        if fn is None:
            raise JobError(E_INVALID, "unknown job name: %s" % name)
        result = to_json(fn(conn, jid, args))
    except JobError as e:
        flush_output()
        conn.send_json(ERROR, jid, {"code": e.code or E_FAILED,
                                    "message": e.message})
        return
    except Exception as e:  # a bug in a handler fails its job, not the worker
        flush_output()
        conn.send_json(ERROR, jid, {"code": E_FAILED,
                                    "message": "%s: %s" % (type(e).__name__, e)})
        return
    flush_output()
    conn.send(RESULT, jid, result)


def main():
    fd_text = os.environ.get("ERRAND_WORKER_FD")
    if fd_text is None:
        sys.stderr.write(__doc__)
        return 2
    global WORKER_INDEX
    fd = int(fd_text)
    WORKER_INDEX = int(os.environ.get("ERRAND_WORKER_INDEX", "0"))
    os.set_inheritable(fd, False)  # close-on-exec
    # Programs a job starts are not workers (docs/protocol.md §1).
    # It writes and reads its frames on the socket: the reply and run pipes
    # are optional (its HELLO does not say "in":"pipe").
    for k in ("ERRAND_WORKER", "ERRAND_WORKER_FD", "ERRAND_WORKER_REPLY_FD",
              "ERRAND_WORKER_RUN_FD", "ERRAND_PROTOCOL",
              "ERRAND_WORKER_INDEX"):
        os.environ.pop(k, None)
    conn = Conn(fd)
    conn.send_json(HELLO, 0, {"protocol": 1, "pid": os.getpid()})
    while True:
        frame = conn.read_frame()
        if frame is None:  # the host is gone
            return 0
        ftype, fid, payload = frame
        if ftype == RUN:
            if fid == 0:
                die("RUN with job id 0")
            run_job(conn, fid, payload)
        elif ftype == PING:
            conn.send(PONG, 0)
        elif ftype == BYE:
            return 0
        elif ftype == CANCEL:
            pass  # idle (or a job that has just ended): nothing to cancel


if __name__ == "__main__":
    try:
        code = main()
    except BrokenPipeError:  # the host closed the socket while we wrote
        code = 0
    flush_output()
    os._exit(code)
