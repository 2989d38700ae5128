'use strict';
// Seed 001's "Calling Async Tasks" example: the 100000-iteration sum runs on
// an errand pool thread (the C handler demo.sum), its completion on the JS
// thread after the main thread's own loop printed.  Strings are printed with
// %o so the lines read exactly as the seed shows them.
const { schedule } = require('../..');

// Iterate 100000 times in background thread
schedule('demo.sum', [100000, 10], (err, value) => {
  if (err) throw err;
  console.log('%d %o', value, 'first sum from background thread');
});

// Iterate 10 times
let count = 10;
for (let i = 0; i < 10; i++) {
  count++;
}
console.log('%d %o', count, 'second sum from main thread');
