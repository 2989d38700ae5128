'use strict';
// childjob.js — seed 002: ChildJob (a fresh Node process per job) and
// ChildPoolJob (resident Node processes), both run by errand's C process
// machinery with lib/worker.js as the worker program.
//
//   const job = new ChildJob();
//   const task = job.exec('./jobs/example/timer', { jobId });
//   task.emitter.on('job-timer-progress', (data) => ...);
//   task.pid; task.kill();
//   const task2 = await job.execPromise('./jobs/example/timer', { jobId });

const { addon, MODE, startSubscribed } = require('./native');
const { Task, kLive, kReleasedBy, kOutcome, kEvent } = require('./task');
const { resolveModule, workerJobName, workerCommand, priorityNumber, msOption } =
  require('./named');
const { controllerFor, checkSignal } = require('./signals');

const kPid = Symbol('errand.pid');
const kStarted = Symbol('errand.started');
const kPidWait = Symbol('errand.pidWait');

class ChildTask extends Task {
  constructor(handle, pidWait) {
    super(handle, 'ChildJob task');
    this[kPid] = 0;
    this[kPidWait] = pidWait;
    this[kStarted] = null;
    this.emitter.once('done', () => {
      const s = this[kStarted];
      if (s) s.resolve(this);
    });
  }

  [kEvent](name, data) {
    if (name === 'errand.started') {
      try {
        this[kPid] = JSON.parse(data).pid | 0;
      } catch {
        // ignore a malformed announcement
      }
      const s = this[kStarted];
      if (s) s.resolve(this);
      return;
    }
    super[kEvent](name, data);
  }

  // The pid of the worker process that runs the job.  Reading it before a
  // worker took the job waits for one, at most `pidTimeout` ms (option of
  // ChildJob / ChildPoolJob; default 10000), and gives 0 if none did.
  get pid() {
    if (this[kPid] || this[kReleasedBy]) return this[kPid];
    const pid = addon.jobPid(this[kLive](), this[kOutcome] ? 0 : this[kPidWait]);
    if (pid) this[kPid] = pid;
    return pid;
  }

  // Resolves with this task once a worker runs the job (pid known), or once
  // the job ended, whichever is first.
  started() {
    if (!this[kStarted]) {
      let resolve;
      const promise = new Promise((r) => {
        resolve = r;
      });
      this[kStarted] = { promise, resolve };
      if (this[kPid] || this[kOutcome]) resolve(this);
    }
    return this[kStarted].promise;
  }

  // Stops the job: its worker gets SIGTERM (SIGKILL after the grace) and
  // the job ends as Canceled.  Killing a job that already ended is an error.
  kill() {
    const handle = this[kLive]();
    const status = addon.taskInfo(handle)[1];
    if (status >= 4)
      throw new Error(
        `cannot kill: the job has already ended (${addon.statusNames[status]})`);
    addon.taskCancel(handle);
  }

  // What the worker wrote on stdout / stderr while it ran this job.
  get output() {
    const [stdout, stderr] = addon.jobOutput(this[kLive]());
    return { stdout, stderr };
  }
}

function checkOptions(opts, what) {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${what}: options must be an object`);
  return opts;
}

function jobOptions(base, opts) {
  const o = {
    priority: priorityNumber(opts.priority),
    runTimeout: msOption(opts.timeout !== undefined ? opts.timeout : base.timeout, 'options.timeout'),
    killGrace: msOption(opts.killGrace !== undefined ? opts.killGrace : base.killGrace, 'options.killGrace'),
  };
  if (opts.signal !== undefined) {
    checkSignal(opts.signal);
    o.controller = controllerFor(opts.signal);
  }
  return o;
}

class ChildJob {
  // options: baseDir (where relative module paths start; default the
  // current directory), timeout (ms a job may run), killGrace (ms between
  // SIGTERM and SIGKILL), pidTimeout (see task.pid).
  constructor(options) {
    const o = checkOptions(options, 'ChildJob');
    this.baseDir = o.baseDir === undefined ? process.cwd() : o.baseDir;
    if (typeof this.baseDir !== 'string') throw new TypeError('ChildJob: options.baseDir must be a string');
    this.timeout = msOption(o.timeout, 'options.timeout');
    this.killGrace = msOption(o.killGrace, 'options.killGrace');
    this.pidTimeout = msOption(o.pidTimeout, 'options.pidTimeout');
    if (this.pidTimeout === undefined) this.pidTimeout = 10000;
  }

  [Symbol.for('errand.start')](modulePath, params, opts, native) {
    if (typeof modulePath !== 'string' || modulePath.length === 0)
      throw new TypeError('exec: modulePath must be a non-empty string');
    const file = resolveModule(modulePath, this.baseDir);
    const args = JSON.stringify([params === undefined ? {} : params]);
    Object.assign(native, jobOptions(this, checkOptions(opts, 'exec')), { taskName: modulePath });
    const started = startSubscribed((key) =>
      addon.jobStart(workerJobName(file), args, Object.assign(native, { eventKey: key })));
    return new ChildTask(started, this.pidTimeout);
  }

  exec(modulePath, params, opts) {
    return this[Symbol.for('errand.start')](modulePath, params, opts, {
      mode: MODE.PROCESS,
      command: workerCommand('--one-shot'),
    });
  }

  // Resolves with the task once its process runs it (task.pid is known).
  execPromise(modulePath, params, opts) {
    try {
      return this.exec(modulePath, params, opts).started();
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

class ChildPoolJob extends ChildJob {
  // options: those of ChildJob, plus min (workers started at once and kept;
  // default 1), max (default: CPUs), recycleAfter (jobs per worker),
  // idleTimeout (ms before an idle worker above min exits).
  constructor(options) {
    const o = checkOptions(options, 'ChildPoolJob');
    super(o);
    for (const k of ['min', 'max', 'recycleAfter'])
      if (o[k] !== undefined && (!Number.isInteger(o[k]) || o[k] < 0))
        throw new TypeError(`ChildPoolJob: options.${k} must be an integer >= 0`);
    this.options = {
      min: o.min,
      max: o.max,
      recycleAfter: o.recycleAfter,
      idleTimeout: o.idleTimeout === undefined ? undefined : msOption(o.idleTimeout, 'options.idleTimeout'),
    };
    this.pool = null;
    this.destroyed = false;
  }

  // Starts the pool with n resident workers (ee-core's create(number)).
  create(n) {
    if (n !== undefined && (!Number.isInteger(n) || n < 1))
      throw new TypeError('create: n must be a positive integer');
    if (this.destroyed) throw new Error('ChildPoolJob: the pool was destroyed');
    if (this.pool) throw new Error('ChildPoolJob: the pool is already running');
    const min = n !== undefined ? n : this.options.min !== undefined ? this.options.min : 1;
    let max = this.options.max;
    if (max !== undefined && max > 0 && max < min) max = min;
    this.pool = addon.poolCreate({
      command: workerCommand('--pool'),
      min,
      max,
      recycleAfter: this.options.recycleAfter,
      idleTimeout: this.options.idleTimeout,
      killGrace: this.killGrace,
    });
    return this;
  }

  exec(modulePath, params, opts) {
    if (this.destroyed) throw new Error('ChildPoolJob: the pool was destroyed');
    if (!this.pool) this.create();
    return this[Symbol.for('errand.start')](modulePath, params, opts, {
      mode: MODE.WORKER,
      pool: this.pool,
    });
  }

  // Live worker processes now.
  get size() {
    return this.pool ? addon.poolSize(this.pool) : 0;
  }

  // Cancels queued jobs and stops every worker (SIGTERM, then SIGKILL).
  destroy() {
    if (this.pool && !this.destroyed) addon.poolDestroy(this.pool);
    this.destroyed = true;
    this.pool = null;
  }
}

module.exports = { ChildJob, ChildPoolJob, ChildTask };
