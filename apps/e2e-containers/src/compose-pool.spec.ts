// docker/compose.yaml as shipped: its workers are members of worker pool "analysis" of every
// stream (FW_WORKER_POOL, FW_WORKER_STREAMS=*; sticky, since the analyzers include the tracker), so
// `--scale worker=2` makes two members. One owns the camera and publishes its results, the other
// stands by (healthy); when the owner's container is killed, the other owns the camera and its
// results follow. Real images, the real compose file; the public doors only (GetStats, ResultHub,
// /api/health).
import { describeWithDocker, dockerContainer, FramewireStack, startFramewireStack } from '@framewire/containers';
import { PoolStats, ResultKind } from '@framewire/proto';
import { subscribeResults, supplierStats, waitFor } from '@framewire/testing';
import { ensureImages } from './support/clients';

const STACK_HEALTHY_BOUND_MS = 180_000;
/** A member whose container is killed leaves the supplier at once; generous for a loaded machine. */
const OWNER_MOVES_BOUND_MS = 30_000;
const RESULTS_BOUND_MS = 30_000;
const POOL = 'analysis';
const STREAM = 'cam-1';
const WORKERS = 2;

function report(what: string, ms: number): void {
  process.stderr.write(`measured: ${what}: ${ms} ms\n`);
}

async function pool(stack: FramewireStack): Promise<PoolStats | undefined> {
  return (await supplierStats(stack.supplierAddress)).pools.find((p) => p.poolId === POOL);
}

describeWithDocker('the compose stack with its default worker pool (docker/compose.yaml, real images)', () => {
  let stack: FramewireStack;
  const workerIds = new Map<string, string>();

  beforeAll(async () => {
    ensureImages();
    stack = await startFramewireStack({
      workers: WORKERS,
      // Compose's own defaults for the pool (the shared stack helper turns pools off for the
      // broadcast suites); both workers must be healthy, the one on standby too.
      variables: { FW_WORKER_POOL: POOL, FW_WORKER_POOL_MODE: '', FW_WORKER_STREAMS: '*', FW_HEALTH_MIN_WORKERS: String(WORKERS) },
      startTimeoutMs: STACK_HEALTHY_BOUND_MS,
    });
    for (let index = 1; index <= WORKERS; index++) {
      const containerId = stack.containerId('worker', index);
      const info = await (await dockerContainer(containerId)).inspect();
      workerIds.set(`worker-${info.Config.Hostname}`, containerId);
    }
  }, STACK_HEALTHY_BOUND_MS + 120_000);

  afterAll(async () => {
    await stack?.stop();
  }, 120_000);

  it('makes the scaled workers members of one sticky pool: one owns the camera, the other stands by, and takes it over when the owner is killed', async () => {
    await waitFor('both workers in the pool, the camera owned', async () => {
      const p = await pool(stack);
      return p?.members.length === WORKERS && p.streams.some((s) => s.streamId === STREAM && s.owner !== '');
    }, STACK_HEALTHY_BOUND_MS);
    const before = (await pool(stack)) as PoolStats;
    expect(before.mode).toBe('sticky');
    expect(before.members.map((m) => m.workerId).sort()).toEqual([...workerIds.keys()].sort());
    const owner = before.streams.find((s) => s.streamId === STREAM)?.owner as string;
    const standby = [...workerIds.keys()].find((id) => id !== owner) as string;
    // The standby member is healthy: /api/health 200 with both workers required.
    await stack.waitForHealth(200, RESULTS_BOUND_MS);

    const results = subscribeResults(stack.gatewayAddress, { streamId: STREAM, kinds: [ResultKind.RESULT_KIND_DETECTIONS] });
    try {
      await waitFor('results of the camera from its owner', () => results.results.length >= 10, RESULTS_BOUND_MS);
      expect(new Set(results.results.map((r) => r.workerId))).toEqual(new Set([owner]));

      const killedAt = Date.now();
      await (await dockerContainer(workerIds.get(owner) as string)).kill({ signal: 'SIGKILL' });
      await waitFor('the standby member owns the camera', async () => (await pool(stack))?.streams.find((s) => s.streamId === STREAM)?.owner === standby, OWNER_MOVES_BOUND_MS, 50);
      report('owner container killed to the standby member owning the camera', Date.now() - killedAt);
      await waitFor('results of the camera from the new owner', () => results.results.some((r) => r.workerId === standby), RESULTS_BOUND_MS);
      report('owner container killed to the first result of the new owner', Date.now() - killedAt);
      expect((await pool(stack))?.members.map((m) => m.workerId)).toEqual([standby]);
    } finally {
      results.close();
    }
  }, STACK_HEALTHY_BOUND_MS + OWNER_MOVES_BOUND_MS + RESULTS_BOUND_MS * 3);
});
