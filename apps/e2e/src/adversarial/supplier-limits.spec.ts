// Hostile input to the supplier's limits, against real processes on loopback: ring names a
// publisher makes up (too many, or no shared-memory names at all), malformed ring tokens, one
// caller taking many worker slots, and a client holding every slot open to it while workers restart
// — a reserved worker still gets in, and /api/health names a known worker that is kept out.
// Bounded: at most 2,000 small frames and 20 Pull calls per test.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Frame, FrameSupplierClient, PixelFormat, PublishRequest } from '@framewire/proto';
import {
  checkHealth,
  http,
  openPull,
  PullClient,
  ServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  subscribeResults,
  supplierStats,
  waitFor,
  waitForHealth,
} from '@framewire/testing';
import { Pipeline, startPipeline } from '../support/pipeline';

/** The supplier's bound on the rings one stream names (libs/supplier MAX_RINGS_PER_STREAM). */
const RINGS_PER_STREAM = 8;
/** Its default per-caller limit (DEFAULT_MAX_WORKERS_PER_CALLER). */
const WORKERS_PER_CALLER = 16;
/** A ring token is the ring's 128-bit identity as 32 lowercase hex digits. */
const TOKEN = '00112233445566778899aabbccddeeff';

function refFrame(streamId: string, sequence: number, ringName: string): Frame {
  return {
    streamId,
    sequence,
    captureTimeUs: Date.now() * 1000,
    width: 8,
    height: 8,
    pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8,
    sizeBytes: 64,
    shmRef: { ringName, slot: 0, slotSequence: 2, crc32: 0 },
  };
}

/** One Publish call that writes `frames` and ends; resolves with how it ended. */
function publishAll(supplierAddress: string, frames: Frame[]): Promise<grpc.StatusObject> {
  const client = new FrameSupplierClient(supplierAddress, grpc.credentials.createInsecure());
  return new Promise<grpc.StatusObject>((resolve) => {
    const call = client.publish(() => undefined);
    call.on('status', resolve);
    for (const frame of frames) call.write({ frame } as PublishRequest);
    call.end();
  }).finally(() => client.close());
}

/** Opens Pull calls as `<prefix>-0`, `<prefix>-1`, ... (holding their slots, taking nothing) until
 *  the supplier refuses one; returns the accepted calls and the refusal. */
async function takeEverySlot(supplierAddress: string, streamId: string, prefix: string, held: PullClient[]): Promise<grpc.StatusObject> {
  for (let i = held.length; ; i++) {
    const workerId = `${prefix}-${i}`;
    const pull = openPull(supplierAddress, { workerId, streamId }, { credits: 0 });
    let ended: grpc.StatusObject | undefined;
    void pull.ended.then((status) => (ended = status));
    await waitFor(`${workerId} to be accepted or refused`, async () => ended !== undefined || (await supplierStats(supplierAddress)).workers.some((w) => w.workerId === workerId), 10_000);
    if (ended !== undefined) {
      pull.close();
      return ended;
    }
    held.push(pull);
  }
}

describe('adversarial: supplier limits (real processes)', () => {
  describe('a supplier on its own', () => {
    let supplier: ServiceProcess;
    const address = () => `127.0.0.1:${supplier.port}`;

    beforeAll(async () => {
      supplier = await startServiceProcess('supplier', { FW_SUPPLIER_MAX_WORKERS: '64' }, { listeners: ['gRPC', 'metrics'] });
    });

    afterAll(async () => {
      if (supplier) await stopServiceProcess(supplier);
    });

    it('refuses a publisher naming a ninth ring of one stream, and ListRings lists 8 however many names came', async () => {
      // A worker keeps the stream alive between publishers, as on a real pipeline.
      const worker = openPull(address(), { workerId: 'ring-watcher', streamId: 'cam-rings' }, { credits: 0 });
      try {
        const frames = Array.from({ length: 2_000 }, (_, i) => refFrame('cam-rings', i + 1, `made-up-${i}`));
        const ended = await publishAll(address(), frames);
        expect(ended.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
        expect(ended.details).toBe(
          `frame.shm_ref.ring_name "made-up-${RINGS_PER_STREAM}" would be ring ${RINGS_PER_STREAM + 1} of stream "cam-rings" (at most ${RINGS_PER_STREAM}; a name unused for 60000 ms is forgotten)`,
        );
        // A publisher that reconnects after each refusal gets no further.
        for (let i = 0; i < 20; i++) expect((await publishAll(address(), [refFrame('cam-rings', 1, `again-${i}`)])).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
        const client = new FrameSupplierClient(address(), grpc.credentials.createInsecure());
        const rings = await new Promise<{ ringName: string }[]>((resolve, reject) =>
          client.listRings({ streamId: 'cam-rings' }, (err, reply) => (err ? reject(err) : resolve(reply.rings))),
        ).finally(() => client.close());
        expect(rings).toHaveLength(RINGS_PER_STREAM);
      } finally {
        worker.close();
      }
    });

    it.each(['..', '.', 'a/b', '../../etc/passwd'])('refuses the ring name %j with INVALID_ARGUMENT naming frame.shm_ref.ring_name', async (ringName) => {
      const ended = await publishAll(address(), [refFrame('cam-names', 1, ringName)]);
      expect(ended.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(ended.details).toContain('frame.shm_ref.ring_name');
      expect(ended.details).toContain('is not a ring name');
    });

    it('refuses a malformed ring token with INVALID_ARGUMENT naming shm_ring_tokens, without repeating it', async () => {
      for (const bad of [TOKEN.toUpperCase(), TOKEN.slice(2), 'not-a-token']) {
        const pull = openPull(address(), { workerId: 'token-worker', streamId: 'cam-tokens', preferSharedMemory: true, shmRingTokens: [TOKEN, bad] });
        const ended = await pull.ended;
        pull.close();
        expect(ended.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(ended.details).toContain('shm_ring_tokens[1] is not a ring token');
        expect(ended.details).not.toContain(bad);
      }
    });

    it(`lets one caller hold at most ${WORKERS_PER_CALLER} subscriptions, counting the refusal`, async () => {
      const held: PullClient[] = [];
      try {
        const refused = await takeEverySlot(address(), 'cam-hog', 'hog', held);
        expect(held).toHaveLength(WORKERS_PER_CALLER);
        expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
        expect(refused.details).toBe(`worker "hog-${WORKERS_PER_CALLER}" would exceed the limit of ${WORKERS_PER_CALLER} workers per caller (127.0.0.1 holds ${WORKERS_PER_CALLER})`);
        const text = await (await fetch(`http://127.0.0.1:${supplier.ports.metrics}/metrics`)).text();
        expect(text).toContain(`framewire_supplier_subscriptions_refused_total{worker="hog-${WORKERS_PER_CALLER}",reason="caller-limit"} 1`);
      } finally {
        for (const pull of held) pull.close();
      }
    });
  });

  describe('a pipeline whose worker slots a client takes', () => {
    const STREAM = 'cam-slots';
    /** 8 slots, 2 reserved (worker-1, worker-2): 6 for worker-3 and everyone else. */
    const MAX_WORKERS = 8;
    let archiveDir: string;
    let pipeline: Pipeline;
    const hog: PullClient[] = [];

    beforeAll(async () => {
      archiveDir = mkdtempSync(join(tmpdir(), 'fw-slots-'));
      pipeline = await startPipeline({
        streamId: STREAM,
        fps: 10,
        width: 320,
        height: 240,
        archiveDir,
        workers: ['worker-1', 'worker-2', 'worker-3'],
        appEnv: {
          // One caller (everything here is 127.0.0.1) may take every slot open to it.
          supplier: { FW_SUPPLIER_MAX_WORKERS: String(MAX_WORKERS), FW_SUPPLIER_RESERVED_WORKERS: 'worker-1,worker-2', FW_SUPPLIER_MAX_WORKERS_PER_CALLER: String(MAX_WORKERS) },
          gateway: { FW_HEALTH_REFUSALS_MS: '3000' },
        },
      });
      await waitForHealth(pipeline.httpUrl, 200, 30_000);
    }, 90_000);

    afterAll(async () => {
      for (const pull of hog) pull.close();
      await pipeline?.stop();
      rmSync(archiveDir, { recursive: true, force: true });
    }, 60_000);

    /** Kills `id` (SIGKILL) and waits until the supplier has let its subscription go. */
    async function killWorker(id: string): Promise<void> {
      await pipeline.stopService(id, 'SIGKILL');
      await waitFor(`the supplier to drop ${id}`, async () => !(await supplierStats(pipeline.supplierAddress)).workers.some((w) => w.workerId === id), 10_000);
    }

    it('lets a restarted reserved worker in although a client took every slot open to it (and the one it left)', async () => {
      const refused = await takeEverySlot(pipeline.supplierAddress, STREAM, 'hog', hog);
      expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      await killWorker('worker-1');
      // The slot worker-1 left is reserved: the client cannot take it.
      expect((await takeEverySlot(pipeline.supplierAddress, STREAM, 'hog', hog)).details).toContain('workers that are not reserved');
      await pipeline.startWorker('worker-1');
      const results = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM, workerId: 'worker-1' });
      try {
        await waitFor('results of the restarted worker-1', () => results.results.length > 5, 30_000);
      } finally {
        results.close();
      }
      const health = await waitForHealth(pipeline.httpUrl, 200, 30_000);
      expect(health.body.checks.find((c: { name: string }) => c.name === 'workers').detail).toMatch(/healthy: .*worker-1 \(commands attached, publishing\)/);
    }, 90_000);

    it('names a known worker kept out of its slot in /api/health, and the worker reports NOT_SERVING until a slot is free', async () => {
      await killWorker('worker-3');
      await takeEverySlot(pipeline.supplierAddress, STREAM, 'hog', hog);
      await pipeline.startWorker('worker-3');
      const workerPort = pipeline.ports.workers['worker-3'];
      await waitFor(
        '/api/health to name worker-3 as refused',
        async () => {
          const reply = await http(`${pipeline.httpUrl}/api/health`);
          const detail: string = reply.body.checks?.find((c: { name: string }) => c.name === 'workers')?.detail ?? '';
          return reply.status === 503 && /refused: worker-3 \(worker limit: \d+ refused, the last [\d.]+ s ago from 127\.0\.0\.1\)/.test(detail);
        },
        20_000,
        250,
      );
      await waitFor('worker-3 to report NOT_SERVING', async () => (await checkHealth(workerPort)) === 'NOT_SERVING', 15_000, 100);
      // The client lets one slot go: worker-3 takes it at its next attempt (within 5 s).
      hog.pop()?.close();
      await waitFor('worker-3 to serve again', async () => (await checkHealth(workerPort)) === 'SERVING', 20_000, 100);
      await waitForHealth(pipeline.httpUrl, 200, 30_000);
    }, 90_000);
  });
});
