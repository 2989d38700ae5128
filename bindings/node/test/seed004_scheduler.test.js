'use strict';
// Seed 004: scheduler.postTask with priority / delay / signal, TaskController
// with setPriority() and signal.priority, 'prioritychange' with
// previousPriority, abort through TaskController and Node's AbortController.
// Each example of the seed runs with its expected output; errand's loop is
// the executor, so the callbacks run on the JS thread in errand's order.
const test = require('node:test');
const assert = require('node:assert/strict');
const errand = require('..');
const { scheduler, TaskController, TaskSignal, TaskPriorityChangeEvent, polyfill } = errand;

// Collects what the examples print.
function recorder() {
  const out = [];
  const console = {
    log: (...a) => out.push(a.join(' ')),
    error: (...a) => out.push(a.map((x) => (x instanceof Error ? `${x.name}: ${x.message}` : x)).join(' ')),
  };
  return { out, console };
}

const settle = (ms = 20) => new Promise((r) => setTimeout(r, ms));

test('Feature check: "scheduler" in globalThis after polyfill()', () => {
  const { out, console } = recorder();
  const g = {};
  polyfill(g);
  if ('scheduler' in g) {
    console.log('Feature: Supported');
  } else {
    console.error('Feature: NOT Supported');
  }
  assert.deepEqual(out, ['Feature: Supported']);
  assert.equal(g.scheduler, scheduler);
  assert.equal(g.TaskController, TaskController);
});

test('Basic usage: then/catch, and await with user-blocking', async () => {
  const { out, console } = recorder();
  const abortTaskController = new TaskController();
  function myTask() {
    return 'Task 1: user-visible';
  }
  const p1 = scheduler
    .postTask(myTask, { signal: abortTaskController.signal })
    .then((taskResult) => console.log(`${taskResult}`))
    .catch((error) => console.error('Error:', error));
  function myTask2() {
    return 'Task 2: user-blocking';
  }
  async function runTask2() {
    const result = await scheduler.postTask(myTask2, { priority: 'user-blocking' });
    console.log(result); // 'Task 2: user-blocking'.
  }
  await Promise.all([p1, runTask2()]);
  assert.deepEqual(out.sort(), ['Task 1: user-visible', 'Task 2: user-blocking']);
});

test('Permanent priorities: the seven lines in priority, then post order', async () => {
  const { out, console } = recorder();
  const all = [];
  // three tasks, in reverse order of priority
  all.push(scheduler.postTask(() => console.log('bkg 1'), { priority: 'background' }));
  all.push(scheduler.postTask(() => console.log('usr-vis 1'), { priority: 'user-visible' }));
  all.push(scheduler.postTask(() => console.log('usr-blk 1'), { priority: 'user-blocking' }));
  // three more tasks, in reverse order of priority
  all.push(scheduler.postTask(() => console.log('bkg 2'), { priority: 'background' }));
  all.push(scheduler.postTask(() => console.log('usr-vis 2'), { priority: 'user-visible' }));
  all.push(scheduler.postTask(() => console.log('usr-blk 2'), { priority: 'user-blocking' }));
  // Task with default priority: user-visible
  all.push(scheduler.postTask(() => {
    console.log('usr-vis 3 (default)');
  }));
  await Promise.all(all);
  assert.deepEqual(out, ['usr-blk 1', 'usr-blk 2', 'usr-vis 1', 'usr-vis 2', 'usr-vis 3 (default)', 'bkg 1', 'bkg 2']);
});

test('Changing task priorities: the prioritychange event, then the task', async () => {
  const { out, console } = recorder();
  // Create a TaskController, setting its signal priority to 'user-blocking'
  const controller = new TaskController({ priority: 'user-blocking' });
  // Listen for 'prioritychange' events on the controller's signal.
  controller.signal.addEventListener('prioritychange', (event) => {
    const previousPriority = event.previousPriority;
    const newPriority = event.target.priority;
    console.log(`Priority changed from ${previousPriority} to ${newPriority}.`);
  });
  // Post task using the controller's signal.
  // The signal priority sets the initial priority of the task
  const p = scheduler.postTask(() => console.log('Task 1'), { signal: controller.signal });
  // Change the priority to 'background' using the controller
  controller.setPriority('background');
  await p;
  assert.deepEqual(out, ['Priority changed from user-blocking to background.', 'Task 1']);
});

test('a priority change moves queued tasks (errand follows the signal)', async () => {
  const order = [];
  const c = new TaskController({ priority: 'background' });
  const all = [
    scheduler.postTask(() => order.push('signal task'), { signal: c.signal }),
    scheduler.postTask(() => order.push('user-visible'), { priority: 'user-visible' }),
  ];
  c.setPriority('user-blocking');
  await Promise.all(all);
  assert.deepEqual(order, ['signal task', 'user-visible']);
  assert.equal(c.signal.priority, 'user-blocking');
  // A fixed priority ignores the signal's.
  const order2 = [];
  const c2 = new TaskController({ priority: 'user-blocking' });
  await Promise.all([
    scheduler.postTask(() => order2.push('fixed background'), { priority: 'background', signal: c2.signal }),
    scheduler.postTask(() => order2.push('user-visible')),
  ]);
  assert.deepEqual(order2, ['user-visible', 'fixed background']);
});

test('onprioritychange, TaskSignal and the event class', async () => {
  const c = new TaskController();
  assert.ok(c.signal instanceof TaskSignal);
  assert.ok(c.signal instanceof AbortSignal);
  assert.ok(!(new AbortController().signal instanceof TaskSignal));
  const seen = [];
  c.signal.onprioritychange = (e) => {
    assert.ok(e instanceof TaskPriorityChangeEvent);
    seen.push([e.previousPriority, c.signal.priority]);
  };
  c.setPriority('background');
  c.setPriority('background'); // the same priority: no event
  c.setPriority('user-blocking');
  assert.deepEqual(seen, [['user-visible', 'background'], ['background', 'user-blocking']]);
});

test('Aborting tasks: TaskController.abort() rejects with an AbortError', async () => {
  const { out, console } = recorder();
  // Declare a TaskController with default priority
  const abortTaskController = new TaskController();
  // Post task passing the controller's signal
  const p = scheduler
    .postTask(() => console.log('Task executing'), {
      signal: abortTaskController.signal,
    })
    .then((taskResult) => console.log(`${taskResult}`)) // This won't run!
    .catch((error) => console.error('Error:', error)); // Log the error
  // Abort the task
  abortTaskController.abort();
  await p;
  await settle();
  assert.deepEqual(out, ['Error: AbortError: This operation was aborted']);
});

test("Node's AbortController: the rejection is the signal's reason", async () => {
  const ac = new AbortController();
  let ran = false;
  const p = scheduler.postTask(() => {
    ran = true;
  }, { signal: ac.signal, delay: 30 });
  ac.abort();
  await assert.rejects(p, (e) => e === ac.signal.reason && e.name === 'AbortError');
  const reason = new Error('custom reason');
  const ac2 = new AbortController();
  const p2 = scheduler.postTask(() => 1, { signal: ac2.signal });
  ac2.abort(reason);
  await assert.rejects(p2, (e) => e === reason);
  await assert.rejects(scheduler.postTask(() => 1, { signal: AbortSignal.abort('early') }), (e) => e === 'early');
  await settle(50);
  assert.equal(ran, false, 'an aborted task never runs');
});

test('Delaying tasks: the 1 ms task completes first, the 2000 ms one about 2 s later', async () => {
  const { out, console } = recorder();
  const t0 = Date.now();
  const times = [];
  // Post task as arrow function with delay of 2 seconds
  const a = scheduler
    .postTask(() => 'Task delayed by 2000ms', { delay: 2000 })
    .then((taskResult) => {
      times.push(Date.now() - t0);
      console.log(`${taskResult}`);
    });
  const b = scheduler
    .postTask(() => 'Next task should complete in about 2000ms', { delay: 1 })
    .then((taskResult) => {
      times.push(Date.now() - t0);
      console.log(`${taskResult}`);
    });
  await Promise.all([a, b]);
  assert.deepEqual(out, ['Next task should complete in about 2000ms', 'Task delayed by 2000ms']);
  assert.ok(times[1] >= 2000 && times[1] < 3000, `${times}`);
});

test('a callback that throws rejects its promise; a returned promise is adopted', async () => {
  await assert.rejects(scheduler.postTask(() => {
    throw new RangeError('inside');
  }), RangeError);
  assert.equal(await scheduler.postTask(() => Promise.resolve(42)), 42);
});

test('microtasks run between two callbacks, as between two macrotasks', async () => {
  const order = [];
  await Promise.all([
    scheduler.postTask(() => {
      order.push('task 1');
      Promise.resolve().then(() => order.push('microtask of 1'));
    }),
    scheduler.postTask(() => order.push('task 2')),
  ]);
  assert.deepEqual(order, ['task 1', 'microtask of 1', 'task 2']);
});

test('scheduler.yield() continues after the queued work of its priority', async () => {
  const order = [];
  await Promise.all([
    scheduler.postTask(async () => {
      order.push('a starts');
      await scheduler.yield();
      order.push('a continues');
    }, { priority: 'background' }),
    scheduler.postTask(() => order.push('b'), { priority: 'background' }),
  ]);
  assert.deepEqual(order, ['a starts', 'b', 'a continues']);
});

test('callbacks run on the JS thread (a pool thread could not touch JS state)', async () => {
  const { threadId } = require('worker_threads');
  const ids = await Promise.all([1, 2, 3].map(() => scheduler.postTask(() => threadId)));
  assert.deepEqual(ids, [threadId, threadId, threadId]);
});
