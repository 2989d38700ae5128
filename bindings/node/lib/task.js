'use strict';
// task.js — the JS side of an errand task handle, shared by Job (seed 000),
// the task objects of execute() (seed 003) and ChildJob tasks (seed 002).
//
// A Task is watched from the start: its events reach `task.emitter` and its
// completion is recorded (and settles task.promise()) on the JS thread.
// Until then the task keeps Node's event loop alive; after it, the Task
// holds nothing but its handle, which the garbage collector (or release())
// gives back to errand.

const { EventEmitter } = require('events');
const { addon, track, untrack, Started, entries, STATUS, PRIORITY_NAMES,
  taskError, parseJson } = require('./native');

const kHandle = Symbol('errand.handle');
const kOutcome = Symbol('errand.outcome');
const kPromise = Symbol('errand.promise');
const kReleasedBy = Symbol('errand.releasedBy');
const kDone = Symbol('errand.done');
const kEvent = Symbol('errand.event');
const kLive = Symbol('errand.live');
const kKind = Symbol('errand.kind');

const STATUS_NAMES = addon.statusNames; // seed 003's spelling

function faultText(outcome) {
  if (outcome.status === STATUS.FAULTED)
    return `One or more errors occurred. (${outcome.message})`;
  if (outcome.status === STATUS.CANCELED)
    return 'One or more errors occurred. (A task was canceled.)';
  return null;
}

class Task {
  // handle: a task handle, or a Started (a job subscribed from its start).
  constructor(handle, kind = 'Task') {
    let reservedKey = 0;
    if (handle instanceof Started) {
      reservedKey = handle.key;
      handle = handle.handle;
    }
    this[kHandle] = handle;
    this[kKind] = kind;
    this[kOutcome] = null;
    this[kPromise] = null;
    this[kReleasedBy] = null;
    this.emitter = new EventEmitter();
    const entry = {
      done: (status, json, code, message) =>
        this[kDone](status, json, code, message),
      event: (name, data) => this[kEvent](name, data),
    };
    let key = reservedKey;
    if (key) Object.assign(entries.get(key), entry);
    else key = track(entry);
    try {
      addon.watch(handle, key, !reservedKey);
    } catch (e) {
      untrack(key);
      throw e;
    }
  }

  [kLive]() {
    if (this[kReleasedBy])
      throw new Error(
        `this ${this[kKind]} was released by ${this[kReleasedBy]}; ` +
          'it can no longer be used');
    return this[kHandle];
  }

  [kDone](status, json, code, message) {
    const outcome = { status, json, code, message };
    this[kOutcome] = outcome;
    const p = this[kPromise];
    if (p) settle(p, outcome);
    this.emitter.emit('done', this);
  }

  [kEvent](name, data) {
    let value = data;
    try {
      value = data === '' ? undefined : JSON.parse(data);
    } catch {
      // not JSON (a raw C event): hand the text over as it is
    }
    if (name === 'error' && this.emitter.listenerCount('error') === 0) return;
    this.emitter.emit(name, value);
  }

  // ---- seed 003's properties ----
  get Id() {
    return addon.taskInfo(this[kLive]())[0];
  }
  get Name() {
    return addon.taskName(this[kLive]());
  }
  get Status() {
    return STATUS_NAMES[this.statusCode];
  }
  get Result() {
    const o = this.outcome();
    if (o.status === STATUS.RAN_TO_COMPLETION) return parseJson(o.json);
    return faultText(o);
  }
  get IsFaulted() {
    return this.statusCode === STATUS.FAULTED;
  }
  get IsCanceled() {
    return this.statusCode === STATUS.CANCELED;
  }
  get IsCompleted() {
    return this.statusCode >= STATUS.RAN_TO_COMPLETION;
  }
  get IsSucceeded() {
    return this.statusCode === STATUS.RAN_TO_COMPLETION;
  }

  // ---- Node-shaped names ----
  get id() {
    return this.Id;
  }
  get name() {
    return this.Name;
  }
  get status() {
    return this.Status;
  }
  get statusCode() {
    return addon.taskInfo(this[kLive]())[1];
  }
  get priority() {
    return PRIORITY_NAMES[addon.taskInfo(this[kLive]())[3]];
  }
  // The value of a task that succeeded (undefined otherwise).
  get value() {
    const o = this.outcome();
    return o.status === STATUS.RAN_TO_COMPLETION ? parseJson(o.json) : undefined;
  }
  // The Error of a task that failed or was canceled (null otherwise).
  get error() {
    const o = this.outcome();
    return o.status >= STATUS.CANCELED ? taskError(o.code, o.message) : null;
  }

  // What the task ended with, read from errand now: {status, json, code, message}.
  outcome() {
    const [status, json, code, message] = addon.taskOutcome(this[kLive]());
    return { status, json, code, message };
  }

  // Blocks the JS thread until the task ends (true) or timeoutMs passes
  // (false).  No timeout = forever.
  wait(timeoutMs) {
    if (timeoutMs !== undefined && typeof timeoutMs !== 'number')
      throw new TypeError('timeoutMs must be a number of milliseconds');
    return addon.taskWait(this[kLive](), timeoutMs);
  }

  cancel() {
    addon.taskCancel(this[kLive]());
  }

  // A promise for the result: resolves with the value, rejects with an
  // Error (err.code 'ERRAND_E_CANCELED' for a canceled task).
  promise() {
    if (!this[kPromise]) {
      let resolve, reject;
      const promise = new Promise((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this[kPromise] = { promise, resolve, reject };
      if (this[kOutcome]) settle(this[kPromise], this[kOutcome]);
    }
    return this[kPromise].promise;
  }

  on(name, fn) {
    this.emitter.on(name, fn);
    return this;
  }
  once(name, fn) {
    this.emitter.once(name, fn);
    return this;
  }
  off(name, fn) {
    this.emitter.off(name, fn);
    return this;
  }

  // Gives the handle back to errand now instead of at garbage collection.
  release() {
    if (this[kReleasedBy]) return;
    addon.taskRelease(this[kHandle]);
    this[kReleasedBy] = 'release()';
  }
}

function settle(p, o) {
  if (o.status === STATUS.RAN_TO_COMPLETION) {
    let value;
    try {
      value = parseJson(o.json);
    } catch (e) {
      p.reject(e);
      return;
    }
    p.resolve(value);
  } else {
    p.reject(taskError(o.code, o.message));
  }
}

module.exports = {
  Task,
  kHandle,
  kOutcome,
  kReleasedBy,
  kLive,
  kEvent,
  STATUS_NAMES,
};
