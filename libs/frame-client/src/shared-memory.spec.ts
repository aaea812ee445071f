// subscribeFrames with preferSharedMemory against a real frame ring and a tiny gRPC supplier on
// loopback that lists the ring and answers each credit with the next queued delivery.
import * as grpc from '@grpc/grpc-js';
import { Delivery, FrameSupplierServer, FrameSupplierService, PixelFormat, PullRequest, PullResponse, SubscribeRequest } from '@framewire/proto';
import { FrameRingWriter } from '@framewire/shm';
import { subscribeFrames } from './index';

const RING = `fw-test-client-${process.pid}`;
const SLOTS = 4;

interface ScriptedSupplier {
  port: number;
  requests: SubscribeRequest[];
  /** Deliveries sent one per credit, in order. */
  queue: Delivery[];
  stop(): void;
}

async function startScriptedSupplier(ringNames: string[]): Promise<ScriptedSupplier> {
  const server = new grpc.Server();
  const fake: ScriptedSupplier = { port: 0, requests: [], queue: [], stop: () => server.forceShutdown() };
  const implementation: Partial<FrameSupplierServer> = {
    listRings: (call, callback) => callback(null, { rings: ringNames.map((ringName) => ({ ringName, streamId: call.request.streamId })) }),
    pull(call: grpc.ServerDuplexStream<PullRequest, PullResponse>) {
      call.on('data', (r: PullRequest) => {
        if (r.subscribe) fake.requests.push(r.subscribe);
        for (let i = 0; i < (r.credits ?? 0); i++) {
          const delivery = fake.queue.shift();
          if (delivery) call.write({ delivery });
        }
      });
      call.on('error', () => undefined);
    },
  };
  server.addService(FrameSupplierService, implementation as FrameSupplierServer);
  fake.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return fake;
}

function refDelivery(ring: FrameRingWriter, sequence: number, bytes: Buffer): Delivery {
  const meta = { streamId: 'cam-1', sequence, captureTimeUs: Date.now() * 1000, width: 4, height: 4, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8 };
  const ref = ring.write(meta, bytes);
  return {
    frame: { ...meta, sizeBytes: ref.length, shmRef: { ringName: ref.ringName, slot: ref.slot, slotSequence: ref.slotSequence, crc32: ref.crc32 } },
    droppedSinceLast: 0,
    sentTimeUs: Date.now() * 1000,
    poolId: '',
    batchRemaining: 0,
  };
}

describe('subscribeFrames with shared memory', () => {
  let ring: FrameRingWriter;
  let supplier: ScriptedSupplier | undefined;
  beforeEach(() => {
    ring = FrameRingWriter.create({ name: RING, slotCount: SLOTS, slotBytes: 4096 });
  });
  afterEach(() => {
    supplier?.stop();
    ring.close();
  });

  it('proves the listed ring with its token and hands the consumer frames with their bytes read from it', async () => {
    supplier = await startScriptedSupplier([RING]);
    supplier.queue.push(refDelivery(ring, 1, Buffer.alloc(1000, 7)), refDelivery(ring, 2, Buffer.alloc(2000, 8)));
    const frames = subscribeFrames({ address: `127.0.0.1:${supplier.port}`, workerId: 'w', streamId: 'cam-1', preferSharedMemory: true, reconnect: false });
    try {
      const first = (await frames.next()).value;
      const second = (await frames.next()).value;
      expect(supplier.requests[0]).toMatchObject({ preferSharedMemory: true, shmRingTokens: [ring.token] });
      expect(first.frame.shmRef).toBeUndefined();
      expect(first.frame.data).toEqual(Buffer.alloc(1000, 7));
      expect(second.frame.data).toEqual(Buffer.alloc(2000, 8));
      expect(frames.stats).toMatchObject({ frames: 2, sharedMemoryFrames: 2, sharedMemoryDrops: 0, ringsProven: 1 });
      // A copy stays the frame's even after its slot is rewritten.
      for (let seq = 3; seq <= SLOTS + 2; seq++) ring.write({ streamId: 'cam-1', sequence: seq, captureTimeUs: 1, width: 4, height: 4, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8 }, Buffer.alloc(1000, 0));
      expect(first.stillValid()).toBe(true);
      expect(first.frame.data).toEqual(Buffer.alloc(1000, 7));
    } finally {
      frames.close();
    }
  });

  it("with sharedMemoryAccess 'view' hands over the bytes in place, and counts a frame whose slot was rewritten meanwhile as a drop", async () => {
    supplier = await startScriptedSupplier([RING]);
    supplier.queue.push(refDelivery(ring, 1, Buffer.alloc(1000, 7)));
    const frames = subscribeFrames({ address: `127.0.0.1:${supplier.port}`, workerId: 'w', streamId: 'cam-1', preferSharedMemory: true, sharedMemoryAccess: 'view', reconnect: false });
    try {
      const first = (await frames.next()).value;
      const view = first.frame.data as Buffer;
      expect(view).toEqual(Buffer.alloc(1000, 7));
      // Not a copy: the Buffer lies inside the ring's mapping (header + slots), larger than the frame.
      expect(view.buffer.byteLength).toBeGreaterThan(SLOTS * 4096);
      expect(first.stillValid()).toBe(true);
      // The writer laps the ring while the worker still holds the view.
      for (let seq = 2; seq <= SLOTS + 1; seq++) refDelivery(ring, seq, Buffer.alloc(1000, seq));
      expect(view).not.toEqual(Buffer.alloc(1000, 7));
      expect(first.stillValid()).toBe(false);
      expect(first.stillValid()).toBe(false);
      expect(frames.stats).toMatchObject({ frames: 1, drops: 1, sharedMemoryFrames: 1, sharedMemoryDrops: 1 });
      supplier.queue.push(refDelivery(ring, SLOTS + 2, Buffer.alloc(1000, 9)));
      const second = (await frames.next()).value;
      expect(second.frame.data).toEqual(Buffer.alloc(1000, 9));
      expect(second.droppedSinceLast).toBe(1);
      expect(second.stillValid()).toBe(true);
      expect(frames.stats).toMatchObject({ frames: 2, drops: 1, sharedMemoryDrops: 1 });
    } finally {
      frames.close();
    }
  });

  it('refuses an unknown sharedMemoryAccess', () => {
    expect(() => subscribeFrames({ address: '127.0.0.1:1', workerId: 'w', streamId: 'cam-1', sharedMemoryAccess: 'mmap' as 'view' })).toThrow(TypeError);
  });

  it('skips a reference whose slot was overwritten, counting a drop, and asks for the next frame', async () => {
    supplier = await startScriptedSupplier([RING]);
    const lapped = refDelivery(ring, 1, Buffer.alloc(100, 1));
    for (let seq = 2; seq <= SLOTS + 1; seq++) refDelivery(ring, seq, Buffer.alloc(100, seq)); // laps slot of frame 1
    supplier.queue.push(lapped, refDelivery(ring, SLOTS + 2, Buffer.alloc(100, 9)));
    const frames = subscribeFrames({ address: `127.0.0.1:${supplier.port}`, workerId: 'w', streamId: 'cam-1', preferSharedMemory: true, reconnect: false });
    try {
      const received = (await frames.next()).value;
      expect(received.frame.sequence).toBe(SLOTS + 2);
      expect(received.frame.data).toEqual(Buffer.alloc(100, 9));
      expect(received.droppedSinceLast).toBe(1);
      expect(frames.stats).toMatchObject({ frames: 1, drops: 1, sharedMemoryDrops: 1 });
    } finally {
      frames.close();
    }
  });

  it('proves nothing for a ring it cannot open, and still subscribes (the supplier then sends bytes)', async () => {
    supplier = await startScriptedSupplier(['fw-test-no-such-ring']);
    supplier.queue.push({ frame: { streamId: 'cam-1', sequence: 1, captureTimeUs: 1, width: 1, height: 1, pixelFormat: 5, sizeBytes: 1, data: Buffer.of(3) }, droppedSinceLast: 0, sentTimeUs: 1, poolId: '', batchRemaining: 0 });
    const frames = subscribeFrames({ address: `127.0.0.1:${supplier.port}`, workerId: 'w', streamId: 'cam-1', preferSharedMemory: true, reconnect: false });
    try {
      expect((await frames.next()).value.frame.data).toEqual(Buffer.of(3));
      expect(supplier.requests[0]).toMatchObject({ preferSharedMemory: true, shmRingTokens: [] });
      expect(frames.stats.ringsProven).toBe(0);
    } finally {
      frames.close();
    }
  });
});
