// A worker pool end to end, every part a real process: supplier, gateway, three synthetic cameras
// and three workers in one sticky pool of all streams (FW_WORKER_POOL, FW_WORKER_STREAMS=*). Each
// stream has one owner and its results reach the gateway; a worker SIGKILLed loses its streams to
// the two others (GetStats), and results of every stream keep arriving, from the members left.
// No time bounds in the assertions: the waits are generous bounds on a hang.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PoolStats, ResultKind } from '@framewire/proto';
import { ResultRecorder, ServiceProcess, startServiceProcess, stopServiceProcess, subscribeResults, supplierStats, waitFor } from '@framewire/testing';
import { Pipeline, startPipeline } from './support/pipeline';

const POOL = 'analysis';
const WORKERS = ['pool-w1', 'pool-w2', 'pool-w3'] as const;
/** The pipeline's own camera, and two more (compose.second-camera does the same in containers). */
const STREAMS = ['cam-pool-1', 'cam-pool-2', 'cam-pool-3'] as const;
const FPS = 10;
/** Bound on the pipeline settling, and on what must follow the kill (never a speed). */
const SETTLE_MS = 90_000;

describe('a sticky worker pool of three workers over three cameras', () => {
  jest.setTimeout(240_000);
  let pipeline: Pipeline;
  const cameras: ServiceProcess[] = [];
  let results: ResultRecorder;
  let archiveDir: string;

  const pool = async (): Promise<PoolStats | undefined> => (await supplierStats(pipeline.supplierAddress)).pools.find((p) => p.poolId === POOL);
  const owners = async (): Promise<Record<string, string>> => Object.fromEntries(((await pool())?.streams ?? []).map((s) => [s.streamId, s.owner]));

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-worker-pool-'));
    pipeline = await startPipeline({
      streamId: STREAMS[0],
      fps: FPS,
      width: 320,
      height: 240,
      archiveDir,
      workers: WORKERS,
      appEnv: { worker: { FW_WORKER_POOL: POOL, FW_WORKER_STREAMS: '*' } },
    });
    for (const [i, streamId] of STREAMS.slice(1).entries()) {
      cameras.push(
        await startServiceProcess('capture', {
          FW_SUPPLIER_ADDRESS: pipeline.supplierAddress,
          FW_GATEWAY_ADDRESS: pipeline.gatewayAddress,
          FW_SERVICE_ID: `capture-${streamId}`,
          FW_STREAM_ID: streamId,
          FW_CAPTURE_SOURCE: 'synthetic',
          FW_CAPTURE_FPS: String(FPS),
          FW_CAPTURE_WIDTH: '320',
          FW_CAPTURE_HEIGHT: '240',
          FW_CAPTURE_SEED: String(i + 2),
        }),
      );
    }
    results = subscribeResults(pipeline.gatewayAddress, { kinds: [ResultKind.RESULT_KIND_TRACKS] });
  }, SETTLE_MS);

  afterAll(async () => {
    results?.close();
    for (const c of cameras) await stopServiceProcess(c);
    await pipeline?.stop();
    rmSync(archiveDir, { recursive: true, force: true });
  }, 60_000);

  /** Waits until results of every stream, published after `sinceUs`, came from members in `from`. */
  const resultsOfEveryStream = (sinceUs: number, from: readonly string[]) =>
    waitFor(
      `results of ${STREAMS.join(', ')} from ${from.join(', ')}`,
      () => STREAMS.every((s) => results.results.some((r) => r.streamId === s && r.publishedTimeUs > sinceUs && from.includes(r.workerId))),
      SETTLE_MS,
    );

  it('gives each stream one owner, one stream per member, and the results of every stream reach the gateway', async () => {
    await waitFor(
      'three members owning one stream each',
      async () => {
        const stats = await pool();
        return stats?.members.length === 3 && STREAMS.every((s) => stats.streams.some((p) => p.streamId === s && p.owner !== '')) && stats.members.every((m) => m.ownedStreams === 1);
      },
      SETTLE_MS,
      250,
    );
    const stats = (await pool()) as PoolStats;
    expect(stats.mode).toBe('sticky');
    expect(stats.members.map((m) => ({ workerId: m.workerId, allStreams: m.allStreams })).sort((a, b) => a.workerId.localeCompare(b.workerId))).toEqual(WORKERS.map((workerId) => ({ workerId, allStreams: true })));
    const owner = await owners();
    const settledAtUs = Date.now() * 1000;
    await resultsOfEveryStream(settledAtUs, WORKERS);
    // A stream's frames captured since go to its owner only: each frame analysed by one member.
    const since = results.results.filter((r) => r.captureTimeUs > settledAtUs);
    for (const r of since) expect({ stream: r.streamId, worker: r.workerId }).toEqual({ stream: r.streamId, worker: owner[r.streamId] });
  });

  it('moves the streams of a SIGKILLed member to the others, and results of every stream keep arriving', async () => {
    const before = await owners();
    const victim = before[STREAMS[1]];
    const survivors = WORKERS.filter((w) => w !== victim);
    const moved = Object.entries(before).filter(([, o]) => o === victim).map(([s]) => s);
    const killedAtUs = Date.now() * 1000;
    await pipeline.stopService(victim, 'SIGKILL');

    await waitFor(
      `the streams of ${victim} owned by ${survivors.join(' or ')}`,
      async () => {
        const stats = await pool();
        return stats?.members.length === 2 && STREAMS.every((s) => survivors.includes(stats.streams.find((p) => p.streamId === s)?.owner as (typeof WORKERS)[number]));
      },
      SETTLE_MS,
      100,
    );
    const after = await owners();
    // Only the victim's streams moved; the others kept their owners.
    for (const s of STREAMS) if (!moved.includes(s)) expect({ stream: s, owner: after[s] }).toEqual({ stream: s, owner: before[s] });
    expect((await pool())?.ownershipChanges).toBeGreaterThanOrEqual(STREAMS.length + moved.length);

    await resultsOfEveryStream(killedAtUs, survivors);
    for (const s of moved) {
      await waitFor(`results of ${s} from its new owner ${after[s]}`, () => results.results.some((r) => r.streamId === s && r.workerId === after[s] && r.publishedTimeUs > killedAtUs), SETTLE_MS);
    }
    expect(results.error).toBeUndefined();
  });
});
