'use strict';
// The addon keeps Node's event loop alive only while it has work, and
// cleans up (threads, loops, worker processes) when the environment goes —
// the main thread's or a worker_thread's.
const test = require('node:test');
const assert = require('node:assert/strict');
const { runNode, lines } = require('./helpers');

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('an idle addon does not keep Node alive', async () => {
  const r = await runNode('examples/keepalive.js', ['idle']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.ms < 2000, `${r.ms} ms`);
});

test('a delayed postTask keeps Node alive until it ran, then Node exits', async () => {
  const r = await runNode('examples/keepalive.js', ['delayed']);
  assert.equal(r.code, 0, r.stderr);
  const out = lines(r.stdout);
  assert.equal(out[0], 'ran');
  const ms = Number(out[1].match(/exit after (\d+) ms/)[1]);
  assert.ok(ms >= 300 && ms < 1500, `${ms} ms`);
});

test('a pending job keeps Node alive until its callback ran', async () => {
  const r = await runNode('examples/keepalive.js', ['job']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(lines(r.stdout)[0], 'job v');
});

test('an idle resident pool does not keep Node alive; its workers go with it', async () => {
  const r = await runNode('examples/keepalive.js', ['pool']);
  assert.equal(r.code, 0, r.stderr);
  const pid = Number(lines(r.stdout)[0].split(' ')[1]);
  assert.ok(pid > 0);
  assert.ok(r.ms < 5000, `${r.ms} ms`);
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(alive(pid), false, 'the pool worker was stopped');
});

test('process.exit with work running: jobs canceled, child process stopped', async () => {
  const r = await runNode('examples/keepalive.js', ['running']);
  assert.equal(r.code, 0, r.stderr);
  const pid = Number(lines(r.stdout)[0].split(' ')[1]);
  assert.ok(pid > 0);
  assert.ok(r.ms < 6000, `${r.ms} ms`);
  const end = Date.now() + 3000;
  while (alive(pid) && Date.now() < end) await new Promise((res) => setTimeout(res, 50));
  assert.equal(alive(pid), false, 'the child job process is gone');
});

test('worker_threads: one addon instance per thread, cleaned up at terminate', async () => {
  const r = await runNode('examples/keepalive.js', ['worker-thread']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout).slice(0, 3), Array(3).fill('in a worker thread 10'));
  assert.ok(r.ms < 10000, `${r.ms} ms`);
});
