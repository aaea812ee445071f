// /api/health and /api/stats with a worker pool, every part a real process: supplier, gateway,
// capture and two worker processes in one sticky pool of one camera. One owns the stream and
// publishes results; the other owns nothing and waits with its credit: it is on standby, and the
// pipeline is healthy with both workers expected. No time bounds in the assertions: the waits are
// bounds on a hang.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PoolStats } from '@framewire/proto';
import { http, supplierStats, waitFor } from '@framewire/testing';
import { Pipeline, startPipeline } from './support/pipeline';

const POOL = 'standby-pool';
const STREAM = 'cam-standby';
const WORKERS = ['pool-h1', 'pool-h2'] as const;
/** Bound on the pipeline settling (never a speed). */
const SETTLE_MS = 90_000;

interface HealthBody {
  checks: { name: string; ok: boolean; detail: string }[];
}

describe('a sticky pool with more members than streams', () => {
  jest.setTimeout(180_000);
  let pipeline: Pipeline;
  let archiveDir: string;

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-pool-health-'));
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: 10,
      width: 320,
      height: 240,
      archiveDir,
      workers: WORKERS,
      appEnv: { worker: { FW_WORKER_POOL: POOL, FW_WORKER_POOL_MODE: 'sticky' }, gateway: { FW_HEALTH_EXPECTED_WORKERS: WORKERS.join(','), FW_HEALTH_MIN_WORKERS: '2' } },
    });
  }, SETTLE_MS);

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  it('is healthy: the owner publishes, the other member is on standby; /api/stats shows the pool as GetStats does', async () => {
    const pool = async (): Promise<PoolStats | undefined> => (await supplierStats(pipeline.supplierAddress)).pools.find((p) => p.poolId === POOL);
    await waitFor('the pool to own its stream', async () => ((await pool())?.streams[0]?.owner ?? '') !== '', SETTLE_MS);
    const owner = ((await pool()) as PoolStats).streams[0].owner;
    const standby = WORKERS.find((w) => w !== owner);
    let workers: HealthBody['checks'][number] | undefined;
    await waitFor(
      'the workers check to pass',
      async () => {
        const body = (await http(`${pipeline.httpUrl}/api/health`)).body as HealthBody;
        workers = body.checks.find((c) => c.name === 'workers');
        return workers?.ok === true;
      },
      SETTLE_MS,
      500,
    );
    expect(workers?.detail).toMatch(new RegExp(`^healthy: .*${owner} \\(commands attached, publishing\\)`));
    expect(workers?.detail).toContain(`${standby} (standby in pool "${POOL}": owns no stream, 1 credit waiting, no frame for it in `);

    const stats = (await http(`${pipeline.httpUrl}/api/stats`)).body as { supplier: { pools: PoolStats[] } };
    const shown = stats.supplier.pools.find((p) => p.poolId === POOL);
    expect(shown).toMatchObject({ mode: 'sticky', streams: [{ streamId: STREAM, owner, members: 2 }] });
    expect(Object.fromEntries(shown?.members.map((m) => [m.workerId, m.ownedStreams]) ?? [])).toEqual({ [owner]: 1, [standby as string]: 0 });
    expect(shown?.streams[0].taken).toBeGreaterThan(0);
  });
});
