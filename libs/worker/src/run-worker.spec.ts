// runWorker against real processes (supplier, gateway, two synthetic cameras): an asynchronous user
// analyzer's results reach the gateway with the worker's envelope; a pool member with batch: 2 hands
// frames of both cameras to analyzeBatch in one call; an analyzer that throws and rejects is counted
// by kind, logged once per kind, and the worker goes on; stop() while an analysis never settles
// still ends within its bound.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AnalyzerInput, AnalyzerOutputs } from '@framewire/analysis';
import { ResultKind } from '@framewire/proto';
import { ResultRecorder, ServiceProcess, startServiceProcess, stopServiceProcess, subscribeResults, waitFor } from '@framewire/testing';
import { PublisherLogger } from './result-publisher';
import { runWorker, WorkerHandle } from './run-worker';

const STREAMS = ['cam-sdk-a', 'cam-sdk-b'] as const;
const FPS = 10;
/** Bound on a wait for something that must happen (a hang fails the test; never a speed). */
const SETTLE_MS = 60_000;
const STOP_TIMEOUT_MS = 2_000;

/** One detection whose class id says which call made it. */
const detection = (classId: number): AnalyzerOutputs => ({ detections: { detections: [{ box: { x: 1, y: 2, width: 3, height: 4 }, score: 0.5, classId, label: 'thing' }] } });

/** A logger that keeps what it is given. */
function recordingLogger(): PublisherLogger & { errors: Record<string, unknown>[] } {
  const errors: Record<string, unknown>[] = [];
  return { errors, log: () => undefined, warn: () => undefined, error: (m) => void errors.push(m as Record<string, unknown>) };
}

describe('runWorker', () => {
  jest.setTimeout(120_000);
  const services: ServiceProcess[] = [];
  let supplierAddress: string;
  let gatewayAddress: string;
  let archiveDir: string;
  let results: ResultRecorder;
  const workers: WorkerHandle[] = [];
  const start = (options: Omit<Parameters<typeof runWorker>[0], 'supplierAddress' | 'gatewayAddress'>): WorkerHandle => {
    const worker = runWorker({ supplierAddress, gatewayAddress, sharedMemory: false, stopTimeoutMs: STOP_TIMEOUT_MS, logger: recordingLogger(), ...options });
    workers.push(worker);
    return worker;
  };

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-run-worker-'));
    const supplier = await startServiceProcess('supplier');
    services.push(supplier);
    supplierAddress = `127.0.0.1:${supplier.port}`;
    const gateway = await startServiceProcess('gateway', { FW_SUPPLIER_ADDRESS: supplierAddress, FW_ARCHIVE_DIR: archiveDir, FW_CAPTURE_ADDRESSES: '127.0.0.1:1' }, { listeners: ['gRPC', 'HTTP'] });
    services.push(gateway);
    gatewayAddress = `127.0.0.1:${gateway.port}`;
    for (const [i, streamId] of STREAMS.entries()) {
      services.push(
        await startServiceProcess('capture', {
          FW_SUPPLIER_ADDRESS: supplierAddress,
          FW_GATEWAY_ADDRESS: gatewayAddress,
          FW_SERVICE_ID: `capture-${streamId}`,
          FW_STREAM_ID: streamId,
          FW_CAPTURE_SOURCE: 'synthetic',
          FW_CAPTURE_FPS: String(FPS),
          FW_CAPTURE_WIDTH: '160',
          FW_CAPTURE_HEIGHT: '120',
          FW_CAPTURE_SEED: String(i + 1),
        }),
      );
    }
    results = subscribeResults(gatewayAddress, { kinds: [ResultKind.RESULT_KIND_DETECTIONS] });
  }, SETTLE_MS);

  afterEach(async () => {
    for (const w of workers.splice(0)) await w.stop();
  });

  afterAll(async () => {
    results?.close();
    for (const s of services.reverse()) await stopServiceProcess(s, 'SIGTERM', 8_000);
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it('publishes what an asynchronous analyzer resolves, in the worker’s envelope, and counts it', async () => {
    const worker = start({
      workerId: 'sdk-async',
      streamId: STREAMS[0],
      analyze: async (frame: AnalyzerInput) => {
        await sleep(5);
        return detection(frame.frameWidth);
      },
    });
    await waitFor('3 results of sdk-async', () => results.results.filter((r) => r.workerId === 'sdk-async').length >= 3, SETTLE_MS);
    const mine = results.results.filter((r) => r.workerId === 'sdk-async');
    for (const r of mine) {
      expect(r).toMatchObject({ streamId: STREAMS[0], detections: { detections: [{ score: 0.5, classId: 160, label: 'thing' }] } });
      expect(r.processingUs).toBeGreaterThan(0);
    }
    expect(new Set(mine.map((r) => r.frameSequence)).size).toBe(mine.length);
    expect(worker.health()).toBe('SERVING');
    expect(worker.stats()).toMatchObject({ analysisErrors: 0, subscription: 'receiving' });
    expect(worker.stats().analysed).toBeGreaterThanOrEqual(3);
    expect(worker.pipelines.names).toEqual(['analyze']);
  });

  it('gives a pool member’s batch of both cameras to analyzeBatch in one call, results going to each frame’s stream', async () => {
    const batches: string[][] = [];
    start({
      workerId: 'sdk-batch',
      pool: { id: 'sdk-batch-pool', mode: 'shared', streams: [...STREAMS] },
      batch: 2,
      // Slower than the cameras, so both streams have a frame waiting whenever it asks.
      fps: 2,
      analyzers: [
        {
          name: 'model',
          analyze: () => detection(1),
          analyzeBatch: async (frames: readonly AnalyzerInput[]) => {
            batches.push(frames.map((f) => f.streamId));
            return frames.map(() => detection(frames.length));
          },
        },
      ],
    });
    await waitFor('a batch of both cameras', () => batches.some((b) => b.length === 2), SETTLE_MS);
    const both = batches.find((b) => b.length === 2) ?? [];
    expect([...both].sort()).toEqual([...STREAMS]);
    await waitFor('batched results of both cameras', () => STREAMS.every((s) => results.results.some((r) => r.workerId === 'sdk-batch' && r.streamId === s && r.detections?.detections[0].classId === 2)), SETTLE_MS);
  });

  it('counts an analyzer that throws or rejects by kind, logs each kind once, and goes on analysing', async () => {
    const logger = recordingLogger();
    let calls = 0;
    const worker = start({
      workerId: 'sdk-failing',
      streamId: STREAMS[1],
      logger,
      analyzers: [
        {
          name: 'flaky',
          analyze: (frame: AnalyzerInput) => {
            calls++;
            if (calls % 3 === 1) throw new TypeError(`no tensor for frame ${frame.frameSequence}`);
            if (calls % 3 === 2) return Promise.reject(new RangeError('model unloaded'));
            return detection(3);
          },
        },
      ],
    });
    await waitFor('each kind of failure twice and results after them', () => worker.stats().analysisErrors >= 4 && worker.stats().analysed >= 2, SETTLE_MS);
    const stats = worker.stats();
    expect(Object.keys(stats.analysisErrorsByKind).sort()).toEqual(['flaky: RangeError', 'flaky: TypeError']);
    expect(stats.analysisErrorsByKind['flaky: TypeError']).toBeGreaterThanOrEqual(2);
    expect(stats.analysisErrorsByKind['flaky: RangeError']).toBeGreaterThanOrEqual(2);
    const failures = logger.errors.filter((e) => String(e.message).startsWith('analysis failed'));
    expect(failures.map((e) => e.kind).sort()).toEqual(['flaky: RangeError', 'flaky: TypeError']);
    expect(failures.find((e) => e.kind === 'flaky: TypeError')).toMatchObject({ analyzer: 'flaky', error: expect.stringMatching(/^analyzer "flaky" failed: no tensor for frame \d+$/) });
    expect(worker.health()).toBe('SERVING');
    await waitFor('results of sdk-failing', () => results.results.some((r) => r.workerId === 'sdk-failing'), SETTLE_MS);
  });

  it('stops within its bound while an analysis never settles, and publishes nothing after', async () => {
    let started = false;
    const worker = start({
      workerId: 'sdk-stuck',
      streamId: STREAMS[0],
      analyze: () => {
        started = true;
        return new Promise<AnalyzerOutputs>(() => undefined);
      },
    });
    await waitFor('an analysis to start', () => started, SETTLE_MS);
    const stopped = worker.stop();
    // stop() settles by itself: the frame loop's share of the bound, the publisher's, the listener.
    await expect(stopped).resolves.toBeUndefined();
    expect(worker.health()).toBe('NOT_SERVING');
    expect(worker.stats()).toMatchObject({ frames: 1, analysed: 0, results: 0 });
    expect(worker.stats().publisher.connected).toBe(false);
    expect(results.results.some((r) => r.workerId === 'sdk-stuck')).toBe(false);
  });

  it('refuses options that cannot work, naming the option', () => {
    const base = { workerId: 'sdk-bad', supplierAddress: '127.0.0.1:1', gatewayAddress: '127.0.0.1:1' };
    expect(() => runWorker(base)).toThrow('runWorker analyzers: no analyzer: give `analyzers` (names or analyzers) or `analyze`');
    expect(() => runWorker({ ...base, analyzers: ['motion'], batch: 2 })).toThrow('runWorker batch: a batch of 2 needs a pool (a broadcast worker gets one frame at a time)');
    expect(() => runWorker({ ...base, analyzers: ['motion'], pool: { id: 'p', mode: 'shared', streams: 'all' }, batch: 0 })).toThrow('runWorker batch: must be an integer 1..16, got 0');
    expect(() => runWorker({ ...base, analyzers: ['motoin'] })).toThrow('unknown analyzer "motoin" (known: motion, tracks, keypoints)');
  });
});
