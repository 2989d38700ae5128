'use strict';
// Seed 000: new Job(name, ...args); Pending(fn) while it runs, `return
// false` stops the polling; Data() returns the result (or throws the
// job's error) and releases the job; Cancel() (and the seed's Cancle()).
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { Job, register } = require('..');
const { sleepSync } = require('./helpers');

register('scripts.image.Post', path.join(__dirname, 'fixtures', 'scripts', 'image.js'), 'Post');

// The seed's PostAsync, with `time.Sleep` a synchronous sleep and the
// progress poll replaced by the job's own status (no image server here).
function PostAsync(api, payload, cb) {
  const cfg = { host: 'http://sd.local', user: 'u', pass: 'p' };
  const headers = { Authorization: `Basic ${btoa(cfg.user + ':' + cfg.pass)}` };
  const url = `${cfg.host}${api}`;
  const job = new Job('scripts.image.Post', url, payload, headers);
  cb =
    cb ||
    function (progress, err) {
      if (err) {
        console.log(`Error: ${err}`);
        return false;
      }
      console.log(progress);
    };

  job.Pending(() => {
    sleepSync(20); // time.Sleep(200)
    cb(job.Status);
  }, 0);

  const image = job.Data();
  return image;
}

test("the seed's PostAsync: Pending polls while the JS handler runs, Data() gives the image", () => {
  const seen = [];
  const image = PostAsync('/sdapi/v1/txt2img', { width: 512, height: 512, steps: 5, prompt: 'maltese puppy' },
    (progress) => seen.push(progress));
  assert.equal(image, 'png:maltese puppy:512x512');
  assert.ok(seen.length >= 2, `Pending was called ${seen.length} times`);
  assert.ok(seen.every((s) => ['WaitingToRun', 'Running', 'RanToCompletion'].includes(s)), seen.join());
});

test("Data() throws the handler's error (the seed's `throw newException`)", () => {
  assert.throws(() => PostAsync('/sdapi/v1/nope', { steps: 1 }, () => {}), {
    message: 'SD API response error',
    errno: 500,
  });
});

test('Pending: `return false` stops the polling at once', () => {
  const job = new Job('demo.sleep', 300, 'done');
  let calls = 0;
  const t0 = Date.now();
  job.Pending(() => {
    calls++;
    return false;
  });
  assert.equal(calls, 1);
  assert.ok(Date.now() - t0 < 200);
  assert.equal(job.Data(), 'done');
});

test('Pending calls fn repeatedly until the job ends, then Data() returns', () => {
  const job = new Job('demo.sleep', 200, { ok: true });
  let calls = 0;
  job.Pending(() => {
    calls++;
  }, 20);
  assert.ok(calls >= 3 && calls <= 15, `calls = ${calls}`);
  assert.equal(job.IsCompleted, true);
  assert.deepEqual(job.Data(), { ok: true });
});

test('Data() releases the job: any later use throws a clear Error', () => {
  const job = new Job('demo.echo', 'x');
  assert.equal(job.Data(), 'x');
  for (const use of [() => job.Data(), () => job.Cancel(), () => job.Pending(() => {}), () => job.Status]) {
    assert.throws(use, { message: /released by Data\(\)/ });
  }
});

test('Cancel() and Cancle(): the job ends as canceled and Data() throws', () => {
  for (const method of ['Cancel', 'Cancle']) {
    const job = new Job('demo.sleep', 10000);
    job[method]();
    assert.throws(() => job.Data(), { code: 'ERRAND_E_CANCELED' });
  }
});

test('Node-shaped: progress events and a promise for the result', async () => {
  const job = new Job('demo.progress', 3, 5);
  const events = [];
  job.on('progress', (p) => events.push(p));
  assert.equal(await job.promise(), 3);
  assert.deepEqual(events, [{ step: 1, of: 3 }, { step: 2, of: 3 }, { step: 3, of: 3 }]);
});

test('a failing job rejects its promise with an Error', async () => {
  const job = new Job('demo.fail', 'nope');
  await assert.rejects(job.promise(), { message: 'nope', code: 'ERRAND_E_FAILED' });
  assert.equal(job.Status, 'Faulted');
});

test('a JS job runs in a Node worker process and resolves its promise', async () => {
  const job = new Job('scripts.image.Post', 'http://x/sdapi/v1/txt2img',
    { width: 1, height: 2, steps: 1, prompt: 'p' }, { Authorization: 'x' });
  assert.equal(await job.promise(), 'png:p:1x2');
});
