// Hostile input to worker identity, against real processes (supplier, gateway, synthetic capture,
// worker-1; no token, so anyone on loopback may Pull): a stranger who Pulls as "worker-1" cannot
// silence the real worker-1, a worker whose id was taken while it was frozen gets it back once the
// taker falls silent, and /api/health and the worker's own health tell the truth throughout.
// Bounded: a few Pull calls and about 40 s of a 10 fps pipeline on loopback.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHealth, http, HttpReply, openPull, subscribeResults, supplierStats, waitFor, waitForHealth } from '@framewire/testing';
import { Pipeline, sleep, startPipeline } from '../support/pipeline';

const STREAM = 'cam-identity';
const WORKER = 'worker-1';
/** The supplier's holder silence bound in this suite (default 10 s), and the refusal window of
 *  /api/health (default 15 s): short, so that the suite stays short. */
const HOLDER_SILENCE_MS = 2_000;
const REFUSALS_RECENT_MS = 3_000;
/** A worker subscribes again within 5 s (its capped backoff); with the silence bound and the
 *  refusal window, the pipeline is back within this. */
const RECOVERY_MS = 25_000;
/** A refusal comes at once; a stranger still subscribed after this was accepted. */
const ANSWER_MS = 5_000;

function workersCheck(reply: HttpReply): { ok: boolean; detail: string } {
  return reply.body.checks.find((c: { name: string }) => c.name === 'workers');
}

/** Waits until /api/health answers 503 with a workers check whose detail matches `pattern` (the
 *  gateway reuses an observation for FW_HEALTH_CACHE_MS, 1 s); returns that detail. */
async function waitForFailingWorkers(httpUrl: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  let detail = '';
  await waitFor(
    `/api/health 503 with a workers check matching ${pattern}`,
    async () => {
      const reply = await http(`${httpUrl}/api/health`);
      detail = reply.status === 503 ? workersCheck(reply).detail : '';
      return pattern.test(detail);
    },
    timeoutMs,
    200,
  );
  return detail;
}

describe('adversarial: worker identity (real processes)', () => {
  let archiveDir: string;
  let pipeline: Pipeline;
  const supplier = () => pipeline.supplierAddress;
  const workerPid = () => pipeline.services.get(WORKER)?.child.pid as number;

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-identity-'));
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: 10,
      width: 320,
      height: 240,
      archiveDir,
      workers: [WORKER],
      appEnv: {
        supplier: { FW_SUPPLIER_HOLDER_SILENCE_MS: String(HOLDER_SILENCE_MS) },
        gateway: { FW_HEALTH_EXPECTED_WORKERS: WORKER, FW_HEALTH_REFUSALS_MS: String(REFUSALS_RECENT_MS) },
      },
    });
    await waitForHealth(pipeline.httpUrl, 200, 30_000);
  }, 90_000);

  afterAll(async () => {
    // Never leave a frozen process behind.
    if (pipeline?.services.get(WORKER)?.child.exitCode === null) process.kill(workerPid(), 'SIGCONT');
    await pipeline?.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it('refuses a stranger who Pulls as worker-1 while worker-1 keeps taking frames and publishing; /api/health names the refusal, then recovers', async () => {
    const delivered = async () => (await supplierStats(supplier())).workers.find((w) => w.workerId === WORKER)?.framesDelivered ?? 0;
    const before = await delivered();
    const results = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM, workerId: WORKER });
    try {
      const stranger = openPull(supplier(), { workerId: WORKER, streamId: STREAM, instanceId: 'a-stranger' }, { keepTaking: true });
      const refused = await Promise.race([stranger.ended, sleep(ANSWER_MS).then(() => ({ code: grpc.status.OK, details: `no refusal within ${ANSWER_MS} ms; ${stranger.deliveries.length} frames delivered to the stranger` }))]);
      stranger.close();
      expect(refused.code).toBe(grpc.status.ALREADY_EXISTS);
      expect(refused.details).toContain(`worker_id "${WORKER}" is held by another live instance`);
      expect(stranger.deliveries).toEqual([]);

      // /api/health tells: the id is claimed twice, although worker-1 itself is fine.
      await waitForFailingWorkers(
        pipeline.httpUrl,
        /^healthy: worker-1 \(.*publishing\); refused: worker-1 \(id in use by another live instance: 1 refused, the last [\d.]+ s ago from 127\.0\.0\.1\)$/,
      );

      // worker-1 carries on: it takes frames and its results reach the gateway.
      const resultsAtRefusal = results.results.length;
      await waitFor('worker-1 to take more frames and publish more results', async () => (await delivered()) > before + 10 && results.results.length > resultsAtRefusal + 10, 15_000);
      expect(await checkHealth(pipeline.ports.workers[WORKER])).toBe('SERVING');
      const stats = await supplierStats(supplier());
      expect(stats.workers.filter((w) => w.workerId === WORKER)).toHaveLength(1);
      expect(stats.refused.find((r) => r.workerId === WORKER)).toMatchObject({ count: 1, caller: '127.0.0.1', streamId: STREAM });

      // Past the refusal window, all is well again.
      const recovered = await waitForHealth(pipeline.httpUrl, 200, RECOVERY_MS);
      expect(workersCheck(recovered).detail).toBe('healthy: worker-1 (commands attached, publishing)');
    } finally {
      results.close();
    }
  }, 60_000);

  it('gives worker-1 its id back after a stranger took it while worker-1 was frozen and then fell silent; both healths say so meanwhile', async () => {
    const workerPort = pipeline.ports.workers[WORKER];
    // Frozen: its Pull call stays open (half-open, as after a network failure) but takes nothing.
    process.kill(workerPid(), 'SIGSTOP');
    let stranger;
    try {
      await sleep(HOLDER_SILENCE_MS + 1_000);
      stranger = openPull(supplier(), { workerId: WORKER, streamId: STREAM, instanceId: 'a-stranger' }, { keepTaking: true });
      await waitFor('the stranger to receive frames as worker-1', () => stranger!.deliveries.length > 3, 10_000);
      // The stranger takes worker-1's frames and publishes nothing: /api/health says worker-1 stopped producing.
      await waitForFailingWorkers(pipeline.httpUrl, /unhealthy: worker-1 \(takes frames but published no result/, 15_000);
    } finally {
      process.kill(workerPid(), 'SIGCONT');
    }
    // Thawed, worker-1 learns its subscription was taken over, is refused while the stranger is
    // live, and reports NOT_SERVING meanwhile.
    await waitFor('worker-1 to report NOT_SERVING', async () => (await checkHealth(workerPort)) === 'NOT_SERVING', 15_000, 100);
    await waitForFailingWorkers(pipeline.httpUrl, /refused: worker-1 \(id in use by another live instance/);

    // The stranger falls silent (its call stays open): worker-1 gets its id back within the bound.
    stranger.keepTaking = false;
    const resultsAfter = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM, workerId: WORKER });
    try {
      await waitFor('worker-1 to serve again', async () => (await checkHealth(workerPort)) === 'SERVING', RECOVERY_MS, 100);
      await waitFor('worker-1 results again', () => resultsAfter.results.length > 10, 15_000);
      const taken = await stranger.ended;
      expect(taken.code).toBe(grpc.status.ABORTED);
      expect(taken.details).toContain(`worker "${WORKER}" was taken over by another instance`);
      await waitForHealth(pipeline.httpUrl, 200, RECOVERY_MS);
    } finally {
      resultsAfter.close();
      stranger.close();
    }
    const log = pipeline.services.get(WORKER)?.output.join('\n') ?? '';
    expect(log).toContain('another instance took this worker id at the supplier; subscribing again');
    expect(log).toContain('frames flow again');
  }, 90_000);
});
