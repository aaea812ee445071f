// subscribeFrames as a pool member against a real grpc-js server on loopback that plays the
// supplier's side of a pool by script: the test decides which deliveries (and batches) each call
// gets, and the server records what the client asked for (the subscription, every credit).
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import { Delivery, FrameSupplierServer, FrameSupplierService, PixelFormat, PoolMode, PullRequest, PullResponse, SubscribeRequest } from '@framewire/proto';
import { waitFor } from '@framewire/testing';
import { FrameSubscription, FrameSubscriptionError, FrameSubscriptionRefusedError, ReceivedFrame, subscribeFrames } from './index';

/** How long a test waits to be sure that something did NOT happen. */
const QUIET_MS = 150;
const WAIT_MS = 5_000;

interface ScriptedCall {
  subscribe?: SubscribeRequest;
  credits: number[];
  cancelled: boolean;
  send(delivery: Delivery): void;
  fail(code: grpc.status, details: string): void;
}

interface ScriptedPoolSupplier {
  port: number;
  calls: ScriptedCall[];
  stop(): void;
}

async function startScriptedPoolSupplier(port = 0): Promise<ScriptedPoolSupplier> {
  const server = new grpc.Server();
  const fake: ScriptedPoolSupplier = { port: 0, calls: [], stop: () => server.forceShutdown() };
  const implementation: Partial<FrameSupplierServer> = {
    pull(call: grpc.ServerDuplexStream<PullRequest, PullResponse>) {
      const record: ScriptedCall = {
        credits: [],
        cancelled: false,
        send: (delivery) => void call.write({ delivery }),
        fail: (code, details) => call.emit('error', { code, details }),
      };
      fake.calls.push(record);
      call.on('cancelled', () => (record.cancelled = true));
      call.on('error', () => undefined);
      call.on('data', (r: PullRequest) => {
        if (r.subscribe) record.subscribe = r.subscribe;
        else record.credits.push(r.credits ?? 0);
      });
    },
  };
  server.addService(FrameSupplierService, implementation as FrameSupplierServer);
  fake.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return fake;
}

/** A delivery of `streamId`'s frame `sequence` through pool "p". */
function delivery(streamId: string, sequence: number, batchRemaining = 0, droppedSinceLast = 0): Delivery {
  return {
    frame: { streamId, sequence, captureTimeUs: Date.now() * 1000, width: 2, height: 2, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8, sizeBytes: 4, data: Buffer.alloc(4, sequence) },
    droppedSinceLast,
    sentTimeUs: Date.now() * 1000,
    poolId: 'p',
    batchRemaining,
  };
}

const keys = (frames: readonly ReceivedFrame[]) => frames.map((r) => `${r.frame.streamId}#${r.frame.sequence}`);
const until = (what: string, condition: () => boolean) => waitFor(what, condition, WAIT_MS, 5);

describe('subscribeFrames as a pool member', () => {
  let fake: ScriptedPoolSupplier;
  let member: FrameSubscription | undefined;
  beforeEach(async () => {
    fake = await startScriptedPoolSupplier();
  });
  afterEach(() => {
    member?.close();
    member = undefined;
    fake.stop();
  });

  const address = () => `127.0.0.1:${fake.port}`;
  const firstCall = async () => {
    await until('the subscription', () => fake.calls[0]?.subscribe !== undefined);
    return fake.calls[0];
  };

  it('joins the pool named in its options, with its mode and streams, and no broadcast stream', async () => {
    member = subscribeFrames({ address: address(), workerId: 'w-1', pool: { id: 'analysis', mode: 'sticky', streams: ['cam-1', 'cam-2'] }, reconnect: false });
    expect(member.pool).toEqual({ id: 'analysis', mode: 'sticky', streams: ['cam-1', 'cam-2'] });
    expect((await firstCall()).subscribe).toMatchObject({
      workerId: 'w-1',
      streamId: '',
      poolId: 'analysis',
      poolMode: PoolMode.POOL_MODE_STICKY,
      streamIds: ['cam-1', 'cam-2'],
      allStreams: false,
    });
    const all = subscribeFrames({ address: address(), workerId: 'w-2', pool: { id: 'analysis', streams: 'all' }, reconnect: false });
    try {
      await until('the second subscription', () => fake.calls[1]?.subscribe !== undefined);
      expect(fake.calls[1].subscribe).toMatchObject({ poolId: 'analysis', poolMode: PoolMode.POOL_MODE_SHARED, streamIds: [], allStreams: true });
    } finally {
      all.close();
    }
  });

  it('grants one credit per next() and hands over frames of any of its streams', async () => {
    member = subscribeFrames({ address: address(), workerId: 'w-1', pool: { id: 'p', streams: ['cam-1', 'cam-2'] }, reconnect: false });
    const call = await firstCall();
    const first = member.next();
    await until('a credit', () => call.credits.length === 1);
    call.send(delivery('cam-2', 7, 0, 3));
    expect((await first).value).toMatchObject({ frame: { streamId: 'cam-2', sequence: 7 }, droppedSinceLast: 3 });
    const second = member.next();
    await until('a second credit', () => call.credits.length === 2);
    call.send(delivery('cam-1', 4));
    expect((await second).value?.frame).toMatchObject({ streamId: 'cam-1', sequence: 4 });
    expect(call.credits).toEqual([1, 1]);
    expect(member.stats).toMatchObject({ frames: 2, drops: 3 });
  });

  it('grants k credits for nextBatch(k) and resolves with the whole batch once batch_remaining reaches 0', async () => {
    member = subscribeFrames({ address: address(), workerId: 'w-1', pool: { id: 'p', streams: 'all' }, reconnect: false });
    const call = await firstCall();
    let resolved = false;
    const batch = member.nextBatch(4).then((r) => ((resolved = true), r));
    await until('the batch credits', () => call.credits.length === 1);
    expect(call.credits).toEqual([4]);
    call.send(delivery('cam-1', 5, 2));
    call.send(delivery('cam-2', 9, 1));
    await sleep(QUIET_MS);
    expect(resolved).toBe(false); // one more of the batch is on its way
    call.send(delivery('cam-3', 2, 0, 1));
    const { value } = await batch;
    expect(keys(value as ReceivedFrame[])).toEqual(['cam-1#5', 'cam-2#9', 'cam-3#2']);
    expect((value as ReceivedFrame[]).map((r) => r.droppedSinceLast)).toEqual([0, 0, 1]);
    expect(member.stats).toMatchObject({ frames: 3, drops: 1 });
  });

  it('holds frames that unused batch credits bring while the consumer works, the newest per stream, and starts the next batch with them', async () => {
    member = subscribeFrames({ address: address(), workerId: 'w-1', pool: { id: 'p', streams: ['cam-1', 'cam-2'] }, reconnect: false });
    const call = await firstCall();
    const first = member.nextBatch(4);
    await until('the batch credits', () => call.credits.length === 1);
    call.send(delivery('cam-1', 1)); // the pool had one frame: a batch of one, three credits stay granted
    expect(keys((await first).value as ReceivedFrame[])).toEqual(['cam-1#1']);

    // The consumer works; the pool sends each new frame as it comes against the three credits.
    call.send(delivery('cam-1', 2));
    call.send(delivery('cam-2', 1));
    call.send(delivery('cam-1', 3, 0, 0));
    await until('three frames held', () => member!.stats.replacedHere === 1);
    const second = (await member.nextBatch(4)).value as ReceivedFrame[];
    expect(keys(second).sort()).toEqual(['cam-1#3', 'cam-2#1']);
    // cam-1#2 was replaced here: a drop, reported with the newer frame of its stream.
    expect(second.find((r) => r.frame.streamId === 'cam-1')?.droppedSinceLast).toBe(1);
    expect(member.stats).toMatchObject({ frames: 3, drops: 1, replacedHere: 1 });
    await sleep(QUIET_MS);
    expect(call.credits).toEqual([4]); // nothing asked: the held frames answered the second batch

    const third = member.nextBatch(4);
    await until('the next batch credits', () => call.credits.length === 2);
    expect(call.credits).toEqual([4, 4]);
    call.send(delivery('cam-2', 2));
    expect(keys((await third).value as ReceivedFrame[])).toEqual(['cam-2#2']);
  });

  it('re-joins the pool with the same request and instance id after the supplier comes back', async () => {
    const port = fake.port;
    member = subscribeFrames({ address: address(), workerId: 'w-1', pool: { id: 'p', mode: 'sticky', streams: ['cam-1', 'cam-2'] }, reconnect: { initialMs: 20, maxMs: 200 } });
    const before = (await firstCall()).subscribe;
    fake.stop();
    const pending = member.nextBatch(2);
    await sleep(300);
    fake = await startScriptedPoolSupplier(port);
    const call = await firstCall();
    expect(call.subscribe).toEqual(before);
    expect(call.subscribe?.instanceId).toMatch(/^[0-9a-f]{32}$/);
    await until('the batch credits on the new call', () => call.credits.length === 1);
    expect(call.credits).toEqual([2]);
    call.send(delivery('cam-2', 1));
    expect(keys((await pending).value as ReceivedFrame[])).toEqual(['cam-2#1']);
    expect(member.stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('names the pool and its streams when the supplier refuses the member', async () => {
    member = subscribeFrames({ address: address(), workerId: 'w-1', pool: { id: 'p', mode: 'sticky', streams: ['cam-1', 'cam-2'] }, reconnect: false });
    const call = await firstCall();
    const pending = member.nextBatch(2).catch((e: unknown) => e);
    call.fail(grpc.status.RESOURCE_EXHAUSTED, 'pool "p" would exceed the limit of 64 pools');
    const error = (await pending) as FrameSubscriptionError;
    expect(error).toBeInstanceOf(FrameSubscriptionRefusedError);
    expect(error.message).toContain('frame subscription of worker "w-1" to pool "p" (streams cam-1, cam-2)');
    expect(error.target.pool).toEqual({ id: 'p', mode: 'sticky', streams: ['cam-1', 'cam-2'] });
  });

  it('refuses options and batch sizes that cannot work, before or without asking the supplier', async () => {
    const base = { address: address(), workerId: 'w-1', reconnect: false as const };
    expect(() => subscribeFrames({ ...base, streamId: 'cam-1', pool: { id: 'p', streams: ['cam-1'] } })).toThrow('give streamId or pool, not both');
    expect(() => subscribeFrames({ ...base, pool: { id: 'p', streams: [] } })).toThrow('pool.streams must be "all" or a non-empty list');
    expect(() => subscribeFrames({ ...base, pool: { id: '', streams: 'all' } })).toThrow('pool.id must be a non-empty string');
    expect(() => subscribeFrames({ ...base, pool: { id: 'p', mode: 'round-robin' as 'shared', streams: 'all' } })).toThrow('pool.mode must be "shared" or "sticky"');
    expect(() => subscribeFrames({ ...base, pool: { id: 'p', streams: 'all' }, mode: 'stream' })).toThrow('a pool works through Pull only');
    expect(() => subscribeFrames({ ...base })).toThrow('streamId must be a non-empty string, or join a pool');
    expect(() => subscribeFrames({ ...base, pool: { id: 'p', streams: 'all' }, maxBatchFrames: 0 })).toThrow(RangeError);

    member = subscribeFrames({ ...base, pool: { id: 'p', streams: 'all' }, maxBatchFrames: 8 });
    await expect(member.nextBatch(9)).rejects.toThrow('nextBatch(maxFrames) needs an integer 1..8 (maxBatchFrames), got 9');
    await expect(member.nextBatch(0)).rejects.toThrow(RangeError);
    const broadcast = subscribeFrames({ ...base, streamId: 'cam-1' });
    try {
      await expect(broadcast.nextBatch(2)).rejects.toThrow('nextBatch needs a pool');
    } finally {
      broadcast.close();
    }
    await sleep(QUIET_MS);
    expect(fake.calls.flatMap((c) => c.credits)).toEqual([]);
  });
});
