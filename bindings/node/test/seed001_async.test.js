'use strict';
// Seed 001: a named C handler performs on errand's pool, its completion
// runs on the JS thread, as callback(err, value) or as a promise.
const test = require('node:test');
const assert = require('node:assert/strict');
const { runNode, lines } = require('./helpers');
const { schedule, performAsyncTask } = require('..');

test("the seed's example: the main thread prints first, the background sum second", async () => {
  const r = await runNode('examples/seed001.js');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [
    "20 'second sum from main thread'",
    "100010 'first sum from background thread'",
  ]);
});

test('the callback runs later, on the JS thread, with (null, value)', async () => {
  const order = [];
  const done = new Promise((resolve) => {
    performAsyncTask((err, value) => {
      order.push(['callback', err, value]);
      resolve();
    });
  });
  order.push(['after schedule']);
  await done;
  assert.deepEqual(order, [['after schedule'], ['callback', null, 100010]]);
});

test('a failing task reaches the callback as an Error', async () => {
  const err = await new Promise((resolve) => {
    schedule('demo.fail', ['I am a failing task'], (e, value) => {
      assert.equal(value, undefined);
      resolve(e);
    });
  });
  assert.ok(err instanceof Error);
  assert.equal(err.message, 'I am a failing task');
  assert.equal(err.code, 'ERRAND_E_FAILED');
  assert.equal(err.errno, 7);
});

test('a handler code of its own travels as errno', async () => {
  await assert.rejects(schedule('demo.fail', ['bad input', 42]), (e) => {
    assert.equal(e.message, 'bad input');
    assert.equal(e.errno, 42);
    return true;
  });
});

test('Promises: schedule without a callback returns a promise', async () => {
  assert.equal(await schedule('demo.sum', [100000, 10]), 100010);
  await assert.rejects(schedule('demo.fail', []), { message: 'I am a failing task' });
});

test("the seed's promise wrapper shape", async () => {
  const promisePerformAsyncTask = () =>
    new Promise((resolve, reject) => {
      performAsyncTask((err, res) => (err ? reject(err) : resolve(res)));
    });
  assert.equal(await promisePerformAsyncTask(), 100010);
});

test('many tasks complete, each exactly once', async () => {
  const values = await Promise.all(
    Array.from({ length: 200 }, (_, i) => schedule('demo.echo', [i])));
  assert.deepEqual(values, Array.from({ length: 200 }, (_, i) => i));
});
