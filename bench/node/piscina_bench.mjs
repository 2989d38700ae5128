// piscina_bench.mjs — the piscina (Node.js worker_threads pool) side of
// errand's bench.  errand-bench runs it in a process of its own for each
// measurement:  node piscina_bench.mjs <w1|w3|w4|w5|mem> --workers N [...]
// and reads "name value" lines from stdout ("@name text" for text,
// "ok 1" at the end), the same protocol as the C measurements.
import { readFileSync, readdirSync } from 'node:fs';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { Piscina } from 'piscina';

const piscinaVersion = JSON.parse(
  readFileSync(new URL('./node_modules/piscina/package.json', import.meta.url), 'utf8'),
).version;

function emit(name, value) {
  process.stdout.write(`${name} ${value}\n`);
}
function fail(msg) {
  process.stderr.write(`piscina_bench: ${msg}\n`);
  process.stdout.write(`@error ${String(msg).replace(/\n/g, ' ')}\n`);
  process.exit(2);
}

const [workload, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = Number(rest[i + 1]);
const workers = opt.workers || 1;

const now = () => process.hrtime.bigint();
const nsToUs = (ns) => Number(ns) / 1e3;

// CPU (ns) of every thread of this process but the main one, from
// /proc/self/task/*/schedstat (first field: time on CPU, ns).
function poolCpuNs() {
  let sum = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    try {
      sum += Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* thread gone */
    }
  }
  return sum;
}

function quantile(sorted, q) {
  let k = Math.ceil(q * sorted.length - 1e-9);
  if (k < 1) k = 1;
  if (k > sorted.length) k = sorted.length;
  return sorted[k - 1];
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
async function sleepUntil(deadline) {
  // Node timers are 1 ms grained.  Sleep on an Atomics.wait (µs-grained,
  // no spinning), and pass through the event loop before and after so the
  // pool's messages (results, free workers) keep flowing.
  for (;;) {
    await yieldLoop();
    const left = Number(deadline - now());
    if (left <= 0) return;
    Atomics.wait(sleepCell, 0, 0, Math.min(left / 1e6, 1));
  }
}

const pool = new Piscina({
  filename: new URL('./task.cjs', import.meta.url).href,
  minThreads: workers,
  maxThreads: workers,
  idleTimeout: 60000,
});

process.stdout.write(
  `@version ${piscinaVersion} (node ${process.version})\n`,
);

async function warmUp() {
  await Promise.all(Array.from({ length: 100 * workers }, () => pool.run(null)));
}

async function w1() {
  const n = opt.n || 1000000;
  await warmUp();
  const ps = new Array(n);
  const t0 = now();
  for (let i = 0; i < n; i++) ps[i] = pool.run(null);
  const t1 = now();
  await Promise.all(ps);
  const t2 = now();
  emit('mtasks_per_s', n / (Number(t2 - t0) / 1e9) / 1e6);
  emit('ns_per_task', Number(t2 - t0) / n);
  emit('post_ns_per_task', Number(t1 - t0) / n);
}

async function w3() {
  const n = opt.n || 10000;
  const spacing = BigInt(opt['spacing-us'] || 100) * 1000n;
  const idleMs = opt['idle-ms'] || 200;
  await warmUp();
  await new Promise((r) => setTimeout(r, 20));
  const posts = new Array(n);
  const ps = new Array(n);
  const cpu0 = poolCpuNs();
  const t0 = now();
  for (let i = 0; i < n; i++) {
    await sleepUntil(t0 + BigInt(i + 1) * spacing);
    posts[i] = now();
    ps[i] = pool.run({ k: 's' });
  }
  const cpu1 = poolCpuNs();
  const starts = await Promise.all(ps);
  await new Promise((r) => setTimeout(r, 10));
  const c0 = poolCpuNs();
  const i0 = now();
  await new Promise((r) => setTimeout(r, idleMs));
  const c1 = poolCpuNs();
  const i1 = now();
  const lat = starts.map((s, i) => nsToUs(s - posts[i])).sort((a, b) => a - b);
  emit('p50_us', quantile(lat, 0.5));
  emit('p99_us', quantile(lat, 0.99));
  emit('max_us', lat[lat.length - 1]);
  emit('cpu_us_per_post', Math.max(0, cpu1 - cpu0) / 1e3 / n);
  emit('idle_cpu_pct', (100 * Math.max(0, c1 - c0)) / Number(i1 - i0));
}

async function w4() {
  const nbg = opt.bg || 20000;
  const nub = opt.ub || 100;
  const us = opt['work-us'] || 50;
  const spacing = BigInt(opt['spacing-us'] || 1000) * 1000n;
  await warmUp();
  const t0 = now();
  const bg = new Array(nbg);
  for (let i = 0; i < nbg; i++) bg[i] = pool.run({ k: 'b', us });
  const t1 = now();
  const posts = new Array(nub);
  const ub = new Array(nub);
  for (let i = 0; i < nub; i++) {
    await sleepUntil(t1 + BigInt(i + 1) * spacing);
    posts[i] = now();
    ub[i] = pool.run({ k: 's' });
  }
  const [bgEnds, ubStarts] = await Promise.all([Promise.all(bg), Promise.all(ub)]);
  const t2 = now();
  let last = 0n;
  for (const e of bgEnds) if (e > last) last = e;
  const lat = ubStarts.map((s, i) => nsToUs(s - posts[i])).sort((a, b) => a - b);
  emit('ub_p50_us', quantile(lat, 0.5));
  emit('ub_p99_us', quantile(lat, 0.99));
  emit('ub_max_us', lat[lat.length - 1]);
  emit('total_ms', Number(t2 - t0) / 1e6);
  emit('bg_done_ms', Number(last - t0) / 1e6);
}

async function mem() {
  const n = opt.n || 1000000;
  await warmUp();
  const sab = new SharedArrayBuffer(8);
  const gate = new Int32Array(sab);
  const gates = [];
  for (let i = 0; i < workers; i++) gates.push(pool.run({ k: 'g', sab }));
  const deadline = now() + 5000000000n;
  while (Atomics.load(gate, 1) < workers) {
    if (now() > deadline) fail(`only ${Atomics.load(gate, 1)} of ${workers} workers entered the gate`);
    await new Promise((r) => setTimeout(r, 1));
  }
  const ps = new Array(n).fill(null); // the user's array, allocated up front
  const rss0 = process.memoryUsage().rss;
  for (let i = 0; i < n; i++) ps[i] = pool.run(null);
  const rss1 = process.memoryUsage().rss;
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  await Promise.all(gates);
  await Promise.all(ps);
  emit('queued_bytes', (rss1 - rss0) / n);
}

// W5b: the round trip of a 16-byte string to a pool of one thread and back,
// one at a time: await pool.run(msg) (the task echoes it).
async function w5() {
  const n = opt.n || 20000;
  const msgOf = (i) => String(i % 1e12).padStart(16, '0');
  for (let i = 0; i < (opt.warmup ?? 1000); i++) await pool.run(msgOf(i));
  const lat = new Array(n);
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const msg = msgOf(i);
    const s = now();
    const back = await pool.run(msg);
    lat[i] = nsToUs(now() - s);
    if (back !== msg) fail(`round trip ${i}: echo came back wrong`);
  }
  const t1 = now();
  lat.sort((a, b) => a - b);
  emit('us_per_job', nsToUs(t1 - t0) / n);
  emit('jobs_per_s', n / (Number(t1 - t0) / 1e9));
  emit('p50_us', quantile(lat, 0.5));
  emit('p99_us', quantile(lat, 0.99));
  emit('max_us', lat[n - 1]);
}

const fns = { w1, w3, w4, w5, mem };
if (!fns[workload]) fail(`unknown workload ${workload}`);
try {
  await fns[workload]();
  await pool.destroy();
} catch (e) {
  fail(e && e.stack ? e.stack : String(e));
}
emit('ok', 1);
process.exit(0);
