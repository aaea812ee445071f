// subscribeFrames against a real grpc-js server on loopback that plays a tiny FrameSupplier: it
// keeps the newest frame, sends it per credit (Pull) or as fast as the stream takes it (Subscribe),
// and records what the client asked for.
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Frame,
  FrameSupplierServer,
  FrameSupplierService,
  PixelFormat,
  PullRequest,
  PullResponse,
  SubscribeRequest,
} from '@framewire/proto';
import { FrameSubscriptionError, FrameSubscriptionRefusedError, FrameSubscriptionReplacedError, subscribeFrames } from './index';

/** How long the tests wait to be sure that something did NOT happen. */
const QUIET_MS = 150;

interface PullCallRecord {
  subscribe?: SubscribeRequest;
  credits: number[];
  sent: number;
  cancelled: boolean;
  ended: boolean;
}

interface FakeSupplier {
  server: grpc.Server;
  port: number;
  pulls: PullCallRecord[];
  subscribes: { request: SubscribeRequest; cancelled: boolean }[];
  publish(frameBytes?: number): Frame;
  /** When set, Pull and Subscribe fail at once with this status. */
  refuseWith: { code: grpc.status; details: string } | null;
  stop(): void;
}

function makeFrame(sequence: number, bytes = 16): Frame {
  return {
    streamId: 'cam-1',
    sequence,
    captureTimeUs: Date.now() * 1000,
    width: 4,
    height: 4,
    pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8,
    sizeBytes: bytes,
    data: Buffer.alloc(bytes, sequence & 0xff),
  };
}

async function startFakeSupplier(port = 0): Promise<FakeSupplier> {
  let newest: Frame | undefined;
  const wakers = new Set<() => void>();
  const fake: FakeSupplier = {
    server: new grpc.Server(),
    port: 0,
    pulls: [],
    subscribes: [],
    refuseWith: null,
    publish(bytes = 16) {
      newest = makeFrame((newest?.sequence ?? 0) + 1, bytes);
      for (const wake of wakers) wake();
      return newest;
    },
    stop() {
      fake.server.forceShutdown();
    },
  };
  const implementation: Partial<FrameSupplierServer> = {
    pull(call: grpc.ServerDuplexStream<PullRequest, PullResponse>) {
      const record: PullCallRecord = { credits: [], sent: 0, cancelled: false, ended: false };
      fake.pulls.push(record);
      let credits = 0;
      let lastSent = 0;
      const trySend = () => {
        if (credits > 0 && newest && newest.sequence > lastSent && !record.cancelled) {
          credits--;
          record.sent++;
          call.write({ delivery: { frame: newest, droppedSinceLast: newest.sequence - lastSent - 1, sentTimeUs: Date.now() * 1000, poolId: '', batchRemaining: 0 } });
          lastSent = newest.sequence;
        }
      };
      wakers.add(trySend);
      call.on('cancelled', () => {
        record.cancelled = true;
        wakers.delete(trySend);
      });
      call.on('end', () => {
        record.ended = true;
        wakers.delete(trySend);
        call.end();
      });
      call.on('data', (r: PullRequest) => {
        if (r.subscribe) {
          record.subscribe = r.subscribe;
          if (fake.refuseWith) call.emit('error', { code: fake.refuseWith.code, details: fake.refuseWith.details });
          return;
        }
        record.credits.push(r.credits ?? 0);
        credits += r.credits ?? 0;
        trySend();
      });
    },
    subscribe(call) {
      const record = { request: call.request, cancelled: false };
      fake.subscribes.push(record);
      if (fake.refuseWith) {
        call.emit('error', { code: fake.refuseWith.code, details: fake.refuseWith.details });
        return;
      }
      let lastSent = 0;
      const send = () => {
        if (newest && newest.sequence > lastSent && !record.cancelled) {
          call.write({ delivery: { frame: newest, droppedSinceLast: newest.sequence - lastSent - 1, sentTimeUs: Date.now() * 1000, poolId: '', batchRemaining: 0 } });
          lastSent = newest.sequence;
        }
      };
      wakers.add(send);
      call.on('cancelled', () => {
        record.cancelled = true;
        wakers.delete(send);
      });
    },
  };
  fake.server.addService(FrameSupplierService, implementation as FrameSupplierServer);
  fake.port = await new Promise<number>((resolve, reject) =>
    fake.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return fake;
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${condition.toString()}`);
    await sleep(10);
  }
}

describe('subscribeFrames', () => {
  let fake: FakeSupplier;
  beforeEach(async () => {
    fake = await startFakeSupplier();
  });
  afterEach(() => fake.stop());

  const target = () => ({ address: `127.0.0.1:${fake.port}`, workerId: 'w-1', streamId: 'cam-1' });

  it('subscribes first, then grants exactly one credit each time the consumer asks for a frame', async () => {
    const frames = subscribeFrames({ ...target(), reconnect: false });
    try {
      await until(() => fake.pulls[0]?.subscribe !== undefined);
      expect(fake.pulls[0].subscribe).toEqual(expect.objectContaining({ workerId: 'w-1', streamId: 'cam-1', preferSharedMemory: false, shmRingTokens: [], instanceId: expect.stringMatching(/^[0-9a-f]{32}$/), poolId: '' }));
      fake.publish();
      fake.publish();
      await sleep(QUIET_MS);
      expect(fake.pulls[0].credits).toEqual([]); // frames exist, but nobody asked

      const first = await frames.next();
      expect(first.done).toBe(false);
      expect(first.value.frame.sequence).toBe(2); // the newest, not the first
      expect(first.value.droppedSinceLast).toBe(1);
      expect(fake.pulls[0].credits).toEqual([1]);

      for (let i = 0; i < 5; i++) fake.publish(); // the worker is "busy": nothing is sent meanwhile
      await sleep(QUIET_MS);
      expect(fake.pulls[0].credits).toEqual([1]);
      expect(fake.pulls[0].sent).toBe(1);

      const second = await frames.next();
      expect(second.value.frame.sequence).toBe(7);
      expect(second.value.droppedSinceLast).toBe(4);
      expect(fake.pulls[0].credits).toEqual([1, 1]);
      expect(frames.stats).toMatchObject({ frames: 2, drops: 5, reconnects: 0, connected: true });
    } finally {
      frames.close();
    }
  });

  it('measures age at delivery and transfer time of each frame', async () => {
    const frames = subscribeFrames({ ...target(), reconnect: false });
    try {
      const pending = frames.next();
      await sleep(50);
      const published = fake.publish();
      const { value } = await pending;
      expect(value.frame.captureTimeUs).toBe(published.captureTimeUs);
      expect(value.ageAtDeliveryMs).toBeGreaterThanOrEqual(0);
      expect(value.ageAtDeliveryMs).toBeLessThan(1_000);
      expect(value.transferMs).toBeLessThanOrEqual(value.ageAtDeliveryMs + 1);
      expect(frames.stats.lastAgeMs).toBe(value.ageAtDeliveryMs);
    } finally {
      frames.close();
    }
  });

  it('keeps one more credit in flight with prefetch 1', async () => {
    const frames = subscribeFrames({ ...target(), reconnect: false, prefetch: 1 });
    try {
      fake.publish();
      await frames.next();
      expect(fake.pulls[0].credits).toEqual([2]);
      fake.publish(); // answers the prefetched credit while the worker is busy
      await until(() => fake.pulls[0].sent === 2);
      await sleep(QUIET_MS);
      const second = await frames.next(); // already here; one credit replaces it
      expect(second.value.frame.sequence).toBe(2);
      // Its age counts the time it was held here, not only the transfer.
      expect(second.value.ageAtDeliveryMs).toBeGreaterThanOrEqual(QUIET_MS - 10); // a timer may fire a few ms early
      await until(() => fake.pulls[0].credits.length === 2);
      expect(fake.pulls[0].credits).toEqual([2, 1]);
    } finally {
      frames.close();
    }
  });

  it('receives frames larger than the 4 MiB gRPC default', async () => {
    const frames = subscribeFrames({ ...target(), reconnect: false });
    try {
      fake.publish(8 * 1024 * 1024);
      const { value } = await frames.next();
      expect(value.frame.data?.length).toBe(8 * 1024 * 1024);
    } finally {
      frames.close();
    }
  });

  it('reconnects when the supplier goes away and comes back on the same port, resuming at the newest frame', async () => {
    const port = fake.port;
    const frames = subscribeFrames({ ...target(), reconnect: { initialMs: 20, maxMs: 200 } });
    try {
      fake.publish();
      expect((await frames.next()).value.frame.sequence).toBe(1);
      fake.stop();
      const pending = frames.next(); // the consumer waits across the outage
      await sleep(300);
      fake = await startFakeSupplier(port);
      for (let i = 0; i < 3; i++) fake.publish();
      const { value } = await pending;
      expect(value.frame.sequence).toBe(3); // a fresh subscription starts at the newest frame
      expect(frames.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(frames.stats.lastError?.code).toBe(grpc.status.UNAVAILABLE);
      expect(fake.pulls.at(-1)?.credits).toEqual([1]);
      // The same process: the supplier replaces its half-open call at once instead of refusing it.
      expect(new Set(fake.pulls.map((p) => p.subscribe?.instanceId)).size).toBe(1);
    } finally {
      frames.close();
    }
  });

  it('sends the instance id it is given, and a new random one per subscription otherwise', async () => {
    const given = subscribeFrames({ ...target(), instanceId: 'process-key-1', reconnect: false });
    const a = subscribeFrames({ ...target(), workerId: 'w-2', reconnect: false });
    const b = subscribeFrames({ ...target(), workerId: 'w-3', reconnect: false });
    try {
      await until(() => fake.pulls.length === 3 && fake.pulls.every((p) => p.subscribe !== undefined));
      const keys = new Map(fake.pulls.map((p) => [p.subscribe?.workerId, p.subscribe?.instanceId]));
      expect(keys.get('w-1')).toBe('process-key-1');
      expect(keys.get('w-2')).not.toBe(keys.get('w-3'));
    } finally {
      for (const f of [given, a, b]) f.close();
    }
  });

  it.each([
    [grpc.status.ALREADY_EXISTS, 'worker_id "w-1" is held by another live instance (another instance_id)'],
    [grpc.status.RESOURCE_EXHAUSTED, 'worker "w-1" would exceed the limit of 16 workers per caller'],
  ])('throws FrameSubscriptionRefusedError, without reconnecting, when the supplier refuses with %s', async (code, details) => {
    fake.refuseWith = { code, details };
    const frames = subscribeFrames({ ...target(), reconnect: { initialMs: 10, maxMs: 20 } });
    const error = (await frames.next().catch((e: unknown) => e)) as FrameSubscriptionError;
    expect(error).toBeInstanceOf(FrameSubscriptionRefusedError);
    expect(error.code).toBe(code);
    expect(error.message).toContain(details);
    await sleep(QUIET_MS);
    expect(fake.pulls).toHaveLength(1);
  });

  it('cancels the call and closes the channel when the consumer breaks out of the loop', async () => {
    const frames = subscribeFrames({ ...target(), reconnect: false });
    fake.publish();
    for await (const received of frames) {
      expect(received.frame.sequence).toBe(1);
      break;
    }
    await until(() => fake.pulls[0].cancelled);
    expect(frames.stats.connected).toBe(false);
    expect(await frames.next()).toEqual({ done: true, value: undefined });
  });

  it('ends a pending next() and cancels the call when the signal aborts', async () => {
    const abort = new AbortController();
    const frames = subscribeFrames({ ...target(), signal: abort.signal });
    const pending = frames.next();
    await until(() => fake.pulls[0]?.credits.length === 1);
    abort.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    await until(() => fake.pulls[0].cancelled);
    await sleep(QUIET_MS);
    expect(fake.pulls).toHaveLength(1); // no reconnect after our own cancellation
  });

  it('throws FrameSubscriptionReplacedError, without reconnecting, when the supplier aborts the call', async () => {
    fake.refuseWith = { code: grpc.status.ABORTED, details: 'worker "w-1" replaced by a newer subscription' };
    const frames = subscribeFrames({ ...target(), reconnect: { initialMs: 10, maxMs: 20 } });
    const error = await frames.next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FrameSubscriptionReplacedError);
    expect(error).toBeInstanceOf(FrameSubscriptionError);
    expect((error as FrameSubscriptionError).code).toBe(grpc.status.ABORTED);
    expect((error as FrameSubscriptionError).message).toContain('replaced by a newer subscription');
    await sleep(QUIET_MS);
    expect(fake.pulls).toHaveLength(1);
  });

  it('throws FrameSubscriptionError naming the code on a non-retryable status', async () => {
    fake.refuseWith = { code: grpc.status.INVALID_ARGUMENT, details: 'worker_id must be 1-64 characters' };
    const frames = subscribeFrames({ ...target(), mode: 'stream' });
    const error = (await frames.next().catch((e: unknown) => e)) as FrameSubscriptionError;
    expect(error).toBeInstanceOf(FrameSubscriptionError);
    expect(error.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error.message).toMatch(/worker "w-1" to stream "cam-1" .* INVALID_ARGUMENT: worker_id must be/);
  });

  it('receives newest frames through server streaming in stream mode', async () => {
    const frames = subscribeFrames({ ...target(), mode: 'stream', reconnect: false });
    try {
      await until(() => fake.subscribes.length === 1);
      expect(fake.subscribes[0].request.workerId).toBe('w-1');
      fake.publish();
      expect((await frames.next()).value.frame.sequence).toBe(1);
      fake.publish();
      fake.publish();
      const { value } = await frames.next();
      expect(value.frame.sequence).toBeGreaterThanOrEqual(2);
    } finally {
      frames.close();
    }
    await until(() => fake.subscribes[0].cancelled);
  });

  it('rejects bad options before connecting', () => {
    expect(() => subscribeFrames({ ...target(), workerId: '' })).toThrow('workerId must be a non-empty string');
    expect(() => subscribeFrames({ ...target(), reconnect: { initialMs: 100, maxMs: 10 } })).toThrow(RangeError);
  });
});
