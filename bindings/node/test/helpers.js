'use strict';
// Shared by the tests: run an example script in its own node process.
const { execFile } = require('child_process');
const path = require('path');

function runNode(script, args = [], env = {}, timeout = 60000) {
  return new Promise((resolve, reject) => {
    const file = path.isAbsolute(script) ? script : path.join(__dirname, script);
    const started = Date.now();
    execFile(process.execPath, [file, ...args], { env: { ...process.env, ...env }, timeout },
      (err, stdout, stderr) => {
        const result = { code: err ? err.code : 0, signal: err && err.signal, stdout, stderr,
          ms: Date.now() - started };
        if (err && err.killed) reject(Object.assign(new Error(`${script} timed out\n${stderr}`), result));
        else resolve(result);
      });
  });
}

// Strips the seed's "[YYYY-MM-DD HH:MM:SS] " prefix.
function unstamp(lines) {
  return lines.map((l) => l.replace(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] /, ''));
}

function lines(text) {
  return text.split('\n').filter((l) => l.length > 0);
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

module.exports = { runNode, unstamp, lines, sleepSync };
