// The frame path end to end, with the real services as child processes: capture → supplier →
// workers through @framewire/frame-client. Assertions are on what the design promises that no load
// can change (orders, counted drops, fresh frames for a slow worker); the rates, ages and memory are
// measured by the frame-path benchmark (`npm run bench -- frame-path`, docs/benchmarks.md).
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Frame, PixelFormat, PullRequest, PullResponse, SubscribeRequest } from '@framewire/proto';
import { FrameSubscription, subscribeFrames } from '@framewire/frame-client';
import {
  CALL_TIMEOUT_MS,
  describeIfInstalled,
  findFreePort,
  residentMiB,
  ServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  supplierStats,
  waitFor,
} from '@framewire/testing';
import { makeTestVideo, recordFrames, supplierClient } from './support/frame-path';

const SOURCE_FPS = 20;
/** Frames the slow worker takes in the measured window. */
const SLOW_FRAMES = 8;
const SLOW_WORK_MS = 250;
const MAX_FRAME_BYTES = 1024 * 1024;
const RECONNECT = { initialMs: 50, maxMs: 500 };
/** A service that does not stop gracefully within this is killed. */
const STOP_BOUND_MS = 5_000;

const supplierEnv = (extra: Record<string, string> = {}) => ({
  FW_METRICS_PORT: '0',
  FW_SUPPLIER_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
  ...extra,
});
const captureEnv = (supplierPort: number, streamId: string, extra: Record<string, string> = {}) => ({
  FW_METRICS_PORT: '0',
  FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplierPort}`,
  FW_STREAM_ID: streamId,
  FW_CAPTURE_SOURCE: 'synthetic',
  FW_CAPTURE_FPS: String(SOURCE_FPS),
  FW_CAPTURE_WIDTH: '320',
  FW_CAPTURE_HEIGHT: '240',
  ...extra,
});

/** Everything a test started, stopped in reverse order whatever happened. */
const running: { subscriptions: FrameSubscription[]; services: ServiceProcess[] } = { subscriptions: [], services: [] };
async function stopAll(): Promise<void> {
  for (const s of running.subscriptions.splice(0)) s.close();
  for (const service of running.services.splice(0).reverse()) {
    if (service.child.exitCode === null && service.child.signalCode === null) {
      const kill = setTimeout(() => service.child.kill('SIGKILL'), STOP_BOUND_MS);
      await stopServiceProcess(service);
      clearTimeout(kill);
    }
  }
}
async function start(app: string, env: Record<string, string>): Promise<ServiceProcess> {
  const service = await startServiceProcess(app, env);
  running.services.push(service);
  return service;
}
function subscribe(port: number, workerId: string, streamId: string, mode: 'pull' | 'stream' = 'pull'): FrameSubscription {
  const subscription = subscribeFrames({ address: `127.0.0.1:${port}`, workerId, streamId, mode, reconnect: RECONNECT });
  running.subscriptions.push(subscription);
  return subscription;
}

/** The status a Publish call ends with after sending `frame`. */
function publishOnce(port: number, frame: Partial<Frame>): Promise<grpc.ServiceError | null> {
  const client = supplierClient(port);
  return new Promise<grpc.ServiceError | null>((resolve) => {
    const call = client.publish(new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err) => resolve(err));
    call.on('error', () => undefined);
    call.write({ frame: frame as Frame });
    call.end();
  }).finally(() => client.close());
}

/** The status a Pull call ends with after subscribing with `request` (null: it was accepted). */
function pullOnce(port: number, request: SubscribeRequest): Promise<grpc.StatusObject | null> {
  const client = supplierClient(port);
  return new Promise<grpc.StatusObject | null>((resolve) => {
    const call: grpc.ClientDuplexStream<PullRequest, PullResponse> = client.pull(new grpc.Metadata(), {
      deadline: Date.now() + CALL_TIMEOUT_MS,
    });
    const accepted = setTimeout(() => {
      call.cancel();
      resolve(null);
    }, 1_000);
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => {
      clearTimeout(accepted);
      resolve(status.code === grpc.status.CANCELLED ? null : status);
    });
    call.write({ subscribe: request });
  }).finally(() => client.close());
}

describe('frame path: synthetic capture → supplier → workers', () => {
  const STREAM = 'cam-e2e';
  let supplier: ServiceProcess;

  beforeAll(async () => {
    supplier = await start('supplier', supplierEnv());
    await start('capture', captureEnv(supplier.port, STREAM));
  }, 30_000);
  afterAll(stopAll, 15_000);

  it('serves fast workers every frame they can take in order, counts the slow worker’s drops and gives it frames newer than the ones it missed', async () => {
    const fast = [recordFrames(subscribe(supplier.port, 'fast-1', STREAM)), recordFrames(subscribe(supplier.port, 'fast-2', STREAM))];
    const slow = recordFrames(subscribe(supplier.port, 'slow-1', STREAM), SLOW_WORK_MS);
    await waitFor('every worker to get a first frame', () => [...fast, slow].every((c) => c.frames.length > 0), 15_000);
    const rssAtStart = residentMiB(supplier.child.pid as number);
    const before = await supplierStats(`127.0.0.1:${supplier.port}`);
    const fastBefore = fast.map((c) => c.frames.length);
    const slowBefore = slow.frames.length;
    await waitFor(`the slow worker to take ${SLOW_FRAMES} frames`, () => slow.frames.length >= slowBefore + SLOW_FRAMES, 30_000);
    const after = await supplierStats(`127.0.0.1:${supplier.port}`);
    const fastAfter = fast.map((c) => c.frames.length);
    const rssAtEnd = residentMiB(supplier.child.pid as number);

    const streamBefore = before.streams.find((s) => s.streamId === STREAM);
    const streamAfter = after.streams.find((s) => s.streamId === STREAM);
    const published = (streamAfter?.framesPublished ?? 0) - (streamBefore?.framesPublished ?? 0);
    const sequencesOf = (c: (typeof fast)[number]) => c.frames.map((f) => f.frame.sequence);
    const increasing = (values: readonly number[]) => values.every((v, i) => i === 0 || v > values[i - 1]);
    // Every frame a worker did not get between two deliveries is counted in the later one.
    const dropsAccounted = (c: (typeof fast)[number]) =>
      c.frames.slice(1).every((f, i) => f.droppedSinceLast === f.frame.sequence - c.frames[i].frame.sequence - 1);
    for (const c of [...fast, slow]) {
      expect(increasing(sequencesOf(c))).toBe(true);
      expect(dropsAccounted(c)).toBe(true);
      expect(c.error).toBeUndefined();
    }
    // The slow worker spends 250 ms per frame while capture makes one every 50 ms (these hold while
    // capture makes more than 4 of its 20 frames a second): it misses frames, counted at the supplier
    // and in its deliveries, and its frames skip the ones it missed instead of queueing them.
    const slowFrames = slow.frames.slice(slowBefore);
    const worker = (id: string) => after.workers.find((w) => w.workerId === id && w.streamId === STREAM);
    expect(Number(worker('slow-1')?.dropsTotal)).toBeGreaterThan(0);
    expect(slowFrames.reduce((n, f) => n + f.droppedSinceLast, 0)).toBeGreaterThan(0);
    // Fast workers are not held back by it: in the same window they take more frames than it does.
    for (let i = 0; i < fast.length; i++) expect(fastAfter[i] - fastBefore[i]).toBeGreaterThan(slowFrames.length);
    // Reported for the record (jest prints console output of a passing test only with --verbose).
    const ages = slowFrames.map((f) => f.ageAtDeliveryMs).sort((a, b) => a - b);
    console.log(
      `frame path: published ${published}; fast got ${fastAfter.map((n, i) => n - fastBefore[i]).join(', ')}; slow got ${slowFrames.length}, ` +
        `ages p50 ${ages[ages.length >> 1].toFixed(1)} ms, max ${ages[ages.length - 1].toFixed(1)} ms; supplier RSS ${rssAtStart.toFixed(0)} → ${rssAtEnd.toFixed(0)} MiB`,
    );
  }, 60_000);

  it('answers bad input with the right status naming the field, while good workers keep receiving', async () => {
    const good = recordFrames(subscribe(supplier.port, 'good-1', STREAM));
    await waitFor('the good worker to get a frame', () => good.frames.length > 0, 10_000);

    const frame = (overrides: Partial<Frame>): Partial<Frame> => ({
      streamId: 'e2e-bad-input',
      sequence: 1,
      captureTimeUs: Date.now() * 1000,
      width: 2,
      height: 2,
      pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8,
      sizeBytes: 4,
      data: Buffer.alloc(4),
      ...overrides,
    });
    const oversized = await publishOnce(supplier.port, frame({ sizeBytes: MAX_FRAME_BYTES + 1, data: Buffer.alloc(MAX_FRAME_BYTES + 1) }));
    expect(oversized?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(oversized?.details).toContain(String(MAX_FRAME_BYTES)); // the limit it exceeded

    const noStream = await publishOnce(supplier.port, frame({ streamId: '' }));
    expect(noStream?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noStream?.details).toMatch(/stream_id/);

    const emptyWorker = await pullOnce(supplier.port, SubscribeRequest.fromPartial({ workerId: '', streamId: STREAM, preferSharedMemory: false, shmRingTokens: [], instanceId: '' }));
    expect(emptyWorker?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(emptyWorker?.details).toMatch(/worker_id/);

    const longWorker = await pullOnce(supplier.port, SubscribeRequest.fromPartial({ workerId: 'w'.repeat(1000), streamId: STREAM, preferSharedMemory: false, shmRingTokens: [], instanceId: '' }));
    expect(longWorker?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(longWorker?.details).toMatch(/worker_id/);

    const noStreamPull = await pullOnce(supplier.port, SubscribeRequest.fromPartial({ workerId: 'bad-1', streamId: '', preferSharedMemory: false, shmRingTokens: [], instanceId: '' }));
    expect(noStreamPull?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(noStreamPull?.details).toMatch(/stream_id/);

    const received = good.frames.length;
    await waitFor('the good worker to keep receiving after the bad input', () => good.frames.length >= received + 5, 5_000);
    expect(good.error).toBeUndefined();
  }, 30_000);
});

describeIfInstalled('ffmpeg', 'apt-get install ffmpeg')('frame path: ffmpeg source', () => {
  afterAll(stopAll, 15_000);

  it('delivers the frames of a looping video file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-e2e-video-'));
    try {
      const video = makeTestVideo(dir, 3, 15);
      const supplier = await start('supplier', supplierEnv());
      await start('capture', captureEnv(supplier.port, 'cam-video', { FW_CAPTURE_SOURCE: `ffmpeg:${video}`, FW_CAPTURE_FPS: '15', FW_CAPTURE_LOOP: 'true' }));
      const worker = recordFrames(subscribe(supplier.port, 'video-1', 'cam-video'));
      await waitFor('a first frame from the video', () => worker.frames.length > 0, 15_000);
      const first = worker.frames[0];
      expect(first.frame.width).toBe(320);
      expect(first.frame.height).toBe(240);
      expect(first.frame.sizeBytes).toBeGreaterThan(0);
      // Past the video's 3 s end the source loops: frames keep coming.
      await sleep(4_000);
      const last = worker.frames[worker.frames.length - 1];
      expect((last.frame.captureTimeUs - first.frame.captureTimeUs) / 1e6).toBeGreaterThan(3.5);
      expect(worker.frames.length).toBeGreaterThanOrEqual(0.5 * 15 * 4);
      expect(worker.error).toBeUndefined();
    } finally {
      await stopAll();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});

describe('frame path: supplier restart', () => {
  afterAll(stopAll, 15_000);

  it('reconnects capture and workers to a supplier restarted on the same port, and frames flow again', async () => {
    const port = await findFreePort();
    const STREAM = 'cam-restart';
    let supplier = await start('supplier', supplierEnv({ FW_GRPC_PORT: String(port) }));
    await start('capture', captureEnv(port, STREAM));
    const pull = subscribe(port, 'restart-pull', STREAM);
    const stream = subscribe(port, 'restart-stream', STREAM, 'stream');
    const workers = [recordFrames(pull), recordFrames(stream)];
    await waitFor('both workers to get frames', () => workers.every((w) => w.frames.length > 0), 15_000);

    const { code } = await stopServiceProcess(supplier);
    expect(code).toBe(0);
    const restartedAtUs = Date.now() * 1000;
    supplier = await start('supplier', supplierEnv({ FW_GRPC_PORT: String(port) }));
    expect(supplier.port).toBe(port);

    // Frames captured after the restart reach both workers: capture republished, workers resubscribed.
    await waitFor(
      'frames captured after the restart at both workers',
      () => workers.every((w) => w.frames.some((f) => f.frame.captureTimeUs > restartedAtUs)),
      20_000,
    );
    expect(pull.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(stream.stats.reconnects).toBeGreaterThanOrEqual(1);
    for (const w of workers) expect(w.error).toBeUndefined();
  }, 45_000);
});
