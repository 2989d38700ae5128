'use strict';
// named.js — starting named jobs: where a name runs.
//
//  * a C handler name (the addon's demo.* handlers, or handlers of a .so
//    loaded with loadModule): on errand's pool (TASK) or on a thread of its
//    own (WORK);
//  * a JS handler registered with register(name, modulePath[, exportName]),
//    or a 'file://path/to/job.js' name: in a Node worker process speaking
//    errand's protocol (lib/worker.js) — TASK = one of the addon's resident
//    workers, WORK = a one-shot process of its own;
//  * any other 'file://...' name: errand's own module loading (.so).

const os = require('os');
const path = require('path');
const { addon, MODE, PRIORITIES, startSubscribed } = require('./native');
const { controllerFor, checkSignal } = require('./signals');

const WORKER_JS = path.join(__dirname, 'worker.js');
const jsHandlers = new Map(); // name -> { file, exportName }

let config = {
  nodeWorkers: Math.max(4, (os.availableParallelism || (() => os.cpus().length))()),
  idleTimeout: 30000,
};
let sharedPool = null;

function configure(opts = {}) {
  if (opts === null || typeof opts !== 'object')
    throw new TypeError('options must be an object');
  if (opts.nodeWorkers !== undefined) {
    if (!Number.isInteger(opts.nodeWorkers) || opts.nodeWorkers < 1)
      throw new TypeError('options.nodeWorkers must be a positive integer');
    if (sharedPool) throw new Error('configure() must come before the first JS job');
    config.nodeWorkers = opts.nodeWorkers;
  }
  if (opts.idleTimeout !== undefined) {
    if (typeof opts.idleTimeout !== 'number')
      throw new TypeError('options.idleTimeout must be a number of milliseconds');
    if (sharedPool) throw new Error('configure() must come before the first JS job');
    config.idleTimeout = opts.idleTimeout;
  }
  return { ...config };
}

function workerCommand(kind) {
  return [process.execPath, WORKER_JS, kind];
}

function getSharedPool() {
  if (!sharedPool)
    sharedPool = addon.poolCreate({
      command: workerCommand('--pool'),
      min: 0,
      max: config.nodeWorkers,
      idleTimeout: config.idleTimeout,
    });
  return sharedPool;
}

// A module file for a worker: absolute, resolved now so that a missing
// file is an error here rather than a failed job later.
function resolveModule(file, baseDir) {
  const abs = path.resolve(baseDir || process.cwd(), file);
  try {
    return require.resolve(abs);
  } catch (e) {
    const err = new Error(`cannot find job module '${file}' (looked for ${abs})`);
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
}

// The job name a worker receives: "<absolute file>" or "<file>|<export>".
function workerJobName(file, exportName) {
  if (file.includes('|')) throw new Error(`job module path may not contain '|': ${file}`);
  return exportName ? `${file}|${exportName}` : file;
}

function register(name, modulePath, exportName) {
  if (typeof name !== 'string' || name.length === 0)
    throw new TypeError('name must be a non-empty string');
  if (typeof modulePath !== 'string' || modulePath.length === 0)
    throw new TypeError('modulePath must be a non-empty string');
  if (exportName !== undefined && typeof exportName !== 'string')
    throw new TypeError('exportName must be a string');
  const file = resolveModule(modulePath);
  jsHandlers.set(name, { file, exportName });
}

function priorityNumber(p, what = 'options.priority') {
  if (p === undefined) return 0;
  const n = PRIORITIES[p];
  if (n === undefined)
    throw new TypeError(
      `${what} must be 'user-blocking', 'user-visible' or 'background'`);
  return n;
}

function msOption(v, what) {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0)
    throw new TypeError(`${what} must be a number of milliseconds >= 0`);
  return Math.floor(v);
}

// start(name, args, opts) -> native handle.
//   opts.mode: 'TASK' (default) | 'WORK'
//   opts.taskName, opts.priority, opts.delay, opts.timeout (run timeout),
//   opts.queueTimeout, opts.signal (AbortSignal)
function startNamed(name, args, opts = {}) {
  if (typeof name !== 'string' || name.length === 0)
    throw new TypeError('the job name must be a non-empty string');
  if (!Array.isArray(args)) throw new TypeError('args must be an array');
  if (opts === null || typeof opts !== 'object')
    throw new TypeError('options must be an object');
  const mode = opts.mode === undefined ? 'TASK' : opts.mode;
  if (mode !== 'TASK' && mode !== 'WORK')
    throw new TypeError("options.mode must be 'TASK' or 'WORK'");
  if (opts.taskName !== undefined && typeof opts.taskName !== 'string')
    throw new TypeError('options.taskName must be a string');
  const native = {
    priority: priorityNumber(opts.priority),
    delay: msOption(opts.delay, 'options.delay'),
    runTimeout: msOption(opts.timeout, 'options.timeout'),
    queueTimeout: msOption(opts.queueTimeout, 'options.queueTimeout'),
    taskName: opts.taskName === undefined ? name : opts.taskName,
  };
  if (opts.signal !== undefined) {
    checkSignal(opts.signal);
    native.controller = controllerFor(opts.signal);
  }
  let errandName = name;
  let js = jsHandlers.get(name);
  if (!js && name.startsWith('file://') && /\.(c|m)?js$/.test(name))
    js = { file: resolveModule(name.slice('file://'.length)) };
  if (js) {
    errandName = workerJobName(js.file, js.exportName);
    if (mode === 'WORK') {
      native.mode = MODE.PROCESS;
      native.command = workerCommand('--one-shot');
    } else {
      native.mode = MODE.WORKER;
      native.pool = getSharedPool();
    }
  } else {
    native.mode = mode === 'WORK' ? MODE.DEDICATED : MODE.POOL;
  }
  const json = JSON.stringify(args);
  return startSubscribed((key) =>
    addon.jobStart(errandName, json, Object.assign(native, { eventKey: key })));
}

module.exports = {
  startNamed,
  register,
  configure,
  resolveModule,
  workerJobName,
  workerCommand,
  priorityNumber,
  msOption,
  loadModule: (p) => {
    if (typeof p !== 'string') throw new TypeError('path must be a string');
    addon.loadModule(p.includes('/') ? p : `./${p}`);
  },
};
