'use strict';
// Seed 002: ChildJob / ChildPoolJob with exec(modulePath, params) -> task
// with pid, kill() and emitter; execPromise.  The job module is the seed's
// TimerJob ported (fixtures/jobs/example/timer.js), run by lib/worker.js,
// which speaks errand's protocol so errand's C process pool manages it.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { ChildJob, ChildPoolJob } = require('..');

const baseDir = path.join(__dirname, 'fixtures');

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  return cond();
}

test("ChildJob: the seed's timer job sends events with a counter; kill() stops it", async () => {
  const myJob = new ChildJob({ baseDir });
  const jobId = 1;
  const timerTask = myJob.exec('./jobs/example/timer', { jobId, interval: 50 });
  const res = { pid: timerTask.pid };
  assert.ok(Number.isInteger(res.pid) && res.pid > 0 && res.pid !== process.pid);
  const data = [];
  await new Promise((resolve) => {
    timerTask.emitter.on('job-timer-progress', (d) => {
      data.push(d);
      if (data.length === 3) resolve();
    });
  });
  timerTask.kill();
  await assert.rejects(timerTask.promise(), { code: 'ERRAND_E_CANCELED' });
  assert.deepEqual(data, [0, 1, 2].map((number) => ({ jobId, number, pid: res.pid })));
  assert.equal(timerTask.Status, 'Canceled');
  assert.ok(await until(() => !alive(res.pid)), 'the killed worker process is gone');
  assert.throws(() => timerTask.kill(), { message: /already ended \(Canceled\)/ });
});

test('ChildJob: a job that runs to its end, its last event and its result', async () => {
  const job = new ChildJob({ baseDir });
  const task = job.exec('./jobs/example/timer', { jobId: 2, interval: 20, duration: 150 });
  const events = [];
  task.emitter.on('job-timer-progress', (d) => events.push(d));
  const result = await task.promise();
  assert.equal(result.jobId, 2);
  assert.equal(result.pid, task.pid);
  assert.deepEqual(events.at(-1), { jobId: 2, number: 0, pid: 0 }, 'the reset event');
  assert.ok(events.length >= 3);
  assert.match(task.output.stdout, /TimerJob params/);
});

test('ChildJob.execPromise resolves with the task once its process runs it', async () => {
  const job = new ChildJob({ baseDir });
  const task = await job.execPromise('./jobs/example/timer', { jobId: 3, interval: 20, duration: 60 });
  if (!(task.pid > 0)) console.log('DEBUG', task.Status, task.Result, JSON.stringify(task.output));
  assert.ok(task.pid > 0);
  await task.promise();
});

test('ChildPoolJob: resident workers, the same pid across jobs', async () => {
  const pool = new ChildPoolJob({ baseDir, max: 1 });
  try {
    const pids = [];
    for (let i = 0; i < 3; i++) {
      const task = await pool.execPromise('./jobs/example/timer', { jobId: i, interval: 10, duration: 30 });
      pids.push(task.pid);
      const r = await task.promise();
      assert.equal(r.pid, task.pid);
    }
    assert.equal(new Set(pids).size, 1, `pids: ${pids}`);
    assert.equal(pool.size, 1);
    assert.ok(alive(pids[0]), 'the worker stays resident between jobs');
  } finally {
    pool.destroy();
  }
});

test('ChildPoolJob: kill() ends a job; the pool replaces the worker and goes on', async () => {
  const pool = new ChildPoolJob({ baseDir, max: 1 });
  try {
    const t1 = pool.exec('./jobs/example/timer', { jobId: 1, interval: 20, duration: 10000 });
    await new Promise((r) => t1.emitter.once('job-timer-progress', r));
    const pid1 = t1.pid;
    t1.kill();
    await assert.rejects(t1.promise(), { code: 'ERRAND_E_CANCELED' });
    const t2 = pool.exec('./jobs/example/timer', { jobId: 2, interval: 10, duration: 30 });
    const r2 = await t2.promise();
    assert.notEqual(r2.pid, pid1);
  } finally {
    pool.destroy();
  }
});

test('a job module that throws faults its job with the message', async () => {
  const job = new ChildJob({ baseDir });
  const task = job.exec('./jobs/failing', { why: 'broken on purpose' });
  await assert.rejects(task.promise(), { message: 'broken on purpose' });
  assert.equal(task.Status, 'Faulted');
});

test('a job that crashes its process faults only its own job', async () => {
  const pool = new ChildPoolJob({ baseDir, max: 1 });
  try {
    const bad = pool.exec('./jobs/failing', { crash: true });
    await assert.rejects(bad.promise(), { message: /uncaught exception: crash in a timer/ });
    const good = pool.exec('./jobs/example/timer', { jobId: 9, interval: 10, duration: 20 });
    assert.equal((await good.promise()).jobId, 9);
  } finally {
    pool.destroy();
  }
});
