'use strict';
// No misuse crashes the process: wrong argument types throw TypeError,
// wrong states throw an Error with a clear message — from the public API
// and from the raw addon alike.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const errand = require('..');
const { addon } = require('../lib/native');
const { Job, schedule, ChildJob, ChildPoolJob, execute, waitAll, waitAny, TASK, scheduler, TaskController } = errand;

test('Job: bad names and arguments', () => {
  assert.throws(() => new Job(), TypeError);
  assert.throws(() => new Job(42), TypeError);
  assert.throws(() => new Job(''), TypeError);
  assert.throws(() => new Job('no.such.handler'), { code: 'ERRAND_E_INVALID', message: /no\.such\.handler/ });
  assert.throws(() => new Job('demo.echo', 10n), TypeError); // BigInt is not JSON
  const job = new Job('demo.echo', 1);
  assert.throws(() => job.Pending('not a function'), TypeError);
  assert.throws(() => job.Pending(() => {}, -1), TypeError);
  assert.throws(() => job.Pending(() => {}, 'x'), TypeError);
  assert.equal(job.Data(), 1);
});

test('Job: use after Data(), errors inside Pending', () => {
  const job = new Job('demo.sleep', 50, 'v');
  assert.throws(() => job.Pending(() => {
    throw new Error('from fn');
  }), { message: 'from fn' });
  assert.throws(() => job.Pending(() => job.Data()), { message: /inside the job's own Pending/ });
  assert.equal(job.Data(), 'v');
  assert.throws(() => job.Data(), /released by Data\(\)/);
  assert.throws(() => job.Cancle(), /released by Data\(\)/);
  assert.throws(() => job.IsCompleted, /released by Data\(\)/);
  assert.throws(() => job.wait(), /released by Data\(\)/);
  job.release(); // harmless
});

test('Job: failing and canceled jobs throw from Data()', () => {
  assert.throws(() => new Job('demo.fail', 'bad thing').Data(), { message: 'bad thing', code: 'ERRAND_E_FAILED' });
  const j = new Job('demo.sleep', 5000);
  j.Cancel();
  j.Cancel(); // any number of times
  assert.throws(() => j.Data(), { code: 'ERRAND_E_CANCELED' });
});

test('schedule: bad arguments', async () => {
  assert.throws(() => schedule(), TypeError);
  assert.throws(() => schedule('demo.sum', 'x'), TypeError);
  assert.throws(() => schedule('demo.sum', [], 'cb'), TypeError);
  assert.throws(() => schedule('nope', [], () => {}), { code: 'ERRAND_E_INVALID' });
  await assert.rejects(schedule('demo.sum', ['x']).then((v) => {
    throw new Error(`got ${v}`);
  }), () => true).catch(() => {});
});

test('ChildJob: missing module, bad arguments, killing a finished job', async () => {
  const job = new ChildJob({ baseDir: path.join(__dirname, 'fixtures') });
  assert.throws(() => job.exec('./jobs/does-not-exist', {}), { message: /cannot find job module/ });
  assert.throws(() => job.exec(123), TypeError);
  assert.throws(() => job.exec('./jobs/example/timer', 1n), TypeError);
  assert.throws(() => new ChildJob(5), TypeError);
  assert.throws(() => new ChildPoolJob({ max: -1 }), TypeError);
  await assert.rejects(job.execPromise('./nope'), { message: /cannot find job module/ });
  const t = job.exec('./jobs/example/timer', { jobId: 1, interval: 5, duration: 10 });
  await t.promise();
  assert.throws(() => t.kill(), { message: /already ended \(RanToCompletion\)/ });
  assert.equal(t.pid > 0, true);
  const pool = new ChildPoolJob({ baseDir: path.join(__dirname, 'fixtures'), max: 1 });
  pool.destroy();
  pool.destroy();
  assert.throws(() => pool.exec('./jobs/example/timer', {}), /destroyed/);
  // A JS name that is not a module export.
  errand.register('misuse.missing', path.join(__dirname, 'fixtures', 'scripts', 'image.js'), 'Nope');
  await assert.rejects(new Job('misuse.missing').promise(), { message: /unknown job name/ });
  assert.throws(() => errand.register('x', './nope.js'), /cannot find job module/);
  assert.throws(() => errand.register(1, 'x'), TypeError);
});

test('execute / waitAll / waitAny: bad arguments', () => {
  assert.throws(() => execute('FAST', 'demo.echo'), TypeError);
  assert.throws(() => execute(TASK, 5), TypeError);
  assert.throws(() => execute(TASK, 'demo.echo', { into: 'x' }), TypeError);
  assert.throws(() => execute(TASK, 'demo.echo', { priority: 'urgent' }), TypeError);
  assert.throws(() => execute(TASK, 'demo.echo', { signal: {} }), TypeError);
  assert.throws(() => execute(TASK, 'demo.echo', { delay: -5 }), TypeError);
  assert.throws(() => waitAll('tasks'), TypeError);
  assert.throws(() => waitAll([{}]), TypeError);
  assert.throws(() => waitAll([], { timeout: 'soon' }), TypeError);
  assert.equal(waitAll([]), true);
  assert.throws(() => waitAny([]), RangeError);
  const t = execute(TASK, 'demo.echo', { with: [1] });
  t.release();
  assert.throws(() => waitAll([t]), /released by release\(\)/);
  assert.throws(() => t.Status, /released/);
});

test('scheduler: bad arguments reject, bad priorities throw', async () => {
  await assert.rejects(scheduler.postTask(), TypeError);
  await assert.rejects(scheduler.postTask(42), TypeError);
  await assert.rejects(scheduler.postTask(() => 1, null), TypeError);
  await assert.rejects(scheduler.postTask(() => 1, { priority: 'high' }), TypeError);
  await assert.rejects(scheduler.postTask(() => 1, { signal: 'abort' }), TypeError);
  await assert.rejects(scheduler.postTask(() => 1, { delay: 'soon' }), TypeError);
  assert.equal(await scheduler.postTask(() => 1, { delay: -10 }), 1);
  assert.throws(() => new TaskController({ priority: 'urgent' }), TypeError);
  const c = new TaskController();
  assert.throws(() => c.setPriority('urgent'), TypeError);
  c.signal.addEventListener('prioritychange', () => {
    assert.throws(() => c.setPriority('user-visible'), { name: 'NotAllowedError' });
  });
  c.setPriority('background');
  c.abort();
  c.abort(); // twice is fine
  c.setPriority('user-blocking'); // after abort: allowed, as in the spec
  await assert.rejects(scheduler.postTask(() => 1, { signal: c.signal }), { name: 'AbortError' });
});

test('the raw addon: wrong handles and types are TypeErrors, never crashes', () => {
  const ctrl = addon.controllerCreate(0);
  const h = addon.jobStart('demo.echo', '[1]', null);
  const bad = [undefined, null, 1, 'x', {}, [], () => {}, ctrl, Symbol('s')];
  for (const v of bad) {
    assert.throws(() => addon.taskInfo(v), TypeError);
    assert.throws(() => addon.taskCancel(v), TypeError);
    assert.throws(() => addon.jobData(v), TypeError);
    assert.throws(() => addon.watch(v, 1, true), TypeError);
  }
  for (const v of [undefined, null, 1, {}, h])
    assert.throws(() => addon.controllerAbort(v), TypeError);
  assert.throws(() => addon.poolSize(h), TypeError);
  assert.throws(() => addon.jobStart(), TypeError);
  assert.throws(() => addon.jobStart('demo.echo', 5), TypeError);
  assert.throws(() => addon.jobStart('demo.echo', 'not json'), { code: 'ERRAND_E_INVALID' });
  assert.throws(() => addon.jobStart('demo.echo', '[]', 5), TypeError);
  assert.throws(() => addon.jobStart('demo.echo', '[]', { mode: 9 }), RangeError);
  assert.throws(() => addon.jobStart('demo.echo', '[]', { mode: 3 }), { code: 'ERRAND_E_INVALID' });
  assert.throws(() => addon.jobStart('demo.echo', '[]', { command: 'node' }), TypeError);
  assert.throws(() => addon.jobStart('demo.echo', '[]', { pool: h }), TypeError);
  assert.throws(() => addon.jobStart('a\u0000b', '[]'), TypeError);
  assert.throws(() => addon.watch(h, -1, true), RangeError);
  assert.throws(() => addon.watch(h, 'k', true), TypeError);
  assert.throws(() => addon.loopPost('k', 0, 0, null), TypeError);
  assert.throws(() => addon.loopPost(1, 7, 0, null), RangeError);
  assert.throws(() => addon.loopPost(1, 0, 0, h), TypeError);
  assert.throws(() => addon.controllerSetPriority(ctrl, 0), RangeError);
  assert.throws(() => addon.poolCreate(), TypeError);
  assert.throws(() => addon.poolCreate({ command: [] }), TypeError);
  assert.throws(() => addon.poolCreate({ command: [1] }), TypeError);
  assert.throws(() => addon.poolCreate({ command: ['x'], min: -1 }), RangeError);
  assert.throws(() => addon.setup(1, 2, 3), TypeError);
  assert.throws(() => addon.waitAny([h], 'x'), TypeError);
  assert.throws(() => addon.jobPending(h, () => {}, -1), RangeError);
  assert.throws(() => addon.loadModule('/no/such/module.so'), { code: 'ERRAND_E_INVALID' });
  assert.throws(() => addon.jobPid(addon.jobStart('demo.echo', '[]').constructor), TypeError);
  assert.equal(addon.taskWait(h, 5000), true);
  addon.taskRelease(h);
  addon.taskRelease(h); // idempotent
  assert.throws(() => addon.taskInfo(h), { code: 'ERRAND_E_RELEASED', message: /released/ });
  assert.throws(() => addon.jobData(h), { code: 'ERRAND_E_RELEASED' });
  const pool = addon.poolCreate({ command: [process.execPath, '-e', '0'], max: 1 });
  addon.poolDestroy(pool);
  assert.throws(() => addon.poolSize(pool), { code: 'ERRAND_E_RELEASED' });
  assert.throws(() => addon.poolDestroy(pool), { code: 'ERRAND_E_RELEASED' });
});

test('a worker that writes garbage: its job faults, the process lives', async () => {
  const bad = path.join(__dirname, 'fixtures', 'bad_worker.js');
  const pool = addon.poolCreate({ command: [process.execPath, bad], max: 1 });
  try {
    const t = new errand.Task(addon.jobStart('x', '[]', { mode: 3, pool }));
    await assert.rejects(t.promise(), (e) => e instanceof Error && e.code === 'ERRAND_E_PROTOCOL' &&
      /protocol error/.test(e.message));
  } finally {
    addon.poolDestroy(pool);
  }
});

test('an exception in a callback reaches process "uncaughtException", the loop goes on', async () => {
  const seen = [];
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', (e) => seen.push(e.message));
  try {
    schedule('demo.echo', [1], () => {
      throw new Error('thrown in a callback');
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await schedule('demo.echo', [2]), 2);
  } finally {
    process.removeAllListeners('uncaughtException');
    for (const l of listeners) process.on('uncaughtException', l);
  }
  assert.deepEqual(seen, ['thrown in a callback']);
});
