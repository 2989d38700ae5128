'use strict';
// tasks.js — seed 003: EXECUTE TASK | WORK ... AS ... WITH ... INTO, and
// WAIT ALL | ANY ... TIMEOUT.
//
//   execute(TASK, 'demo.task', { as: 'task-1', with: [ms, 'value'], into: tasks })
//   waitAll(tasks, { timeout: 5000 })   -> true, or false on timeout
//   waitAny(tasks, { timeout, take })   -> a completed task, or undefined
//
// The waits block the JS thread, as the seed's WAIT blocks its script.
// waitAllAsync / waitAnyAsync are the promise forms (they do not block).

const { addon } = require('./native');
const { Task, kHandle, kLive } = require('./task');
const { startNamed } = require('./named');

const TASK = 'TASK';
const WORK = 'WORK';

function execute(mode, name, opts = {}) {
  if (mode !== TASK && mode !== WORK)
    throw new TypeError("execute: mode must be TASK or WORK");
  if (typeof name !== 'string' || name.length === 0)
    throw new TypeError('execute: the job name must be a non-empty string');
  if (opts === null || typeof opts !== 'object')
    throw new TypeError('execute: options must be an object');
  if (opts.as !== undefined && typeof opts.as !== 'string')
    throw new TypeError('execute: options.as must be a string');
  if (opts.into !== undefined && !Array.isArray(opts.into))
    throw new TypeError('execute: options.into must be an array');
  let args = opts.with === undefined ? [] : opts.with;
  if (!Array.isArray(args)) args = [args];
  const task = new Task(
    startNamed(name, args, {
      mode,
      taskName: opts.as === undefined ? name : opts.as,
      priority: opts.priority,
      delay: opts.delay,
      timeout: opts.timeout,
      signal: opts.signal,
    }),
    'task');
  if (opts.into) opts.into.push(task);
  return task;
}

function handlesOf(tasks, fn) {
  if (!Array.isArray(tasks)) throw new TypeError(`${fn}: tasks must be an array of tasks`);
  return tasks.map((t, i) => {
    if (!(t instanceof Task)) throw new TypeError(`${fn}: tasks[${i}] is not an errand task`);
    return t[kLive]();
  });
}

function timeoutOf(opts, fn) {
  if (opts === undefined) return undefined;
  if (opts === null || typeof opts !== 'object')
    throw new TypeError(`${fn}: options must be an object`);
  const t = opts.timeout;
  if (t !== undefined && (typeof t !== 'number' || Number.isNaN(t)))
    throw new TypeError(`${fn}: options.timeout must be a number of milliseconds`);
  return t;
}

function waitAll(tasks, opts) {
  const timeout = timeoutOf(opts, 'waitAll');
  return addon.waitAll(handlesOf(tasks, 'waitAll'), timeout);
}

function waitAny(tasks, opts) {
  const timeout = timeoutOf(opts, 'waitAny');
  const handles = handlesOf(tasks, 'waitAny');
  if (handles.length === 0) throw new RangeError('waitAny: tasks is empty');
  const i = addon.waitAny(handles, timeout);
  if (i < 0) return undefined;
  const task = tasks[i];
  if (opts && opts.take) tasks.splice(i, 1);
  return task;
}

function withTimeout(promise, timeout) {
  if (timeout === undefined || timeout < 0) return promise;
  let timer;
  return Promise.race([
    promise,
    new Promise((resolve) => {
      timer = setTimeout(resolve, timeout, undefined);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Resolves true when all ended, false on timeout; never rejects for a
// failed task (read its Status / Result).
function waitAllAsync(tasks, opts) {
  const timeout = timeoutOf(opts, 'waitAllAsync');
  handlesOf(tasks, 'waitAllAsync');
  const all = Promise.all(tasks.map((t) => t.promise().catch(() => {}))).then(() => true);
  return withTimeout(all, timeout).then((v) => v === true);
}

// Resolves with the first task to end, or undefined on timeout.
function waitAnyAsync(tasks, opts) {
  const timeout = timeoutOf(opts, 'waitAnyAsync');
  handlesOf(tasks, 'waitAnyAsync');
  if (tasks.length === 0) return Promise.reject(new RangeError('waitAnyAsync: tasks is empty'));
  const any = Promise.race(tasks.map((t) => t.promise().then(() => t, () => t)));
  return withTimeout(any, timeout).then((t) => {
    if (t && opts && opts.take) tasks.splice(tasks.indexOf(t), 1);
    return t;
  });
}

module.exports = { TASK, WORK, execute, waitAll, waitAny, waitAllAsync, waitAnyAsync, kHandle };
