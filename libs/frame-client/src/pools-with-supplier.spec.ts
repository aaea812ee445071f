// subscribeFrames pool members against the real supplier (apps/supplier from dist/, a child process
// on loopback): members of a shared pool divide a stream's frames, nextBatch receives the newest
// frame of each stream at once, a member re-joins its pool after the supplier restarts, and shared
// memory references of several streams' rings reach a member as bytes read here.
import * as grpc from '@grpc/grpc-js';
import { Frame, FrameSupplierClient, PixelFormat, PoolStats, PublishRequest } from '@framewire/proto';
import { FrameRingWriter } from '@framewire/shm';
import { ServiceProcess, findFreePort, startServiceProcess, stopServiceProcess, supplierStats, waitFor } from '@framewire/testing';
import { FrameSubscription, ReceivedFrame, subscribeFrames } from './index';

/** A bound on what must happen (never a speed). */
const WAIT_MS = 15_000;
const SHM_SLOTS = 8;

let supplier: ServiceProcess;
let port: number;
const open: { close(): void }[] = [];

const address = () => `127.0.0.1:${port}`;

function frame(streamId: string, sequence: number): Frame {
  return { streamId, sequence, captureTimeUs: Date.now() * 1000, width: 4, height: 4, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8, sizeBytes: 16, data: Buffer.alloc(16, sequence % 256) };
}

/** A Publish call on the supplier that writes the frames it is given. */
function openPublisher(): (f: Frame) => void {
  const client = new FrameSupplierClient(address(), grpc.credentials.createInsecure());
  const call: grpc.ClientWritableStream<PublishRequest> = client.publish(() => undefined);
  call.on('error', () => undefined);
  open.push({ close: () => (call.cancel(), client.close()) });
  return (f) => void call.write({ frame: f });
}

function member(workerId: string, pool: Parameters<typeof subscribeFrames>[0]['pool'], extra: Partial<Parameters<typeof subscribeFrames>[0]> = {}): FrameSubscription {
  const subscription = subscribeFrames({ address: address(), workerId, pool, reconnect: { initialMs: 50, maxMs: 500 }, ...extra });
  open.push(subscription);
  return subscription;
}

async function poolStats(poolId: string): Promise<PoolStats | undefined> {
  return (await supplierStats(address())).pools.find((p) => p.poolId === poolId);
}

const startSupplier = () => startServiceProcess('supplier', { FW_GRPC_PORT: String(port), FW_SUPPLIER_MAX_POOL_CREDITS: '8', FW_SHUTDOWN_TIMEOUT_MS: '2000' });

beforeAll(async () => {
  port = await findFreePort();
  supplier = await startSupplier();
}, 30_000);

afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

afterAll(async () => {
  if (supplier) await stopServiceProcess(supplier);
});

jest.setTimeout(60_000);

it('members of a shared pool divide the frames of a stream: each frame reaches one of them', async () => {
  const members = ['div-a', 'div-b'].map((id) => member(id, { id: 'divide', streams: ['cam-div'] }));
  const taken: ReceivedFrame[][] = [[], []];
  const stop = new AbortController();
  const loops = members.map(async (m, i) => {
    for (;;) {
      const next = await m.next();
      if (next.done) return;
      taken[i].push(next.value);
      // "Analysis" takes a while, so the other member gets its turn.
      await new Promise((r) => setTimeout(r, 20));
      if (stop.signal.aborted) return;
    }
  });
  await waitFor('two members in pool "divide"', async () => (await poolStats('divide'))?.members.length === 2, WAIT_MS);
  const publish = openPublisher();
  let sequence = 0;
  await waitFor(
    'frames taken by both members',
    async () => {
      for (let i = 0; i < 5; i++) publish(frame('cam-div', ++sequence));
      return taken[0].length >= 5 && taken[1].length >= 5;
    },
    WAIT_MS,
    20,
  );
  stop.abort();
  for (const m of members) m.close();
  await Promise.all(loops);
  const all = [...taken[0], ...taken[1]].map((r) => r.frame.sequence);
  expect(new Set(all).size).toBe(all.length);
  // Drops are the pool's: between two frames of the stream (to any member), those in between.
  const sorted = [...taken[0], ...taken[1]].sort((x, y) => x.frame.sequence - y.frame.sequence);
  expect(sorted.reduce((sum, r) => sum + r.droppedSinceLast, 0)).toBe(sorted.at(-1)!.frame.sequence - sorted.length);
});

it('nextBatch receives the newest frame of each of its streams at once', async () => {
  const m = member('batch-a', { id: 'batches', mode: 'sticky', streams: ['cam-b1', 'cam-b2', 'cam-b3'] });
  await waitFor('the member in pool "batches"', async () => (await poolStats('batches'))?.members.length === 1, WAIT_MS);
  const publish = openPublisher();
  for (const streamId of ['cam-b1', 'cam-b2', 'cam-b3']) for (let sequence = 1; sequence <= 3; sequence++) publish(frame(streamId, sequence));
  await waitFor('3 frames of each stream at the pool', async () => (await poolStats('batches'))?.streams.every((s) => s.published === 3) === true, WAIT_MS);
  const batch = (await m.nextBatch(5)).value as ReceivedFrame[];
  expect(batch.map((r) => `${r.frame.streamId}#${r.frame.sequence}`).sort()).toEqual(['cam-b1#3', 'cam-b2#3', 'cam-b3#3']);
  expect(batch.map((r) => r.droppedSinceLast)).toEqual([2, 2, 2]);
  expect(m.stats).toMatchObject({ frames: 3, drops: 6 });
  // Two credits stay granted: the next frame comes alone and starts the next batch.
  publish(frame('cam-b2', 4));
  expect(((await m.nextBatch(5)).value as ReceivedFrame[]).map((r) => `${r.frame.streamId}#${r.frame.sequence}`)).toEqual(['cam-b2#4']);
});

it('re-joins its pool, with its streams, when the supplier restarts on its port', async () => {
  const m = member('rejoin-a', { id: 'rejoin', mode: 'sticky', streams: ['cam-r1', 'cam-r2'] });
  await waitFor('the member in pool "rejoin"', async () => (await poolStats('rejoin'))?.members.length === 1, WAIT_MS);
  expect(await stopServiceProcess(supplier)).toMatchObject({ code: 0 });
  const pending = m.next();
  supplier = await startSupplier();
  await waitFor('the member back in pool "rejoin"', async () => (await poolStats('rejoin').catch(() => undefined))?.members[0]?.workerId === 'rejoin-a', WAIT_MS);
  expect((await poolStats('rejoin'))?.members[0]).toMatchObject({ streamIds: ['cam-r1', 'cam-r2'], ownedStreams: 2 });
  openPublisher()(frame('cam-r2', 1));
  expect((await pending).value?.frame).toMatchObject({ streamId: 'cam-r2', sequence: 1 });
  expect(m.stats.reconnects).toBeGreaterThanOrEqual(1);
});

it('reads the shared-memory references of each of its streams from that stream’s ring', async () => {
  const rings = ['cam-m1', 'cam-m2', 'cam-m3'].map((streamId) => ({
    streamId,
    writer: FrameRingWriter.create({ name: `fw-pool-client-${streamId}-${process.pid}`, slotCount: SHM_SLOTS, slotBytes: 4096 }),
  }));
  open.push({ close: () => rings.forEach((r) => r.writer.close()) });
  const publish = openPublisher();
  let sequence = 0;
  const publishRefs = (payload: (streamId: string) => number) => {
    sequence++;
    for (const { streamId, writer } of rings) {
      const meta = { streamId, sequence, captureTimeUs: Date.now() * 1000, width: 4, height: 4, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8 };
      const ref = writer.write(meta, Buffer.alloc(64, payload(streamId)));
      publish({ ...meta, sizeBytes: ref.length, shmRef: { ringName: ref.ringName, slot: ref.slot, slotSequence: ref.slotSequence, crc32: ref.crc32 } });
    }
  };
  const fill = (streamId: string) => Number(streamId.at(-1));
  // The supplier learns the rings from references published before the member lists them.
  publishRefs(fill);
  await waitFor('the three rings listed', async () => (await supplierStats(address())).streams.filter((s) => s.streamId.startsWith('cam-m')).length === 3, WAIT_MS);
  const m = member('shm-a', { id: 'shm', streams: ['cam-m1', 'cam-m2'] }, { preferSharedMemory: true });
  await waitFor('the member in pool "shm"', async () => (await poolStats('shm'))?.members.length === 1, WAIT_MS);
  expect(m.stats.ringsProven).toBe(2); // its two streams' rings, not cam-m3's
  const received = new Map<string, ReceivedFrame>();
  await waitFor(
    'a frame of each stream',
    async () => {
      publishRefs(fill);
      const batch = (await m.nextBatch(2)).value as ReceivedFrame[];
      for (const r of batch) received.set(r.frame.streamId, r);
      return received.size === 2;
    },
    WAIT_MS,
    10,
  );
  expect([...received.keys()].sort()).toEqual(['cam-m1', 'cam-m2']);
  for (const [streamId, r] of received) expect(r.frame.data).toEqual(Buffer.alloc(64, fill(streamId)));
  expect(m.stats.sharedMemoryFrames).toBe(m.stats.frames);
  expect((await supplierStats(address())).workers.find((w) => w.workerId === 'shm-a')).toMatchObject({ poolId: 'shm', sharedMemory: true });
});
