'use strict';
// errand for Node: run work in the background (see README.md).
//
//   seed 000  Job                      new Job(name, ...args): Pending, Data, Cancel
//   seed 001  schedule                 schedule(name, args, (err, value) => ...) / promise
//   seed 002  ChildJob, ChildPoolJob   exec(modulePath, params) -> task { pid, kill(), emitter }
//   seed 003  execute, TASK, WORK      task lists; waitAll / waitAny with timeout
//   seed 004  scheduler, TaskController
//
// JS job modules use require('errand/lib/child') (Job base class,
// childMessage, Ps) inside their worker process.

const { addon } = require('./lib/native');
const { Task, STATUS_NAMES } = require('./lib/task');
const { Job, schedule } = require('./lib/job');
const { register, configure, loadModule } = require('./lib/named');
const { ChildJob, ChildPoolJob } = require('./lib/childjob');
const tasks = require('./lib/tasks');
const sched = require('./lib/scheduler');

function performAsyncTask(callback) {
  // Seed 001's exported function: the 100000-iteration sum on a pool thread.
  return schedule('demo.sum', [100000, 10], callback);
}

module.exports = {
  Job,
  schedule,
  performAsyncTask,
  ChildJob,
  ChildPoolJob,
  Task,
  TASK: tasks.TASK,
  WORK: tasks.WORK,
  execute: tasks.execute,
  waitAll: tasks.waitAll,
  waitAny: tasks.waitAny,
  waitAllAsync: tasks.waitAllAsync,
  waitAnyAsync: tasks.waitAnyAsync,
  scheduler: sched.scheduler,
  TaskController: sched.TaskController,
  TaskSignal: sched.TaskSignal,
  TaskPriorityChangeEvent: sched.TaskPriorityChangeEvent,
  polyfill: sched.polyfill,
  register,
  configure,
  loadModule,
  statuses: STATUS_NAMES,
  stats: () => addon.stats(),
  workers: addon.workers,
};
