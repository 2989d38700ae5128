'use strict';
// Seed 003's return-value-or-error.djs.  Tasks are the addon's C handler
// demo.task on errand's pool (TASK) — or, with argv[2] = 'js', the JS files
// fixtures/code/task/task-N.js in resident Node workers; 'work' runs them as
// WORK (dedicated threads).  SLEEP is SEED003_SLEEP_MS (default 3000).
const { execute, waitAll, TASK, WORK } = require('../..');
const path = require('path');

const variant = process.argv[2] || 'c';
const ms = Number(process.env.SEED003_SLEEP_MS || 3000);
const pad = (n) => String(n).padStart(2, '0');
const stamp = (d = new Date()) =>
  `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
  `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
const PRINT = (s) => console.log(`[${stamp()}] ${s}`);

const tasks = []; // DECLARE @tasks array

PRINT('[MAIN] НАЧАЛО');
for (const n of [1, 2, 3]) {
  if (variant === 'js') {
    const file = path.join(__dirname, '..', 'fixtures', 'code', 'task', `task-${n}.js`);
    execute(TASK, `file://${file}`, { as: `task-${n}.js`, with: [ms], into: tasks });
  } else {
    const args = n === 2 ? [ms, null, '[TASK 2] ERROR'] : [ms, `[TASK ${n}] RETURN`];
    execute(variant === 'work' ? WORK : TASK, 'demo.task', { as: `task-${n}.djs`, with: args, into: tasks });
  }
}

PRINT('[MAIN] WAIT ALL');
waitAll(tasks);

for (const task of tasks) {
  PRINT('***');
  PRINT('Id          = ' + task.Id);
  PRINT('Status      = ' + task.Status);
  PRINT('IsFaulted   = ' + task.IsFaulted);
  PRINT('IsCanceled  = ' + task.IsCanceled);
  PRINT('IsCompleted = ' + task.IsCompleted);
  PRINT('IsSucceeded = ' + task.IsSucceeded);
  PRINT('Result      = ' + task.Result);
}
PRINT('[MAIN] КОНЕЦ');
