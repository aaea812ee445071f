// The shared-memory fast path end to end, with the real services as child processes: capture
// writes frames into a ring and publishes references; the supplier hands references to the worker
// that proved the ring and bytes (read once per frame) to the others.
import * as grpc from '@grpc/grpc-js';
import { existsSync } from 'node:fs';
import { Delivery, PullRequest, PullResponse, SubscribeRequest } from '@framewire/proto';
import { FrameSubscription, subscribeFrames } from '@framewire/frame-client';
import { ServiceProcess, startServiceProcess, stopServiceProcess } from '@framewire/testing';
import { CALL_TIMEOUT_MS, supplierStats, waitFor } from '@framewire/testing';
import { recordFrames, supplierClient } from './support/frame-path';

const STREAM = 'cam-shm-e2e';
const RING = `fw-e2e-${process.pid}`;
const RECONNECT = { initialMs: 50, maxMs: 500 };

/** The first delivery a raw Pull call receives for `request`. */
function firstPullDelivery(port: number, request: { workerId: string; preferSharedMemory: boolean; shmRingTokens: string[] }): Promise<Delivery> {
  const client = supplierClient(port);
  return new Promise<Delivery>((resolve, reject) => {
    const call: grpc.ClientDuplexStream<PullRequest, PullResponse> = client.pull(new grpc.Metadata(), { deadline: Date.now() + 3 * CALL_TIMEOUT_MS });
    call.on('data', (r: PullResponse) => {
      if (r.delivery) resolve(r.delivery);
      call.cancel();
    });
    call.on('error', (err) => reject(err));
    call.write({ subscribe: SubscribeRequest.fromPartial({ streamId: STREAM, ...request }) });
    call.write({ credits: 1 });
  }).finally(() => client.close());
}

describe('shared-memory path: capture → supplier → workers on one host', () => {
  let supplier: ServiceProcess;
  let capture: ServiceProcess;
  const subscriptions: FrameSubscription[] = [];

  beforeAll(async () => {
    supplier = await startServiceProcess('supplier', { FW_METRICS_PORT: '0' }, { listeners: ['gRPC'] });
    capture = await startServiceProcess('capture', {
      FW_METRICS_PORT: '0',
      FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplier.port}`,
      FW_STREAM_ID: STREAM,
      FW_CAPTURE_SOURCE: 'synthetic',
      FW_CAPTURE_FPS: '20',
      FW_CAPTURE_WIDTH: '320',
      FW_CAPTURE_HEIGHT: '240',
      FW_CAPTURE_SHM_RING: RING,
    });
  }, 30_000);
  afterAll(async () => {
    for (const s of subscriptions) s.close();
    await stopServiceProcess(capture);
    await stopServiceProcess(supplier);
  }, 20_000);

  it('lists the ring, gives references to the worker that proved it and the same bytes to a worker that did not', async () => {
    await waitFor('the ring to be listed', async () => (await listRings(supplier.port)).length > 0, 10_000);
    expect(await listRings(supplier.port)).toEqual([{ ringName: RING, streamId: STREAM }]);
    const shmSub = subscribeFrames({ address: `127.0.0.1:${supplier.port}`, workerId: 'shm-1', streamId: STREAM, preferSharedMemory: true, reconnect: RECONNECT });
    const bytesSub = subscribeFrames({ address: `127.0.0.1:${supplier.port}`, workerId: 'bytes-1', streamId: STREAM, reconnect: RECONNECT });
    subscriptions.push(shmSub, bytesSub);
    const shm = recordFrames(shmSub);
    const bytes = recordFrames(bytesSub);
    const common = () => {
      const bySequence = new Map(bytes.frames.map((f) => [f.frame.sequence, f]));
      return shm.frames.filter((f) => bySequence.has(f.frame.sequence)).map((f) => [f, bySequence.get(f.frame.sequence)!] as const);  
    };
    await waitFor('frames of the same sequence at both workers', () => common().length >= 5, 15_000);
    for (const [viaShm, viaBytes] of common()) {
      expect(viaShm.frame.shmRef).toBeUndefined(); // resolved by the frame client
      expect(Buffer.compare(viaShm.frame.data!, viaBytes.frame.data!)).toBe(0);  
      expect(viaShm.frame.sizeBytes).toBe(viaBytes.frame.data?.length);
    }
    expect(shmSub.stats.ringsProven).toBe(1);
    expect(shmSub.stats.sharedMemoryFrames).toBe(shm.frames.length);
    expect(bytesSub.stats.sharedMemoryFrames).toBe(0);
    const stats = await supplierStats(`127.0.0.1:${supplier.port}`);
    expect(stats.workers.find((w) => w.workerId === 'shm-1')?.sharedMemory).toBe(true);
    expect(stats.workers.find((w) => w.workerId === 'bytes-1')?.sharedMemory).toBe(false);
    expect(shm.error).toBeUndefined();
    expect(bytes.error).toBeUndefined();
  }, 30_000);

  it('gives bytes to a worker that asks for shared memory with a wrong token', async () => {
    const delivery = await firstPullDelivery(supplier.port, { workerId: 'liar-1', preferSharedMemory: true, shmRingTokens: ['00112233445566778899aabbccddeeff'] });
    expect(delivery.frame?.shmRef).toBeUndefined();
    expect(delivery.frame?.data?.length).toBe(delivery.frame?.sizeBytes);
    expect(delivery.frame?.sizeBytes).toBeGreaterThan(0);
  }, 20_000);

  it('leaves no shared-memory object behind when capture stops', async () => {
    expect(existsSync(`/dev/shm/${RING}`)).toBe(true);
    const { code } = await stopServiceProcess(capture);
    expect(code).toBe(0);
    expect(existsSync(`/dev/shm/${RING}`)).toBe(false);
  }, 20_000);
});

async function listRings(port: number): Promise<{ ringName: string; streamId: string }[]> {
  const client = supplierClient(port);
  try {
    const reply = await new Promise<{ rings: { ringName: string; streamId: string }[] }>((resolve, reject) =>
      client.listRings({ streamId: STREAM }, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    return reply.rings;
  } finally {
    client.close();
  }
}
