// Faults of each service in a pipeline of real processes (supplier, gateway with its archive,
// synthetic capture, two workers): SIGKILL, and separately SIGSTOP then SIGCONT, of capture,
// supplier, a worker and the gateway. While one is down or frozen the others keep running (same
// processes, bounded memory, no busy loop) and /api/health names the failing part (or, for the
// gateway, answers nothing); once it is back (restarted by the test on its ports, or continued),
// frames reach the workers and results a subscriber again without a restart of the others. After
// the gateway's kill its archive verifies and holds every result but those in flight at the kill.
// One pipeline for every case, loopback only, about two minutes.
import { readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyArchive } from '@framewire/archive';
import { Result } from '@framewire/proto';
import { cpuSeconds, http, HttpReply, replay, ResultRecorder, resultKey, residentMiB, subscribeResults, waitFor, waitForHealth } from '@framewire/testing';
import { Pipeline, sleep, startPipeline } from '../support/pipeline';

const STREAM = 'cam-faults';
const RING = `fw-faults-${process.pid}`;
const WORKERS = ['worker-1', 'worker-2'] as const;
/** The worker the worker cases hit; worker-2 keeps working meanwhile. */
const WORKER = WORKERS[0];
/** Every part is kept down or frozen at least this long, so that the others live through an outage. */
const OUTAGE_MS = 5_000;
/** Keepalive pings of every server (default 30 s): a frozen worker or capture leaves the supplier's
 *  and the gateway's pings unanswered for OUTAGE_MS, more than twice this, so its calls are cut as a
 *  dead peer's and it must reconnect once it runs again (the harsher path of a freeze). */
const KEEPALIVE_MS = 1_500;
/** Bound on /api/health naming a part that is down or frozen: its probe's deadline, the health
 *  cache and the 3 s a worker may go without a result, with room for a loaded machine. */
const NOTICE_BOUND_MS = 20_000;
/** Bound on results flowing again and on /api/health turning 200 once the part is back. */
const RECOVERY_BOUND_MS = 45_000;
/** An /api/health request to a gateway that is frozen gets no answer within this. */
const FROZEN_ANSWER_MS = 2_000;
/** Far above what a service holds in this pipeline (80-200 MiB), far below a leak over an outage. */
const RSS_BOUND_MIB = 600;
/** A busy loop takes a whole core; the services wait at a fraction of one while a part is away. */
const CPU_BOUND_CORES = 0.8;
/** Results the subscriber had this long before the gateway's kill must all be in the archive (the
 *  recorder writes within milliseconds; what it held when killed is in flight). */
const IN_FLIGHT_MS = 1_000;

type Fault = 'SIGKILL' | 'SIGSTOP';
type Part = 'capture' | 'supplier' | typeof WORKER | 'gateway';

/** The failing check that names each part on /api/health. */
const FAILING_CHECK: Record<Exclude<Part, 'gateway'>, { check: string; detail?: RegExp }> = {
  capture: { check: 'capture' },
  supplier: { check: 'supplier' },
  [WORKER]: { check: 'workers', detail: new RegExp(`unhealthy: .*${WORKER}`) },
};

interface Recovery {
  part: Part;
  fault: Fault;
  /** From the restart (or SIGCONT) to its gRPC port listening again (kills only). */
  listeningMs?: number;
  /** From the restart (or SIGCONT) to the first result of a frame captured after it at a subscriber. */
  flowingMs: number;
  /** The most CPU any other service used while the part was out, in cores. */
  othersMaxCores: number;
  /** The largest resident set of the other services at the end of the outage. */
  othersMaxRssMiB: number;
}

function failingChecks(reply: HttpReply): { name: string; detail: string }[] {
  return (reply.body?.checks ?? []).filter((c: { ok: boolean }) => !c.ok);
}

describe('adversarial: SIGKILL and SIGSTOP of each service (real processes)', () => {
  jest.setTimeout(120_000);
  let archiveDir: string;
  let pipeline: Pipeline;
  let subscriber: ResultRecorder;
  const recoveries: Recovery[] = [];
  const frozen = new Set<number>();
  const pidOf = (name: string) => pipeline.services.get(name)!.child.pid!;
  const names = () => [...pipeline.services.keys()];

  beforeAll(async () => {
    archiveDir = mkdtempSync(join(tmpdir(), 'fw-faults-'));
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: 10,
      width: 320,
      height: 240,
      archiveDir,
      workers: WORKERS,
      env: { FW_KEEPALIVE_MS: String(KEEPALIVE_MS) },
      // As npm start runs it: frames through a shared-memory ring, the workers reading it.
      appEnv: { gateway: { FW_HEALTH_EXPECTED_WORKERS: WORKERS.join(',') }, capture: { FW_CAPTURE_SHM_RING: RING } },
    });
    await waitForHealth(pipeline.httpUrl, 200, RECOVERY_BOUND_MS);
    subscriber = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM });
  }, 120_000);

  afterAll(async () => {
    // Never leave a frozen process behind.
    for (const pid of frozen) process.kill(pid, 'SIGCONT');
    subscriber?.close();
    await pipeline?.stop();
    rmSync(archiveDir, { recursive: true, force: true });
    // A killed capture cannot remove its ring; the last one stopped cleanly, but a failed run may not have.
    rmSync(`/dev/shm/${RING}`, { force: true });
    console.log(
      [
        'recovery (ms from restart or SIGCONT): part, fault, port listening, results flowing; the other services while it was out: most CPU (cores), largest RSS (MiB)',
        ...recoveries.map((r) => `${r.part} ${r.fault}: ${r.listeningMs ?? '-'} ${r.flowingMs}; ${r.othersMaxCores.toFixed(2)} ${r.othersMaxRssMiB.toFixed(0)}`),
      ].join('\n'),
    );
  }, 60_000);

  /** Waits until the subscriber has a result of a frame captured after `sinceMs` (of `workerId`
   *  when given); resolves with when it arrived. */
  async function firstResultAfter(recorder: ResultRecorder, sinceMs: number, workerId?: string): Promise<number> {
    const fresh = (r: Result) => r.captureTimeUs > sinceMs * 1000 && (workerId === undefined || r.workerId === workerId);
    await waitFor(`a result of a frame captured after the recovery${workerId ? ` from ${workerId}` : ''}`, () => recorder.results.some(fresh), RECOVERY_BOUND_MS, 20);
    return recorder.receivedTimesUs[recorder.results.findIndex(fresh)] / 1000;
  }

  /** Puts `part` down (SIGKILL) or freezes it (SIGSTOP) for at least OUTAGE_MS and until /api/health
   *  shows it, checking the others meanwhile; then brings it back and measures the recovery. */
  async function outage(part: Part, fault: Fault, whileOut: () => Promise<void>): Promise<Recovery> {
    await waitForHealth(pipeline.httpUrl, 200, RECOVERY_BOUND_MS);
    const others = names().filter((n) => n !== part);
    const pids = Object.fromEntries(others.map((n) => [n, pidOf(n)]));
    const pid = pidOf(part);
    const cpuBefore = Object.fromEntries(others.map((n) => [n, cpuSeconds(pids[n])]));
    const outAt = Date.now();
    if (fault === 'SIGKILL') {
      await pipeline.stopService(part, 'SIGKILL');
    } else {
      process.kill(pid, 'SIGSTOP');
      frozen.add(pid);
    }
    await whileOut();
    const left = OUTAGE_MS - (Date.now() - outAt);
    if (left > 0) await sleep(left);

    // The others lived through it: same processes, bounded memory, no busy loop.
    const outSeconds = (Date.now() - outAt) / 1000;
    let busiest = 0;
    let largestRss = 0;
    for (const n of others) {
      const service = pipeline.services.get(n)!;
      expect({ n, pid: service.child.pid, exitCode: service.child.exitCode }).toEqual({ n, pid: pids[n], exitCode: null });
      const rss = residentMiB(pids[n]);
      largestRss = Math.max(largestRss, rss);
      expect({ n, rssBelowBound: rss < RSS_BOUND_MIB }).toEqual({ n, rssBelowBound: true });
      const cores = (cpuSeconds(pids[n]) - cpuBefore[n]) / outSeconds;
      busiest = Math.max(busiest, cores);
      expect({ n, busy: cores >= CPU_BOUND_CORES }).toEqual({ n, busy: false });
    }

    const backAt = Date.now();
    let listeningMs: number | undefined;
    if (fault === 'SIGKILL') {
      await pipeline.restartService(part);
      listeningMs = Date.now() - backAt;
    } else {
      process.kill(pid, 'SIGCONT');
      frozen.delete(pid);
    }
    if (part === 'gateway' && fault === 'SIGKILL') {
      subscriber.close();
      subscriber = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM });
    }
    const flowingAt = await firstResultAfter(subscriber, backAt, part === WORKER ? WORKER : undefined);
    // Nobody else was restarted to get there.
    for (const n of others) expect({ n, pid: pidOf(n) }).toEqual({ n, pid: pids[n] });
    await waitForHealth(pipeline.httpUrl, 200, RECOVERY_BOUND_MS);
    const recovery = { part, fault, listeningMs, flowingMs: Math.round(flowingAt - backAt), othersMaxCores: busiest, othersMaxRssMiB: largestRss };
    recoveries.push(recovery);
    return recovery;
  }

  /** While `part` is out: /api/health answers 503 naming it. */
  const healthNames = (part: Exclude<Part, 'gateway'>) => async () => {
    const { check, detail } = FAILING_CHECK[part];
    let last: HttpReply | undefined;
    await waitFor(
      `/api/health 503 with a failing ${check} check${detail ? ` matching ${detail}` : ''}`,
      async () => {
        last = await http(`${pipeline.httpUrl}/api/health`);
        return last.status === 503 && failingChecks(last).some((c) => c.name === check && (detail === undefined || detail.test(c.detail)));
      },
      NOTICE_BOUND_MS,
      200,
    );
  };

  const PARTS = [WORKER, 'capture', 'supplier'] as const;
  const FAULTS: Fault[] = ['SIGKILL', 'SIGSTOP'];

  it.each(PARTS.flatMap((part) => FAULTS.map((fault) => [part, fault] as const)))(
    '%s %s: the others run on, /api/health names it, and results flow again once it is back',
    async (part, fault) => {
      const recovery = await outage(part, fault, healthNames(part));
      expect(recovery.flowingMs).toBeGreaterThan(0);
    },
  );

  it('gateway SIGSTOP: /api/health answers nothing while it is frozen, the workers run on, and its subscriber gets fresh results after SIGCONT', async () => {
    await outage('gateway', 'SIGSTOP', async () => {
      await expect(fetch(`${pipeline.httpUrl}/api/health`, { signal: AbortSignal.timeout(FROZEN_ANSWER_MS) })).rejects.toThrow();
    });
    expect(subscriber.error).toBeUndefined();
  });

  it('gateway SIGKILL: nothing answers while it is down; restarted, it takes results again, and its archive verifies with every result but those in flight', async () => {
    const before = subscriber;
    let killedAtUs = 0;
    await outage('gateway', 'SIGKILL', async () => {
      killedAtUs = Date.now() * 1000;
      await expect(fetch(`${pipeline.httpUrl}/api/health`, { signal: AbortSignal.timeout(FROZEN_ANSWER_MS) })).rejects.toThrow();
    });
    // Every segment reads to its end: no corruption; at most a torn last frame where the kill cut an append.
    const segments = readdirSync(archiveDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.bin'));
    expect(segments.length).toBeGreaterThan(0);
    const reports = await Promise.all(segments.map((f) => verifyArchive(join(archiveDir, f))));
    expect(reports.filter((r) => r.corruption !== undefined).map((r) => ({ path: r.path, corruption: r.corruption }))).toEqual([]);
    console.log(`archive after the kill: ${reports.length} segments, ${reports.reduce((n, r) => n + r.frames, 0)} results, ${reports.filter((r) => r.tornTail).length} torn tails`);
    // What the subscriber had well before the kill is all on disk.
    // Capture's restart began its sequences again: the capture time tells its frames apart.
    const identity = (r: Result) => `${resultKey(r)}@${r.captureTimeUs}`;
    const recorded = new Set((await replay(pipeline.gatewayAddress, { streamId: STREAM })).map(identity));
    const settled = before.results.filter((_, i) => before.receivedTimesUs[i] < killedAtUs - IN_FLIGHT_MS * 1000);
    expect(settled.length).toBeGreaterThan(0);
    expect(settled.map(identity).filter((key) => !recorded.has(key))).toEqual([]);
  });
});
