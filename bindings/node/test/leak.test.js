'use strict';
// 100,000 jobs (and as many posted callbacks) leave the heap, the RSS, the
// active handles and the addon's bookkeeping where they were.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const v8 = require('v8');
const vm = require('vm');
const errand = require('..');
const { entries } = require('../lib/native');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

async function settle() {
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    gc();
  }
}

function snapshot() {
  const m = process.memoryUsage();
  return {
    heap: m.heapUsed,
    rss: m.rss,
    resources: process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length,
  };
}

const MB = 1024 * 1024;

test('100,000 small jobs: heap, RSS and handles stay bounded', async () => {
  const TOTAL = 100000;
  const BATCH = 1000;
  const ROUNDS = 10; // TOTAL / ROUNDS jobs per round
  let base = null;
  const samples = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (let b = 0; b < TOTAL / ROUNDS / BATCH; b++) {
      // seed 001's promise form, seed 000's Job with Data(), seed 004's postTask
      const jobs = [];
      for (let i = 0; i < BATCH / 2; i++) jobs.push(errand.schedule('demo.echo', [i]));
      for (let i = 0; i < BATCH / 2; i++) jobs.push(errand.scheduler.postTask(() => i, { priority: 'background' }));
      for (let i = 0; i < BATCH / 2; i++) assert.equal(new errand.Job('demo.echo', i).Data(), i);
      await Promise.all(jobs);
    }
    await settle();
    const s = snapshot();
    samples.push(s);
    if (round === 1) base = s; // after warm-up
  }
  const last = samples.at(-1);
  if (process.env.ERRAND_LEAK_VERBOSE) console.log(samples.map((s) => `heap ${(s.heap / MB).toFixed(1)} rss ${(s.rss / MB).toFixed(1)} res ${s.resources}`).join('\n'));
  const stats = errand.stats();
  assert.equal(stats.outstanding, 0, 'nothing left to deliver');
  assert.equal(entries.size, 0, 'no key left in the dispatcher');
  assert.ok(stats.posted >= TOTAL * 1.5, `posted ${stats.posted}`);
  assert.equal(last.resources, base.resources, 'active handles are stable');
  assert.ok(last.heap - base.heap < 8 * MB,
    `heap grew by ${((last.heap - base.heap) / MB).toFixed(1)} MB: ${samples.map((s) => (s.heap / MB).toFixed(1))}`);
  assert.ok(last.rss - base.rss < 32 * MB,
    `rss grew by ${((last.rss - base.rss) / MB).toFixed(1)} MB: ${samples.map((s) => (s.rss / MB).toFixed(1))}`);
});

test('1,000 jobs in a resident Node worker pool: handles and workers stable', async () => {
  const pool = new errand.ChildPoolJob({ baseDir: path.join(__dirname, 'fixtures'), min: 2, max: 2 });
  try {
    const before = snapshot();
    for (let b = 0; b < 10; b++) {
      const tasks = [];
      for (let i = 0; i < 100; i++)
        tasks.push(pool.exec('./jobs/example/timer', { jobId: i, interval: 1, duration: 1 }).promise());
      await Promise.all(tasks);
    }
    await settle();
    const after = snapshot();
    assert.equal(pool.size, 2);
    assert.equal(after.resources, before.resources);
    assert.equal(errand.stats().outstanding, 0);
    assert.ok(after.heap - before.heap < 8 * MB);
  } finally {
    pool.destroy();
  }
});
