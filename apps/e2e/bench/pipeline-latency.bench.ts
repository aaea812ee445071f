// Capture → result latency per worker, the whole pipeline as real processes (synthetic capture
// 640x480 JPEG at 15 fps, supplier, two workers running motion → tracks → keypoints, gateway), read
// by a gRPC SubscribeResults client as a user would. Two frame paths side by side in one run:
// frame bytes over gRPC, and shared-memory references (the worker reads the ring). Per worker:
// capture → subscriber p50/p99, split into the wait before analysis (frame path + the worker's
// turn), processing, and the result's trip through the gateway.
// Run: npm run bench -- pipeline-latency
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RUNS, median, percentile, writeSection } from '@framewire/bench';
import { peakResidentMiB, subscribeResults, waitForHealth } from '@framewire/testing';
import { sleep, startPipeline } from '../src/support/pipeline';

const FPS = 15;
const WORKERS = ['worker-1', 'worker-2'];
/** The background model heals its start-up ghosts in about 3 s (docs/analyzers.md). */
const WARM_UP_MS = 4_000;
const WINDOW_MS = 6_000;
const FRAME_INTERVAL_MS = 1000 / FPS;

interface Sample {
  /** capture → subscriber receive, ms */
  total: number;
  /** capture → analysis start (published − processing − capture), ms */
  wait: number;
  processing: number;
  /** worker publish → subscriber receive, ms */
  delivery: number;
}

type Summary = Record<keyof Sample, { p50: number; p99: number }> & { count: number };

function summarize(samples: readonly Sample[]): Summary {
  const at = (key: keyof Sample, q: number) => percentile(samples.map((s) => s[key]).sort((a, b) => a - b), q);
  const keys: (keyof Sample)[] = ['total', 'wait', 'processing', 'delivery'];
  return Object.assign({ count: samples.length }, ...keys.map((k) => ({ [k]: { p50: at(k, 0.5), p99: at(k, 0.99) } }))) as Summary;
}

/** One pipeline, `runs` windows; per worker, the summary of each window. */
async function measure(mode: 'bytes' | 'shm', runs: number): Promise<{ perWorker: Map<string, Summary[]>; rss: Record<string, number> }> {
  const archiveDir = mkdtempSync(join(tmpdir(), `fw-bench-latency-${mode}-`));
  const streamId = `bench-${mode}`;
  const pipeline = await startPipeline({
    streamId,
    fps: FPS,
    width: 640,
    height: 480,
    archiveDir,
    workers: WORKERS,
    env: mode === 'shm' ? { FW_CAPTURE_SHM_RING: `framewire-bench-${process.pid}` } : { FW_WORKER_SHM: 'false' },
  });
  const perWorker = new Map<string, Summary[]>(WORKERS.map((w) => [w, []]));
  const rss: Record<string, number> = {};
  try {
    await waitForHealth(pipeline.httpUrl, 200, 30_000);
    await sleep(WARM_UP_MS);
    for (let r = 0; r < runs; r++) {
      const samples = new Map<string, Sample[]>(WORKERS.map((w) => [w, []]));
      const subscriber = subscribeResults(pipeline.gatewayAddress, { streamId, kinds: [] });
      await sleep(WINDOW_MS);
      subscriber.close();
      if (subscriber.error) throw subscriber.error;
      const received = subscriber.receivedTimesUs;
      subscriber.results.forEach((result, i) => {
        // One sample per analysed frame: the detections result (the first of each frame's results).
        if (!result.detections) return;
        samples.get(result.workerId)?.push({
          total: (received[i] - result.captureTimeUs) / 1000,
          wait: (result.publishedTimeUs - result.processingUs - result.captureTimeUs) / 1000,
          processing: result.processingUs / 1000,
          delivery: (received[i] - result.publishedTimeUs) / 1000,
        });
      });
      for (const [w, s] of samples) {
        if (s.length === 0) throw new Error(`${mode}: no results from ${w} in ${WINDOW_MS} ms`);
        perWorker.get(w)!.push(summarize(s));
      }
    }
    for (const [name, service] of pipeline.services) rss[name] = peakResidentMiB(service.child.pid!);
  } finally {
    await pipeline.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }
  return { perWorker, rss };
}

async function main(): Promise<void> {
  const runs = Math.max(1, Math.min(DEFAULT_RUNS, 3));
  const bytes = await measure('bytes', runs);
  const shm = await measure('shm', runs);
  const lines = [
    '| frame path | worker | frames/s analysed | capture → subscriber p50 ms | p99 ms | wait before analysis p50 / p99 | processing p50 / p99 | gateway → subscriber p50 / p99 | p50 ÷ frame interval |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const totals: Record<string, number> = {};
  for (const [mode, m] of [['bytes over gRPC', bytes], ['shared memory', shm]] as const) {
    const allP50: number[] = [];
    for (const [worker, summaries] of m.perWorker) {
      const med = (key: keyof Sample, q: 'p50' | 'p99') => median(summaries.map((s) => s[key][q]));
      const rate = median(summaries.map((s) => s.count)) / (WINDOW_MS / 1000);
      allP50.push(med('total', 'p50'));
      lines.push(
        `| ${mode} | ${worker} | ${rate.toFixed(1)} | ${med('total', 'p50').toFixed(1)} | ${med('total', 'p99').toFixed(1)} | ${med('wait', 'p50').toFixed(1)} / ${med('wait', 'p99').toFixed(1)} | ${med('processing', 'p50').toFixed(1)} / ${med('processing', 'p99').toFixed(1)} | ${med('delivery', 'p50').toFixed(1)} / ${med('delivery', 'p99').toFixed(1)} | ${(med('total', 'p50') / FRAME_INTERVAL_MS).toFixed(2)} |`,
      );
    }
    totals[mode] = median(allP50);
  }
  const rss = (r: Record<string, number>) => Object.entries(r).map(([n, v]) => `${n} ${v.toFixed(0)}`).join(', ');
  writeSection(
    '60-pipeline-latency',
    'Pipeline: capture → result latency per worker',
    [
      `The whole pipeline as real processes on this machine (synthetic capture 640x480 JPEG at ${FPS} fps, supplier, ${WORKERS.length} workers running motion → tracks → keypoints on a 320-wide image, gateway with recording on), read by a gRPC SubscribeResults client in the benchmark process. One sample per analysed frame (its detections result). "Wait before analysis" is the frame's age when the worker started on it (frame path, plus the worker finishing the previous frame); "gateway → subscriber" is the result's trip from the worker's publish through the gateway to the subscriber. Medians over ${runs} windows of ${WINDOW_MS / 1000} s after a ${WARM_UP_MS / 1000} s warm-up; every process shares the machine's 2 cores. The reference is the frame interval (${FRAME_INTERVAL_MS.toFixed(1)} ms): under 1, a result is out before the next frame is captured.`,
      '',
      lines.join('\n'),
      '',
      `Ratio shared memory / bytes, capture → subscriber p50: ${(totals['shared memory'] / totals['bytes over gRPC']).toFixed(2)}.`,
      '',
      `Peak RSS (MiB): bytes run: ${rss(bytes.rss)}; shared-memory run: ${rss(shm.rss)}.`,
    ].join('\n'),
  );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
