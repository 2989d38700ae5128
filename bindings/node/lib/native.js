'use strict';
// native.js — loads build/errand.node and owns the three dispatchers through
// which the addon reaches JavaScript.  Every completion, job event and
// posted callback arrives here with a plain integer key; the entry for the
// key lives in `entries` until its completion (onDone) and is deleted then,
// so nothing is retained once a task is over.

const path = require('path');

let addon;
try {
  addon = require(path.join(__dirname, '..', 'build', 'errand.node'));
} catch (e) {
  const err = new Error(
    `errand: cannot load build/errand.node (${e.message}); ` +
      'build it first: cd bindings/node && ./build.sh');
  err.cause = e;
  throw err;
}

const entries = new Map();
let lastKey = 0;

// entry: { run?(): boolean, done(status, json, code, message), event?(name, data) }
function track(entry) {
  lastKey += 1;
  entries.set(lastKey, entry);
  return lastKey;
}

function untrack(key) {
  entries.delete(key);
}

// A job started with its event subscription already in place: startFn(key)
// makes the native call with options.eventKey = key, so no event the job
// emits before a Task wraps it is lost.  Task takes it instead of a handle.
class Started {
  constructor(handle, key) {
    this.handle = handle;
    this.key = key;
  }
}

function startSubscribed(startFn) {
  const key = track({ done: () => {}, event: () => {} });
  try {
    return new Started(startFn(key), key);
  } catch (e) {
    untrack(key);
    throw e;
  }
}

function onLoopTask(key) {
  const e = entries.get(key);
  if (!e || !e.run) return true;
  return e.run();
}

function onDone(key, status, json, code, message) {
  const e = entries.get(key);
  if (!e) return;
  entries.delete(key);
  e.done(status, json, code, message);
}

function onEvent(key, name, data) {
  const e = entries.get(key);
  if (e && e.event) e.event(name, data);
}

addon.setup(onLoopTask, onDone, onEvent);

const STATUS = Object.freeze({
  CREATED: 0,
  WAITING_TO_RUN: 1,
  RUNNING: 2,
  WAITING_FOR_CHILDREN: 3,
  RAN_TO_COMPLETION: 4,
  CANCELED: 5,
  FAULTED: 6,
});

const MODE = Object.freeze({ POOL: 0, DEDICATED: 1, PROCESS: 2, WORKER: 3 });

const PRIORITIES = Object.freeze({
  'user-blocking': 1,
  'user-visible': 2,
  background: 3,
});
const PRIORITY_NAMES = ['', 'user-blocking', 'user-visible', 'background'];

// An Error for a failed task: message = errand's message, code = errand's
// code name (ERRAND_E_FAILED, ERRAND_E_CANCELED, ...), errno = the number.
function taskError(code, message) {
  const err = new Error(message || addon.statusNames[STATUS.FAULTED]);
  err.errno = code;
  err.code = errnoName(code);
  return err;
}

const ERRNO_NAMES = [
  'OK', 'ERRAND_E_INVALID', 'ERRAND_E_RELEASED', 'ERRAND_E_NOMEM',
  'ERRAND_E_SHUTDOWN', 'ERRAND_E_TIMEOUT', 'ERRAND_E_CANCELED',
  'ERRAND_E_FAILED', 'ERRAND_E_PENDING', 'ERRAND_E_STATE',
  'ERRAND_E_SYSTEM', 'ERRAND_E_WRONG_THREAD', 'ERRAND_E_WORKER_DIED',
  'ERRAND_E_PROTOCOL',
];
function errnoName(code) {
  return ERRNO_NAMES[code] || 'ERRAND_E_UNKNOWN';
}

function parseJson(text) {
  return text == null ? null : JSON.parse(text);
}

module.exports = {
  addon,
  track,
  untrack,
  Started,
  startSubscribed,
  STATUS,
  MODE,
  PRIORITIES,
  PRIORITY_NAMES,
  taskError,
  parseJson,
  entries,
};
