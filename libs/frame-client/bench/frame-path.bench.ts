// The frame path, measured with the real supplier (and capture) as child processes:
// 1. freshness: frames published at 30 fps, one worker spending 100 ms per frame; the age of each frame
//    when the worker gets it, Pull (one credit per frame) beside Subscribe (server streaming, the
//    anchor that shows the transport's hidden queue). Goal (issue): Pull p99 ≤ one frame interval
//    (33 ms) plus the transfer time.
// 2. capture → worker latency at 30 fps, 1280x720 synthetic JPEG, 8 Pull workers.
// Run: node tools/build.mjs && FW_BENCH_RUNS=3 node --expose-gc dist/libs/frame-client/bench/frame-path.bench.js
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_RUNS, formatNumber, median, writeSection } from '@framewire/bench';
import { FrameSupplierClient, PixelFormat, PublishRequest, PublishResponse } from '@framewire/proto';
import { FrameSubscriptionMode, ReceivedFrame, subscribeFrames } from '../src';
import { ServiceProcess, startServiceProcess, stopServiceProcess } from '@framewire/testing';

const INPUT_FPS = 30;
const FRAME_INTERVAL_MS = 1000 / INPUT_FPS;
/** 256 x 256 GRAY8 = 64 KiB per frame. */
const FRESH_FRAME_SIDE = 256;
const WORKER_MS = 100;
/** Samples of a run are taken after this warm-up, so a Subscribe queue has filled to its steady state. */
const WARMUP_MS = 1_000;
const FRESH_RUN_MS = 5_000;
const LATENCY_WORKERS = 8;
const LATENCY_RUN_MS = 4_000;
const RUNS = DEFAULT_RUNS;

interface Sample {
  ageMs: number;
  transferMs: number;
  dropped: number;
}

/** Supplier → worker transfer and capture → supplier publishing are alike on loopback (the same
 *  message over the same grpc-js); the goal's transfer allowance counts both hops. */
const HOPS = 2;

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const sampleOf = (r: ReceivedFrame): Sample => ({ ageMs: r.ageAtDeliveryMs, transferMs: r.transferMs, dropped: r.droppedSinceLast });

/** Publishes a 64 KiB frame every 33.3 ms through Publish until stopped (drift-free schedule). */
function startPublisher(port: number, streamId: string): { stop: () => Promise<void>; published: () => number } {
  const client = new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call: grpc.ClientWritableStream<PublishRequest> = client.publish((_err: grpc.ServiceError | null, _r: PublishResponse) => undefined);
  call.on('error', () => undefined);
  const data = Buffer.alloc(FRESH_FRAME_SIDE * FRESH_FRAME_SIDE, 0x80);
  let sequence = 0;
  let stopped = false;
  const started = performance.now();
  const loop = (async () => {
    while (!stopped) {
      sequence++;
      call.write({
        frame: {
          streamId,
          sequence,
          captureTimeUs: Math.round((performance.timeOrigin + performance.now()) * 1000),
          width: FRESH_FRAME_SIDE,
          height: FRESH_FRAME_SIDE,
          pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8,
          sizeBytes: data.length,
          data,
        },
      });
      const due = started + sequence * FRAME_INTERVAL_MS;
      await sleep(Math.max(0, due - performance.now()));
    }
  })();
  return {
    published: () => sequence,
    stop: async () => {
      stopped = true;
      await loop;
      call.end();
      client.close();
    },
  };
}

/** One run of one worker that spends WORKER_MS per frame; samples after the warm-up. */
type FreshnessCase = { mode: FrameSubscriptionMode; prefetch: 0 | 1 };
const FRESHNESS_CASES: Record<'pull' | 'prefetch' | 'stream', FreshnessCase> = {
  pull: { mode: 'pull', prefetch: 0 },
  prefetch: { mode: 'pull', prefetch: 1 },
  stream: { mode: 'stream', prefetch: 0 },
};

async function freshnessRun(port: number, streamId: string, c: FreshnessCase, run: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const frames = subscribeFrames({
    address: `127.0.0.1:${port}`,
    workerId: `fresh-${c.mode}-${c.prefetch}-${run}`,
    streamId,
    mode: c.mode,
    prefetch: c.prefetch,
    reconnect: false,
  });
  const started = performance.now();
  for await (const received of frames) {
    const elapsed = performance.now() - started;
    if (elapsed > WARMUP_MS + FRESH_RUN_MS) break;
    if (elapsed >= WARMUP_MS) samples.push(sampleOf(received));
    await sleep(WORKER_MS);
  }
  return samples;
}

interface Summary {
  name: string;
  frames: number;
  p50: number;
  p99: number;
  max: number;
  transferP50: number;
  transferP99: number;
  /** Frames missed per frame received. */
  dropsPerFrame: number;
  /** p50 and p99 of each run, for the median over runs. */
  runP50: number[];
  runP99: number[];
}

function summarize(name: string, runs: Sample[][]): Summary {
  const all = runs.flat();
  const ages = all.map((s) => s.ageMs);
  return {
    name,
    frames: all.length,
    p50: percentile(ages, 50),
    p99: percentile(ages, 99),
    max: Math.max(...ages),
    transferP50: percentile(all.map((s) => s.transferMs), 50),
    transferP99: percentile(all.map((s) => s.transferMs), 99),
    dropsPerFrame: all.reduce((n, s) => n + s.dropped, 0) / Math.max(1, all.length),
    runP50: runs.map((r) => percentile(r.map((s) => s.ageMs), 50)),
    runP99: runs.map((r) => percentile(r.map((s) => s.ageMs), 99)),
  };
}

function summaryTable(rows: Summary[]): string {
  const ms = (n: number) => (Number.isFinite(n) ? formatNumber(n) : '–');
  return [
    '| case | frames | age p50 (ms) | age p99 (ms) | age max (ms) | median of run p99 (ms) | transfer p50 / p99 (ms) | drops per frame |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.frames} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${ms(median(r.runP99))} | ${ms(r.transferP50)} / ${ms(r.transferP99)} | ${r.dropsPerFrame.toFixed(2)} |`,
    ),
  ].join('\n');
}

async function freshness(): Promise<Summary[]> {
  const supplier = await startServiceProcess('supplier', {});
  const streamId = 'bench-fresh';
  const publisher = startPublisher(supplier.port, streamId);
  try {
    await sleep(200);
    const runs = { pull: [] as Sample[][], prefetch: [] as Sample[][], stream: [] as Sample[][] };
    for (let run = 0; run < RUNS; run++) {
      for (const name of ['pull', 'prefetch', 'stream'] as const) {
        runs[name].push(await freshnessRun(supplier.port, streamId, FRESHNESS_CASES[name], run));
      }
    }
    return [
      summarize(`Pull, one credit per frame (default)`, runs.pull),
      summarize(`Pull, prefetch 1`, runs.prefetch),
      summarize(`Subscribe, server streaming (anchor)`, runs.stream),
    ];
  } finally {
    await publisher.stop();
    await stopServiceProcess(supplier);
  }
}

async function captureLatency(): Promise<{ summary: Summary; framesPerWorkerPerSec: number; frameBytes: number }> {
  let supplier: ServiceProcess | undefined;
  let capture: ServiceProcess | undefined;
  const abort = new AbortController();
  try {
    supplier = await startServiceProcess('supplier', {});
    const streamId = 'bench-720p';
    capture = await startServiceProcess('capture', {
      FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplier.port}`,
      FW_STREAM_ID: streamId,
      FW_CAPTURE_SOURCE: 'synthetic',
      FW_CAPTURE_FPS: String(INPUT_FPS),
      FW_CAPTURE_WIDTH: '1280',
      FW_CAPTURE_HEIGHT: '720',
    });
    let sampling = false;
    let current: Sample[][] = Array.from({ length: LATENCY_WORKERS }, () => []);
    let frameBytes = 0;
    const workers = Array.from({ length: LATENCY_WORKERS }, async (_, i) => {
      const frames = subscribeFrames({ address: `127.0.0.1:${supplier?.port}`, workerId: `latency-${i}`, streamId, signal: abort.signal });
      for await (const received of frames) {
        frameBytes = received.frame.sizeBytes;
        if (sampling) current[i].push(sampleOf(received));
      }
    });
    await sleep(WARMUP_MS + 1_000);
    const runs: Sample[][] = [];
    let received = 0;
    for (let run = 0; run < RUNS; run++) {
      current = Array.from({ length: LATENCY_WORKERS }, () => []);
      sampling = true;
      await sleep(LATENCY_RUN_MS);
      sampling = false;
      runs.push(current.flat());
      received += current.flat().length;
    }
    abort.abort();
    await Promise.all(workers);
    return {
      summary: summarize(`capture → ${LATENCY_WORKERS} Pull workers, 1280x720 JPEG @ ${INPUT_FPS} fps`, runs),
      framesPerWorkerPerSec: received / LATENCY_WORKERS / ((RUNS * LATENCY_RUN_MS) / 1000),
      frameBytes,
    };
  } finally {
    abort.abort();
    if (capture) await stopServiceProcess(capture);
    if (supplier) await stopServiceProcess(supplier);
  }
}

async function main(): Promise<void> {
  const fresh = await freshness();
  const latency = await captureLatency();
  const [pull, , stream] = fresh;
  const goalMs = FRAME_INTERVAL_MS + HOPS * pull.transferP99;
  const body = [
    `Supplier (and capture) as built child processes on loopback, the worker in the benchmark process; ${RUNS} runs of ` +
      `${FRESH_RUN_MS / 1000} s (freshness) and ${LATENCY_RUN_MS / 1000} s (latency) after a ${WARMUP_MS / 1000} s warm-up; ` +
      'age = receive time − capture time; transfer = receive time − the supplier\'s send time; ' +
      'percentiles over every frame of every run.',
    '',
    `### Freshness: ${INPUT_FPS} fps in, one worker at ${WORKER_MS} ms per frame`,
    '',
    summaryTable(fresh),
    '',
    `Goal: Pull p99 ≤ one frame interval (${FRAME_INTERVAL_MS.toFixed(1)} ms) + transfer, both hops ` +
      `(${HOPS} × supplier → worker p99 ${pull.transferP99.toFixed(1)} ms) = ` +
      `${goalMs.toFixed(1)} ms: ${pull.p99 <= goalMs ? 'met' : 'NOT met'} (p99 ${pull.p99.toFixed(1)} ms). ` +
      `Subscribe p50 is ${(stream.p50 / pull.p50).toFixed(1)}× Pull's: the frames waited in transport buffers.`,
    '',
    `### Capture → worker latency`,
    '',
    summaryTable([latency.summary]),
    '',
    `Each worker received ${latency.framesPerWorkerPerSec.toFixed(1)} frames/s of ${formatNumber(latency.frameBytes / 1024)} KiB.`,
  ].join('\n');
  writeSection('50-frame-path', 'Frame path: freshness and latency', body);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
