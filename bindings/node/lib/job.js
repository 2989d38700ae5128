'use strict';
// job.js — seed 000's Job and seed 001's async task.
//
// new Job(name, ...args) starts the handler `name` with args (a C handler
// on errand's pool, or a registered JS handler in a Node worker).  The
// seed's synchronous calls block the JS thread as the seed's do:
// Pending(fn) calls fn while the job runs until fn returns false; Data()
// waits for the result (or throws the job's error) and releases the job.
// The Node-shaped forms: job.promise() and job.on(eventName, fn).
//
// schedule(name, args, callback) is seed 001's perform/complete: the C
// handler runs on a pool thread, callback(err, value) runs later on the JS
// thread; without a callback it returns a promise.

const { addon, taskError, parseJson, STATUS } = require('./native');
const { Task, kLive, kReleasedBy, kOutcome } = require('./task');
const { startNamed } = require('./named');

class Job extends Task {
  constructor(name, ...args) {
    if (typeof name !== 'string' || name.length === 0)
      throw new TypeError('Job: the handler name must be a non-empty string');
    super(startNamed(name, args), 'Job');
  }

  // Calls fn() every intervalMs (default 50) while the job runs, on this
  // thread, until the job ends or fn returns false.  Returns the job.
  Pending(fn, intervalMs = 50) {
    if (typeof fn !== 'function')
      throw new TypeError('Pending: the argument must be a function');
    if (typeof intervalMs !== 'number' || !(intervalMs >= 0))
      throw new TypeError('Pending: intervalMs must be a number >= 0');
    addon.jobPending(this[kLive](), fn, Math.floor(intervalMs));
    return this;
  }

  // Waits for the job, returns its result or throws its error, and releases
  // the job: any later use throws.
  Data() {
    const handle = this[kLive]();
    let json;
    try {
      json = addon.jobData(handle);
    } catch (e) {
      if (e && e.released === true) this[kReleasedBy] = 'Data()';
      throw e;
    }
    this[kReleasedBy] = 'Data()';
    return parseJson(json);
  }

  Cancel() {
    this.cancel();
  }

  // The seed's spelling.
  Cancle() {
    this.cancel();
  }
}

function schedule(name, args, callback) {
  if (typeof args === 'function' && callback === undefined) {
    callback = args;
    args = [];
  }
  if (args === undefined) args = [];
  if (!Array.isArray(args)) throw new TypeError('schedule: args must be an array');
  if (callback !== undefined && typeof callback !== 'function')
    throw new TypeError('schedule: callback must be a function');
  const task = new Task(startNamed(name, args), 'task');
  if (!callback) {
    const p = task.promise();
    task.emitter.once('done', () => task.release());
    return p;
  }
  task.emitter.once('done', () => {
    const o = task[kOutcome];
    task.release();
    if (o.status === STATUS.RAN_TO_COMPLETION) {
      let value;
      try {
        value = parseJson(o.json);
      } catch (e) {
        callback(e);
        return;
      }
      callback(null, value);
    } else {
      callback(taskError(o.code, o.message));
    }
  });
  return undefined;
}

module.exports = { Job, schedule };
