// Preloaded (`node --expose-gc --require …/gc-tick.js`) into a worker or hub
// process whose memory a test measures. While the file named by GC_TICK_FILE
// exists it runs a full garbage collection every 50 ms, so that the
// process's peak resident set over a measured stretch is what its code holds,
// not stream pieces the collector has not got to yet: V8 lets tens of MiB of
// dead Buffers pile up between collections when bytes stream at a GB/s.
// Switched by a file, not a signal (the Temporal worker takes SIGUSR2 for a
// shutdown), and only around measured stretches: collections that often
// would slow the worker's start-up (it bundles its workflows) to a crawl. A
// measuring aid only; production processes run without it.
const fs = require('node:fs');
const file = process.env.GC_TICK_FILE;
if (file && typeof global.gc === 'function') {
  let ticking;
  setInterval(() => {
    const on = fs.existsSync(file);
    if (on && !ticking) ticking = setInterval(() => global.gc(), 50);
    if (!on && ticking) {
      clearInterval(ticking);
      ticking = undefined;
    }
  }, 100).unref();
}
