// Preload (`node --require tools/bench/gc-watch.cjs`) for a benchmark's child processes: records
// every GC pause of the process as [start, end] in milliseconds since the epoch (so that the
// benchmark can line them up with its own samples) and writes them as JSON to FW_BENCH_GC_FILE
// every 500 ms and at exit. Bounded: the newest 100,000 pauses. Nothing happens without the variable.
'use strict';
const { PerformanceObserver, performance } = require('node:perf_hooks');
const { writeFileSync } = require('node:fs');

const file = process.env.FW_BENCH_GC_FILE;
const MAX_PAUSES = 100_000;
if (file) {
  const pauses = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      pauses.push([performance.timeOrigin + e.startTime, performance.timeOrigin + e.startTime + e.duration]);
      if (pauses.length > MAX_PAUSES) pauses.shift();
    }
  }).observe({ entryTypes: ['gc'] });
  const save = () => writeFileSync(file, JSON.stringify(pauses));
  setInterval(save, 500).unref();
  process.on('exit', save);
}
