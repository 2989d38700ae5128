'use strict';
// Seed 003: EXECUTE TASK (pool) / WORK (dedicated thread) with a name and
// parameters INTO a list; task objects with Id, Name, Status (the seven
// names), Result and the four flags; WAIT ALL / ANY with TIMEOUT.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { runNode, unstamp, lines } = require('./helpers');
const { execute, waitAll, waitAny, waitAllAsync, waitAnyAsync, TASK, WORK, statuses } = require('..');

const SLEEP = '300'; // the seed sleeps 3 s; the table does not depend on it

function expectedTable(ids) {
  const row = (id, status, faulted, succeeded, result) => [
    '***',
    `Id          = ${id}`,
    `Status      = ${status}`,
    `IsFaulted   = ${faulted}`,
    'IsCanceled  = false',
    'IsCompleted = true',
    `IsSucceeded = ${succeeded}`,
    `Result      = ${result}`,
  ];
  return [
    '[MAIN] НАЧАЛО',
    '[MAIN] WAIT ALL',
    ...row(ids[0], 'RanToCompletion', false, true, '[TASK 1] RETURN'),
    ...row(ids[1], 'Faulted', true, false, 'One or more errors occurred. ([TASK 2] ERROR)'),
    ...row(ids[2], 'RanToCompletion', false, true, '[TASK 3] RETURN'),
    '[MAIN] КОНЕЦ',
  ];
}

for (const variant of ['c', 'work', 'js']) {
  const what = { c: 'TASK, C handler on the pool', work: 'WORK, dedicated threads',
    js: 'TASK, JS files in resident Node workers' }[variant];
  test(`"return a value or an error" reproduces the seed's table (${what})`, async () => {
    const r = await runNode('examples/seed003_return_value.js', [variant], { SEED003_SLEEP_MS: SLEEP });
    assert.equal(r.code, 0, r.stderr);
    const out = unstamp(lines(r.stdout));
    assert.ok(out.every((l, i) => i === 0 || /^\[MAIN\]|^\*\*\*|^[A-Za-z]+ +=/.test(l)), r.stdout);
    const ids = out.filter((l) => l.startsWith('Id ')).map((l) => Number(l.split('=')[1]));
    assert.equal(ids.length, 3);
    assert.deepEqual([ids[1] - ids[0], ids[2] - ids[1]], [1, 1], 'ids follow post order');
    assert.deepEqual(out, expectedTable(ids));
    assert.ok(r.ms < 10000);
  });
}

test('the seven statuses, as the seed spells them', () => {
  assert.deepEqual(statuses, ['Created', 'WaitingToRun', 'Running', 'WaitingForChildrenToComplete',
    'RanToCompletion', 'Canceled', 'Faulted']);
});

test('wait for all: three tasks without RETURN give Result = null', () => {
  const tasks = [];
  for (const n of [1, 2, 3]) execute(TASK, 'demo.task', { as: `task-${n}.djs`, with: [100], into: tasks });
  assert.equal(waitAll(tasks), true);
  for (const [i, task] of tasks.entries()) {
    assert.equal(task.Name, `task-${i + 1}.djs`);
    assert.equal(task.Status, 'RanToCompletion');
    assert.deepEqual([task.IsFaulted, task.IsCanceled, task.IsCompleted, task.IsSucceeded],
      [false, false, true, true]);
    assert.equal(task.Result, null);
    assert.equal(typeof task.Id, 'number');
  }
});

test('wait for any: WHILE ARRAY_COUNT(@tasks) > 0 WAIT ANY @tasks INTO @task', () => {
  const tasks = [];
  execute(TASK, 'demo.task', { as: 'slow', with: [300, 'slow'], into: tasks });
  execute(TASK, 'demo.task', { as: 'fast', with: [50, 'fast'], into: tasks });
  execute(WORK, 'demo.task', { as: 'mid', with: [150, 'mid'], into: tasks });
  const order = [];
  while (tasks.length > 0) {
    const task = waitAny(tasks, { take: true });
    assert.equal(task.IsCompleted, true);
    order.push(task.Result);
  }
  assert.deepEqual(order, ['fast', 'mid', 'slow']);
});

test('TIMEOUT: WAIT ALL and WAIT ANY give up, the tasks go on', () => {
  const tasks = [];
  execute(TASK, 'demo.task', { with: [400, 'a'], into: tasks });
  execute(WORK, 'demo.task', { with: [400, 'b'], into: tasks });
  const t0 = Date.now();
  assert.equal(waitAll(tasks, { timeout: 50 }), false);
  assert.equal(waitAny(tasks, { timeout: 50 }), undefined);
  assert.ok(Date.now() - t0 < 350);
  assert.ok(tasks.every((t) => ['WaitingToRun', 'Running'].includes(t.Status)));
  assert.equal(tasks[0].Result, null);
  assert.equal(waitAll(tasks, { timeout: 5000 }), true);
  assert.deepEqual(tasks.map((t) => t.Result), ['a', 'b']);
});

test('a canceled task: Status Canceled, IsCanceled, Result is the error text', () => {
  const t = execute(TASK, 'demo.sleep', { with: [10000] });
  t.cancel();
  assert.equal(waitAll([t], { timeout: 5000 }), true);
  assert.equal(t.Status, 'Canceled');
  assert.deepEqual([t.IsFaulted, t.IsCanceled, t.IsCompleted, t.IsSucceeded], [false, true, true, false]);
  assert.equal(t.Result, 'One or more errors occurred. (A task was canceled.)');
});

test('fire and forget: tasks nobody waits for still run to their end', async () => {
  const t = execute(TASK, 'demo.task', { with: [50, 'done'] });
  assert.equal(await t.promise(), 'done');
});

test('promise forms: waitAllAsync / waitAnyAsync do not block the JS thread', async () => {
  const tasks = [];
  execute(TASK, 'demo.task', { with: [100, 1], into: tasks });
  execute(TASK, 'demo.task', { with: [20, null, 'oops'], into: tasks });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 5);
  const first = await waitAnyAsync(tasks);
  assert.equal(first, tasks[1]);
  assert.equal(first.Status, 'Faulted');
  assert.equal(await waitAllAsync(tasks), true);
  clearInterval(timer);
  assert.ok(ticks > 3, `the event loop ran (${ticks} ticks)`);
  assert.equal(await waitAllAsync([execute(TASK, 'demo.sleep', { with: [500] })], { timeout: 20 }), false);
});

test('JS files as WORK: each in a one-shot Node process', () => {
  const file = path.join(__dirname, 'fixtures', 'code', 'task', 'task-1.js');
  const t = execute(WORK, `file://${file}`, { with: [10] });
  assert.equal(waitAll([t], { timeout: 10000 }), true);
  assert.equal(t.Result, '[TASK 1] RETURN');
});
