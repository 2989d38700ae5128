'use strict';
// worker.js — a Node worker process speaking errand's worker protocol
// (docs/protocol.md, version 1), so errand's C host and process pools run
// JavaScript jobs: seed 002's ChildJob / ChildPoolJob, and JS handlers of
// Job / execute().
//
//   node worker.js --one-shot | --pool      (started by errand, never by hand)
//
// Frames travel on the descriptor in ERRAND_WORKER_FD (3).  A RUN's name is
// "<absolute module file>" or "<file>|<export name>"; its args are the
// handler's arguments.  The module's export is either a class with a
// handle() method (seed 002: new Cls(...args).handle()) or a function
// (called with ...args).  The job ends when handle() / the function
// settles: its value is the RESULT, a throw is the ERROR.  While it runs,
// childMessage.send(name, data) (lib/child.js) sends PROGRESS frames.
//
// Every job first sends a PROGRESS "errand.started" {pid, index}: errand's
// API has no "a worker took the job" notification, and the host side uses
// this one to learn the pid without polling (see README).

const net = require('net');

const T = { HELLO: 1, RUN: 2, PROGRESS: 3, RESULT: 4, ERROR: 5, CANCEL: 6, PING: 7, PONG: 8, BYE: 9 };
const MAX_PAYLOAD = 16 * 1024 * 1024;
const ZERO_ID = Buffer.alloc(8);

const kind = process.argv[2] === '--one-shot' ? 'one-shot' : 'pool';
const fd = Number(process.env.ERRAND_WORKER_FD || 3);
const index = Number(process.env.ERRAND_WORKER_INDEX || 0);
if (process.env.ERRAND_PROTOCOL && process.env.ERRAND_PROTOCOL !== '1') {
  process.stderr.write(`errand worker: protocol ${process.env.ERRAND_PROTOCOL} is not supported\n`);
  process.exit(2);
}
// Programs a job starts must not think they are workers (protocol §1).
for (const k of Object.keys(process.env))
  if (k.startsWith('ERRAND_WORKER') || k === 'ERRAND_PROTOCOL') delete process.env[k];

function die(why) {
  process.stderr.write(`errand worker: ${why}\n`);
  process.exit(2);
}

let sock;
try {
  sock = new net.Socket({ fd, readable: true, writable: true });
} catch (e) {
  die(`cannot open the protocol descriptor ${fd}: ${e.message}`);
}

function send(type, id, text) {
  const payload = Buffer.from(text, 'utf8');
  if (payload.length > MAX_PAYLOAD) throw new RangeError('frame payload larger than 16 MiB');
  const b = Buffer.allocUnsafe(13 + payload.length);
  b.writeUInt32BE(9 + payload.length, 0);
  b.writeUInt8(type, 4);
  id.copy(b, 5);
  payload.copy(b, 13);
  sock.write(b);
}

let current = null; // { id: Buffer(8), ended: boolean }

function finish(job, type, text) {
  if (job.ended) return;
  job.ended = true;
  if (current === job) current = null;
  send(type, job.id, text);
}

function errorPayload(e, fallbackCode = 7, prefix = '') {
  let code = fallbackCode;
  if (e && Number.isInteger(e.code) && e.code !== 0 && e.code >= -2147483648 && e.code <= 2147483647)
    code = e.code;
  let message;
  if (e instanceof Error) message = e.message;
  else {
    try {
      message = String(e);
    } catch {
      message = 'a non-Error value was thrown';
    }
  }
  return JSON.stringify({ code, message: prefix + message });
}

// The side lib/child.js talks to.
const state = {
  kind,
  index,
  inJob() {
    return current !== null && !current.ended;
  },
  send(name, data) {
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError('childMessage.send: the event name must be a non-empty string');
    const text = JSON.stringify({ name, data: data === undefined ? null : data });
    if (!current || current.ended) {
      process.stderr.write(`errand worker: event '${name}' sent while no job runs: dropped\n`);
      return false;
    }
    send(T.PROGRESS, current.id, text);
    return true;
  },
  // Ps.exit() (ee-core: "the child process exits").  Here the host decides
  // when a worker leaves: a one-shot worker is ended by the host after its
  // job's RESULT, and a pool worker must not leave on its own after a job
  // (the host may already have sent it the next RUN).  So it does nothing
  // while a job runs, and exits an idle worker.
  exit() {
    if (!current || current.ended) process.exit(0);
  },
};
globalThis[Symbol.for('errand.worker')] = state;

function isJobClass(f) {
  return typeof f === 'function' && f.prototype && typeof f.prototype.handle === 'function';
}

async function runJob(job, name, args) {
  const bar = name.lastIndexOf('|');
  const file = bar >= 0 ? name.slice(0, bar) : name;
  const exportName = bar >= 0 ? name.slice(bar + 1) : '';
  let target;
  try {
    target = require(file);
  } catch (e) {
    finish(job, T.ERROR, JSON.stringify({ code: 1, message: `unknown job name: ${name} (${e.message})` }));
    return;
  }
  if (exportName) target = target == null ? undefined : target[exportName];
  else if (target && typeof target === 'object' && typeof target.default === 'function')
    target = target.default;
  const argv = Array.isArray(args) ? args : [args];
  let result;
  if (isJobClass(target)) result = await new target(...argv).handle();
  else if (typeof target === 'function') result = await target(...argv);
  else if (target && typeof target.handle === 'function') result = await target.handle(...argv);
  else {
    finish(job, T.ERROR, JSON.stringify({
      code: 1,
      message: `unknown job name: ${name} (no function or class with handle() there)`,
    }));
    return;
  }
  const text = JSON.stringify(result === undefined ? null : result);
  finish(job, T.RESULT, text === undefined ? 'null' : text);
}

function onFrame(type, id, payload) {
  switch (type) {
    case T.PING:
      if (payload.length) die('PING with a payload');
      send(T.PONG, ZERO_ID, '');
      return;
    case T.BYE:
      process.exit(0);
      return;
    case T.CANCEL:
      return; // SIGTERM follows at once for a running job (§5)
    case T.RUN: {
      if (current && !current.ended) die('RUN while a job runs');
      let req;
      try {
        req = JSON.parse(payload.toString('utf8'));
      } catch (e) {
        die(`RUN payload is not JSON: ${e.message}`);
      }
      if (!req || typeof req.name !== 'string' || !req.name) die('RUN without a name');
      const job = { id, ended: false };
      current = job;
      state.send('errand.started', { pid: process.pid, index });
      runJob(job, req.name, req.args === undefined ? [] : req.args).catch((e) => {
        finish(job, T.ERROR, errorPayload(e));
      });
      return;
    }
    default:
      die(`unexpected frame type ${type}`);
  }
}

let buf = Buffer.alloc(0);
sock.on('data', (chunk) => {
  buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
  while (buf.length >= 4) {
    const len = buf.readUInt32BE(0);
    if (len < 9 || len - 9 > MAX_PAYLOAD) die(`malformed frame length ${len}`);
    if (buf.length < 4 + len) return;
    const type = buf[4];
    const id = Buffer.from(buf.subarray(5, 13));
    const payload = buf.subarray(13, 4 + len);
    buf = buf.subarray(4 + len);
    onFrame(type, id, payload);
  }
});
sock.on('end', () => process.exit(0)); // the host is gone (§4 rule 6)
sock.on('error', () => process.exit(0));

// An exception the job did not catch (a throw in a timer callback, say)
// fails the running job with its message, and the worker stays: after
// ERROR the host counts it idle and may already have sent the next RUN, so
// exiting now would fault that next job instead.  Leftovers of the failed
// job (its timers) can only write to stderr: their events are dropped.
process.on('uncaughtException', (e) => {
  if (current && !current.ended) {
    finish(current, T.ERROR, errorPayload(e, 7, 'uncaught exception: '));
  } else {
    process.stderr.write(`errand worker: uncaught exception while idle: ${e && e.stack}\n`);
  }
});
process.on('unhandledRejection', (e) => {
  throw e;
});

send(T.HELLO, ZERO_ID, JSON.stringify({ protocol: 1, pid: process.pid }));
