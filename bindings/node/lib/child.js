'use strict';
// child.js — what a job module (the file a ChildJob / ChildPoolJob runs)
// uses inside its Node worker: the seed's base Job class, childMessage and
// Ps, backed by lib/worker.js.
//
//   const { Job, childMessage, Ps } = require('errand/lib/child');
//   class TimerJob extends Job {
//     async handle() { childMessage.send('job-timer-progress', { number: 1 }); }
//   }
//   module.exports = TimerJob;

function worker() {
  const w = globalThis[Symbol.for('errand.worker')];
  if (!w) throw new Error('not inside an errand job worker (lib/worker.js)');
  return w;
}

class Job {
  constructor(params) {
    this.params = params;
  }

  async handle() {
    throw new Error(`${this.constructor.name}: handle() is not implemented`);
  }
}

const childMessage = {
  // Sends a progress event to the parent: task.emitter emits (eventName, data).
  send(eventName, data) {
    return worker().send(eventName, data);
  },
};

const Ps = {
  isChildJob() {
    return worker().kind === 'one-shot';
  },
  isChildPoolJob() {
    return worker().kind === 'pool';
  },
  // ee-core's "the child process exits".  The job still ends when handle()
  // settles; a one-shot (ChildJob) process is then ended by errand, a pool
  // (ChildPoolJob) worker stays for its next job.  Outside a job the worker
  // process exits.
  exit() {
    worker().exit();
  },
  get pid() {
    return process.pid;
  },
  get workerIndex() {
    return worker().index;
  },
};

module.exports = { Job, childMessage, Ps };
