'use strict';
// Scenarios for lifetime.test.js: argv[2] picks one; each prints what the
// test checks and lets Node exit on its own.
const path = require('path');
const errand = require('../..');
const what = process.argv[2];
const t0 = Date.now();
process.on('exit', () => console.log(`exit after ${Date.now() - t0} ms`));

if (what === 'idle') {
  // Loading the addon keeps nothing alive.
} else if (what === 'delayed') {
  errand.scheduler.postTask(() => console.log('ran'), { delay: 300 });
} else if (what === 'job') {
  errand.schedule('demo.sleep', [300, 'v'], (err, v) => console.log('job', v));
} else if (what === 'pool') {
  // A resident pool left running does not keep Node alive; its workers are
  // stopped when the environment goes away.
  const pool = new errand.ChildPoolJob({ baseDir: path.join(__dirname, '..', 'fixtures'), min: 2, max: 2 });
  pool.execPromise('./jobs/example/timer', { jobId: 1, interval: 10, duration: 20 }).then(async (t) => {
    await t.promise();
    console.log('pid', t.pid);
  });
} else if (what === 'running') {
  // Exit while a long pool job and a long child job still run: the
  // cleanup cancels them and stops the worker process.
  const job = new errand.ChildJob({ baseDir: path.join(__dirname, '..', 'fixtures') });
  const t = job.exec('./jobs/example/timer', { jobId: 1, interval: 1000, duration: 60000 });
  console.log('pid', t.pid);
  new errand.Job('demo.sleep', 60000);
  setTimeout(() => process.exit(0), 100);
} else if (what === 'worker-thread') {
  const { Worker } = require('worker_threads');
  const code = `
    const errand = require(${JSON.stringify(path.join(__dirname, '..', '..'))});
    const { parentPort } = require('worker_threads');
    errand.scheduler.postTask(() => 'in a worker thread', { priority: 'background' })
      .then(async (v) => parentPort.postMessage([v, await errand.schedule('demo.sum', [10, 0])]));
    new errand.Job('demo.sleep', 60000); // still running when the thread ends
  `;
  let n = 0;
  const start = () => {
    const w = new Worker(code, { eval: true });
    w.on('message', (m) => {
      console.log(m.join(' '));
      w.terminate();
    });
    w.on('exit', () => {
      if (++n < 3) start();
    });
  };
  start();
}
