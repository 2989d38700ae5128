// proc_bench.mjs — Node's child_process peers of errand's W5 (process jobs).
// errand-bench runs it in a process of its own for each measurement:
//   node proc_bench.mjs fork  --n N [--warmup W]   W5a: child_process.fork
//        per job, one message round trip (a 16-byte string), the child then
//        disconnects and exits; per job: fork → reply received
//   node proc_bench.mjs child --n N [--warmup W]   W5b: one persistent
//        forked child, N sequential process.send / on('message') round trips
// and reads "name value" lines from stdout ("@name text" for text, "ok 1" at
// the end), the same protocol as the C measurements.
import { fork } from 'node:child_process';

function emit(name, value) {
  process.stdout.write(`${name} ${value}\n`);
}
function fail(msg) {
  process.stderr.write(`proc_bench: ${msg}\n`);
  process.stdout.write(`@error ${String(msg).replace(/\n/g, ' ')}\n`);
  process.exit(2);
}

const [workload, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = Number(rest[i + 1]);

const childPath = new URL('./proc_child.cjs', import.meta.url).pathname;
const now = () => process.hrtime.bigint();
const msgOf = (i) => String(i % 1e12).padStart(16, '0'); // 16 bytes

function quantile(sorted, q) {
  let k = Math.ceil(q * sorted.length - 1e-9);
  if (k < 1) k = 1;
  if (k > sorted.length) k = sorted.length;
  return sorted[k - 1];
}

function emitLatencies(lat, totalNs) {
  const n = lat.length;
  lat.sort((a, b) => a - b);
  emit('us_per_job', Number(totalNs) / 1e3 / n);
  emit('jobs_per_s', n / (Number(totalNs) / 1e9));
  emit('p50_us', quantile(lat, 0.5));
  emit('p99_us', quantile(lat, 0.99));
  emit('max_us', lat[n - 1]);
}

const exits = [];
function track(c) {
  exits.push(new Promise((r) => c.once('exit', r)));
}

// One job in a fresh process: fork, send, await the echo.
function oneJob(i) {
  return new Promise((resolve, reject) => {
    const c = fork(childPath, ['once']);
    track(c);
    let got = false;
    const msg = msgOf(i);
    c.once('message', (m) => {
      got = true;
      if (m !== msg) reject(new Error(`job ${i}: echo came back wrong`));
      else resolve();
    });
    c.once('error', reject);
    c.once('exit', (code, sig) => {
      if (!got) reject(new Error(`job ${i}: child exited (${code ?? sig}) before replying`));
    });
    c.send(msg);
  });
}

async function forkPerJob() {
  const n = opt.n || 20;
  for (let i = 0; i < (opt.warmup ?? 2); i++) await oneJob(i);
  const lat = new Array(n);
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const s = now();
    await oneJob(i);
    lat[i] = Number(now() - s) / 1e3;
  }
  const t1 = now();
  emitLatencies(lat, t1 - t0);
}

async function persistentChild() {
  const n = opt.n || 20000;
  const c = fork(childPath, ['serve']);
  track(c);
  let pending = null;
  c.on('message', (m) => {
    const p = pending;
    pending = null;
    if (p) p(m);
  });
  let done = false;
  c.once('exit', (code, sig) => {
    if (!done) fail(`child exited (${code ?? sig})`);
  });
  const rt = (i) =>
    new Promise((resolve, reject) => {
      const msg = msgOf(i);
      pending = (m) => (m === msg ? resolve() : reject(new Error(`round trip ${i}: echo came back wrong`)));
      c.send(msg);
    });
  for (let i = 0; i < (opt.warmup ?? 1000); i++) await rt(i);
  const lat = new Array(n);
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const s = now();
    await rt(i);
    lat[i] = Number(now() - s) / 1e3;
  }
  const t1 = now();
  emitLatencies(lat, t1 - t0);
  done = true;
  c.disconnect();
}

const fns = { fork: forkPerJob, child: persistentChild };
if (!fns[workload]) fail(`unknown workload ${workload}`);
process.stdout.write(`@version node ${process.version}\n`);
try {
  await fns[workload]();
  await Promise.all(exits); // no child outlives us (they share our stdout)
} catch (e) {
  fail(e && e.stack ? e.stack : String(e));
}
emit('ok', 1);
process.exit(0);
