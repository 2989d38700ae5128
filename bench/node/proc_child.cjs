// proc_child.cjs — the child of proc_bench.mjs (child_process.fork): echoes
// every message back to its parent.  "once": the first message only, then
// it disconnects and so exits (W5a, a fresh process per job).
'use strict';

const once = process.argv[2] === 'once';
process.on('message', (m) => {
  if (once) process.send(m, () => process.disconnect());
  else process.send(m);
});
