// task.cjs — the piscina worker's task function for piscina_bench.mjs.
'use strict';

function now() {
  return process.hrtime.bigint();
}

module.exports = function task(msg) {
  if (msg === null || msg === undefined) return 0; // W1: empty task
  if (typeof msg === 'string') return msg; // W5: echo
  switch (msg.k) {
    case 's': // W3 / W4 user-blocking: when did I start
      return now();
    case 'b': { // W4 background: spin ~us microseconds
      const end = now() + BigInt(msg.us) * 1000n;
      while (now() < end) {}
      return now();
    }
    case 'g': { // memory: hold this worker until the gate opens
      const a = new Int32Array(msg.sab);
      Atomics.add(a, 1, 1);
      while (Atomics.load(a, 0) === 0) Atomics.wait(a, 0, 0, 50);
      return 0;
    }
    default:
      throw new Error('unknown task ' + JSON.stringify(msg));
  }
};
