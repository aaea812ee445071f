// Frame supplier benchmark, in-process, two paths side by side:
// - publish: `Publisher.publish` alone (validation, inbox, the pointer store into every mailbox),
//   with 0, 1, 8 and 64 workers subscribed and none taking;
// - fan-out: publish until every one of 1, 8 or 64 active workers holds the frame, i.e. each
//   worker's delivery loop (deliverFrames, Pull with a credit in hand) woke and took the frame from
//   its mailbox. This is the "broadcast fan-out" figure.
// Both report p50/p99 per run and the median of those over runs, and the heap each publish
// allocates and retains. Goals: publish p50 <= 1 us; fan-out to 64 active workers p50 at or under
// the Go FrameSupplier's 39-42 us, measured independently on this machine (issue 16).
// gRPC delivery: apps/supplier/bench/delivery.bench.ts.
// Run: node tools/build.mjs && FW_BENCH_RUNS=5 node --expose-gc dist/libs/supplier/bench/supplier.bench.js
import { DEFAULT_RUNS, formatNumber, median, writeSection } from '@framewire/bench';
import { Frame } from '@framewire/proto';
import { testFrame } from '@framewire/testing';
import { deliverFrames, FrameSupplier, PullCredits } from '../src';

const PUBLISH_ITERATIONS = 200_000;
const PUBLISH_WARM_UP = 50_000;
const FAN_OUT_ITERATIONS = 20_000;
const FAN_OUT_WARM_UP = 5_000;
const PUBLISH_WORKERS = [0, 1, 8, 64];
const FAN_OUT_WORKERS = [1, 8, 64];
/** Publishes per window when measuring what a publish allocates: few enough that no scavenge
 *  falls in most windows (a window with one shows less heap, and is left out). */
const ALLOCATION_WINDOW = 50;
const ALLOCATION_WINDOWS = 200;
const RETAINED_PUBLISHES = 1_000_000;
/** The independent measurement of Orion's Go FrameSupplier on this machine (issue 16), µs. */
const GO_FAN_OUT_64_US = [39, 42];
const FRAME_POOL = 1024;

interface Sample {
  p50: number;
  p99: number;
}

interface HeapFigures {
  /** Bytes a publish allocates (and its fan-out, for the fan-out path), median over windows. */
  allocatedPerPublish: number;
  /** Bytes still held after a full collection, per publish. */
  retainedPerPublish: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function summarize(samples: Float64Array): Sample {
  samples.sort();
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

function frames(): Frame[] {
  return Array.from({ length: FRAME_POOL }, (_, i) => testFrame('cam-1', i + 1, 1024));
}

/** Heap used now (bytes). */
function heapUsed(): number {
  return process.memoryUsage().heapUsed;
}

/** What `step` allocates and retains per call: the median heap it adds over windows of
 *  ALLOCATION_WINDOW calls in which no collection ran, and what stays after full collections over
 *  `retainedSteps` calls. An async `step` is awaited (its own scheduling counts: see turnOnly). */
async function heapFigures(step: () => void | Promise<void>, retainedSteps: number): Promise<HeapFigures> {
  const perWindow: number[] = [];
  for (let w = 0; w < ALLOCATION_WINDOWS; w++) {
    const before = heapUsed();
    for (let i = 0; i < ALLOCATION_WINDOW; i++) {
      const stepping = step();
      if (stepping !== undefined) await stepping;
    }
    const grown = heapUsed() - before;
    if (grown >= 0) perWindow.push(grown / ALLOCATION_WINDOW);
  }
  let retainedPerPublish = NaN;
  if (gc !== undefined) {
    gc();
    const before = heapUsed();
    for (let i = 0; i < retainedSteps; i++) {
      const stepping = step();
      if (stepping !== undefined) await stepping;
    }
    gc();
    retainedPerPublish = Math.max(0, heapUsed() - before) / retainedSteps;
  }
  return { allocatedPerPublish: perWindow.length === 0 ? NaN : median(perWindow), retainedPerPublish };
}

/** One run of the publish path: `workers` subscribed, none taking. Nanoseconds per publish. */
async function measurePublish(workers: number): Promise<Sample & HeapFigures> {
  const supplier = new FrameSupplier({ maxWorkers: 128, maxStreams: 4, maxFrameBytes: 1 << 20 });
  for (let i = 0; i < workers; i++) supplier.subscribe({ workerId: `w${i}`, streamId: 'cam-1' });
  const publisher = supplier.openPublisher();
  const pool = frames();
  for (let i = 0; i < PUBLISH_WARM_UP; i++) publisher.publish(pool[i & (FRAME_POOL - 1)]);
  const samples = new Float64Array(PUBLISH_ITERATIONS);
  for (let i = 0; i < PUBLISH_ITERATIONS; i++) {
    const frame = pool[i & (FRAME_POOL - 1)];
    const t0 = process.hrtime.bigint();
    publisher.publish(frame);
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  let n = 0;
  const heap = await heapFigures(() => publisher.publish(pool[n++ & (FRAME_POOL - 1)]), RETAINED_PUBLISHES);
  supplier.close();
  return { ...summarize(samples), ...heap };
}

/** Resolves on the next turn of the event loop, after every microtask queued before it. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One run of the fan-out path: `workers` subscriptions, each with a delivery loop holding Pull
 * credits and waiting for a frame. Times publish until the last loop took the frame (its send ran:
 * the loop woke, took the frame from its mailbox and recorded the delivery). Each worker gives its
 * credit back as it receives a frame, as a Pull worker does, so every loop is waiting with a credit
 * when the next frame comes. Nanoseconds per publish.
 */
async function measureFanOut(workers: number): Promise<Sample & HeapFigures> {
  const supplier = new FrameSupplier({ maxWorkers: 128, maxStreams: 4, maxFrameBytes: 1 << 20 });
  const publisher = supplier.openPublisher();
  let taken = 0;
  let lastTakenAt = 0n;
  const loops: Promise<unknown>[] = [];
  for (let i = 0; i < workers; i++) {
    const subscription = supplier.subscribe({ workerId: `w${i}`, streamId: 'cam-1' });
    const credits = new PullCredits();
    credits.grant(credits.cap);
    loops.push(
      deliverFrames(
        subscription,
        () => {
          if (++taken === workers) lastTakenAt = process.hrtime.bigint();
          credits.grant(1);
        },
        credits,
      ),
    );
  }
  await nextTurn();
  const pool = frames();
  let n = 0;
  /** Publishes one frame and lets every loop take it; throws when one did not. */
  const step = async (): Promise<void> => {
    taken = 0;
    publisher.publish(pool[n++ & (FRAME_POOL - 1)]);
    await nextTurn();
    if (taken !== workers) throw new Error(`fan-out: ${taken} of ${workers} workers took frame ${n}`);
  };
  for (let i = 0; i < FAN_OUT_WARM_UP; i++) await step();
  const samples = new Float64Array(FAN_OUT_ITERATIONS);
  for (let i = 0; i < FAN_OUT_ITERATIONS; i++) {
    taken = 0;
    const t0 = process.hrtime.bigint();
    publisher.publish(pool[n++ & (FRAME_POOL - 1)]);
    await nextTurn();
    if (taken !== workers) throw new Error(`fan-out: ${taken} of ${workers} workers took frame ${n}`);
    samples[i] = Number(lastTakenAt - t0);
  }
  const heap = await heapFigures(step, FAN_OUT_ITERATIONS);
  supplier.close();
  await Promise.all(loops);
  return { ...summarize(samples), ...heap };
}

/** What measuring allocates by itself (reading the heap), per step: a step that does nothing;
 *  and a fan-out step without the publish (the async step, setImmediate and its promise). Taken off
 *  the figures. */
async function measurementAllocation(): Promise<{ none: number; turn: number }> {
  const none = (await heapFigures(() => undefined, 1)).allocatedPerPublish;
  const turn = (await heapFigures(async () => await nextTurn(), 1)).allocatedPerPublish;
  return { none, turn };
}

/** The cost of the timer itself: an empty hrtime pair. */
function timerOverheadNs(): number {
  const samples = new Float64Array(100_000);
  for (let i = 0; i < samples.length; i++) {
    const t0 = process.hrtime.bigint();
    samples[i] = Number(process.hrtime.bigint() - t0);
  }
  return percentile(samples.sort(), 0.5);
}

interface Row {
  workers: number;
  runs: (Sample & HeapFigures)[];
}

const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
const bytes = (b: number) => (Number.isNaN(b) ? 'n/a' : `${formatNumber(b)} B`);
const medianOf = (row: Row, pick: (s: Sample & HeapFigures) => number) => median(row.runs.map(pick));

async function main(): Promise<void> {
  const runs = DEFAULT_RUNS;
  const overhead = timerOverheadNs();
  const publishRows: Row[] = PUBLISH_WORKERS.map((workers) => ({ workers, runs: [] }));
  const fanOutRows: Row[] = FAN_OUT_WORKERS.map((workers) => ({ workers, runs: [] }));
  const baselines: { none: number; turn: number }[] = [];
  // Interleaved: every case once per run, so machine noise hits them alike.
  for (let r = 0; r < runs; r++) {
    baselines.push(await measurementAllocation());
    for (const row of publishRows) row.runs.push(await measurePublish(row.workers));
    for (const row of fanOutRows) row.runs.push(await measureFanOut(row.workers));
    const last = fanOutRows[fanOutRows.length - 1].runs[r];
    console.log(`run ${r + 1}/${runs}: fan-out to ${fanOutRows[fanOutRows.length - 1].workers} p50 ${us(last.p50)}, p99 ${us(last.p99)}`);
  }
  const none = median(baselines.map((b) => b.none));
  const turn = median(baselines.map((b) => b.turn));
  const publishTable = [
    '| workers subscribed | publish p50 | publish p99 | p50 minus timer | allocated per publish | retained per publish |',
    '|---:|---:|---:|---:|---:|---:|',
    ...publishRows.map((row) => {
      const p50 = medianOf(row, (s) => s.p50);
      return `| ${row.workers} | ${us(p50)} | ${us(medianOf(row, (s) => s.p99))} | ${us(Math.max(0, p50 - overhead))} | ${bytes(Math.max(0, medianOf(row, (s) => s.allocatedPerPublish) - none))} | ${bytes(medianOf(row, (s) => s.retainedPerPublish))} |`;
    }),
  ].join('\n');
  const fanOutTable = [
    '| active workers | publish → all hold it, p50 | p99 | per worker (p50) | allocated per publish | per worker | retained per publish |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...fanOutRows.map((row) => {
      const p50 = medianOf(row, (s) => s.p50);
      const allocated = Math.max(0, medianOf(row, (s) => s.allocatedPerPublish) - turn);
      return `| ${row.workers} | ${us(p50)} | ${us(medianOf(row, (s) => s.p99))} | ${us(p50 / row.workers)} | ${bytes(allocated)} | ${bytes(allocated / row.workers)} | ${bytes(medianOf(row, (s) => s.retainedPerPublish))} |`;
    }),
  ].join('\n');
  const fanOut64 = medianOf(fanOutRows[fanOutRows.length - 1], (s) => s.p50) / 1000;

  writeSection(
    '40-supplier',
    'Frame supplier',
    [
      `In-process, ${runs} interleaved runs; each figure is the median over runs of that run's percentile. Timed with \`process.hrtime.bigint()\` (the timer pair alone: ${us(overhead)} p50). "Allocated" is the heap a publish adds, median over windows of ${ALLOCATION_WINDOW} publishes without a collection, less what reading the heap allocates (${bytes(none)} per publish); "retained" is what stays after full collections, per publish.`,
      '',
      `**Publish** through \`Publisher.publish\` (validation, inbox, the pointer store into every subscribed worker's mailbox), ${PUBLISH_ITERATIONS.toLocaleString('en-US')} single publishes per run, nobody taking:`,
      '',
      publishTable,
      '',
      `**Fan-out to active workers**: each worker has a delivery loop (\`deliverFrames\`, Pull, credits in hand, given back as each frame arrives) waiting for a frame; timed from publish until the last loop woke and took the frame from its mailbox (its send ran). ${FAN_OUT_ITERATIONS.toLocaleString('en-US')} frames per run, one per event-loop turn. The benchmark's own step (an async function awaiting setImmediate) allocates ${bytes(turn)}, taken off.`,
      '',
      fanOutTable,
      '',
      `Goals: publish p50 ≤ 1 µs; fan-out to 64 active workers p50 at or under the Go FrameSupplier's ${GO_FAN_OUT_64_US[0]}-${GO_FAN_OUT_64_US[1]} µs (Orion's, measured independently on this machine; Go is not installed here): ${fanOut64.toFixed(1)} µs, ${(fanOut64 / GO_FAN_OUT_64_US[0]).toFixed(2)}× the lower Go figure.`,
      '',
      'gRPC delivery throughput is measured by apps/supplier/bench/delivery.bench.ts (next section).',
    ].join('\n'),
  );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
