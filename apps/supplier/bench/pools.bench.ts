// Worker pools (issue 16, "Proof"), measured against the real supplier process over gRPC, with pool
// members as raw Pull clients (one credit, granted again when the member's "analyzer" is done) and a
// publisher at the stated rates:
// 1. scaling: one stream at 30 fps, members whose analyzer is a 100 ms timer (no CPU), shared pools
//    of 1, 2, 4 and 8 members beside the same members without a pool (broadcast, the anchor).
//    Goals: analysed frames/s ≥ 0.90 × min(10 × members, 30); age p99 ≤ one frame interval + transfer.
// 2. fairness: 16 streams at 15 fps, one member of all streams taking 40 frames/s (25 ms timer).
//    Goals: each stream's analysed rate within ±10 % of the mean; none starved in any 1 s window.
// 3. sticky rebalance: 3 members (child processes) in a sticky pool of 6 streams at 15 fps; one is
//    SIGKILLed and the time until its streams have new owners is measured. Goal: < 1 s.
// The members of 1 and 2 live in this process: they cost no CPU (timers), so on 2 cores they keep the
// cores for the supplier and the publisher; this process's event-loop delay is reported to show that
// they did not wait on each other. The members of 3 are processes, so that the kill is a real
// connection loss.
// Run: node tools/build.mjs && FW_BENCH_RUNS=3 node --expose-gc dist/apps/supplier/bench/pools.bench.js
import * as grpc from '@grpc/grpc-js';
import { ChildProcess, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_RUNS, formatNumber, median, percentile, writeSection } from '@framewire/bench';
import { Delivery, FrameSupplierClient, PixelFormat, PoolMode, PoolStats, PublishRequest, PullRequest, PullResponse, SubscribeRequest, SupplierStats } from '@framewire/proto';
import { CALL_TIMEOUT_MS, peakResidentMiB, residentMiB, startServiceProcess, stopServiceProcess, waitFor } from '@framewire/testing';

const RUNS = DEFAULT_RUNS;
/** 256 × 256 GRAY8: 64 KiB a frame, as the frame-path benchmark's freshness case. */
const FRAME_SIDE = 256;
/** The supplier's limits, raised so that the anchor's members and a run's leftovers never hit them. */
const SUPPLIER_ENV = { FW_SUPPLIER_MAX_WORKERS_PER_CALLER: '64', FW_SUPPLIER_MAX_STREAMS: '64' };
/** Each member its own connection, as separate worker processes would have (grpc-js would share one). */
const CHANNEL_OPTIONS = { 'grpc.use_local_subchannel_pool': 1 };
/** Members join and settle into their rhythm before a window is measured. */
const WARM_UP_MS = 600;
/** Time for closed calls to leave the supplier before the next case. */
const SETTLE_MS = 200;

const SCALING_FPS = 30;
const SCALING_ANALYZE_MS = 100;
const SCALING_MEMBERS = [1, 2, 4, 8];
const SCALING_WINDOW_MS = 2_500;
/** What one member can analyse per second, and the share of the ideal rate the goal asks for. */
const MEMBER_FPS = 1000 / SCALING_ANALYZE_MS;
const RATE_GOAL = 0.9;
/** The age goal's transfer allowance counts both hops (publisher → supplier, supplier → member),
 *  alike on loopback, as the frame-path benchmark does. */
const HOPS = 2;
/** A frame whose successor was written more than this many frame intervals after it stayed the
 *  newest that long: its age says the publisher was late, not the pool. */
const LATE_PUBLISH_INTERVALS = 1.5;

const FAIR_STREAMS = 16;
const FAIR_FPS = 15;
const FAIR_ANALYZE_MS = 25;
const FAIR_WINDOW_MS = 4_000;
/** The width of the windows in which every stream must be analysed at least once. */
const STARVATION_WINDOW_MS = 1_000;
const FAIRNESS_GOAL = 0.1;

const STICKY_STREAMS = 6;
const STICKY_MEMBERS = 3;
const STICKY_FPS = 15;
/** Fast enough for the three streams a survivor owns after a kill (up to 50 frames/s for 45). */
const STICKY_ANALYZE_MS = 20;
const REBALANCE_GOAL_MS = 1_000;
/** How long a run waits for what must happen (a hang, reported, never a figure). */
const WAIT_MS = 10_000;
const STATS_POLL_MS = 5;

const nowUs = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

// ---------------------------------------------------------------------------------------------
// The parts: publisher, member, stats.

/** Publishes a 64 KiB frame of each stream at `fps`, one Publish call per stream (as one capture per
 *  camera), the streams' schedules spread evenly over a frame interval; drift-free. */
function startPublishers(address: string, streamIds: readonly string[], fps: number, onPublish?: (streamId: string, sequence: number, captureUs: number) => void): { stop: () => Promise<void> } {
  const client = new FrameSupplierClient(address, grpc.credentials.createInsecure());
  const data = Buffer.alloc(FRAME_SIDE * FRAME_SIDE, 0x80);
  const intervalMs = 1000 / fps;
  let stopped = false;
  const started = performance.now();
  const loops = streamIds.map(async (streamId, i) => {
    const call: grpc.ClientWritableStream<PublishRequest> = client.publish(() => undefined);
    call.on('error', () => undefined);
    const phaseMs = (i * intervalMs) / streamIds.length;
    await sleep(phaseMs);
    for (let sequence = 1; !stopped; sequence++) {
      const captureTimeUs = nowUs();
      onPublish?.(streamId, sequence, captureTimeUs);
      call.write({
        frame: { streamId, sequence, captureTimeUs, width: FRAME_SIDE, height: FRAME_SIDE, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8, sizeBytes: data.length, data },
      });
      await sleep(Math.max(0, started + phaseMs + sequence * intervalMs - performance.now()));
    }
    call.end();
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      client.close();
    },
  };
}

/** What a member records of each frame it receives (not the bytes). */
interface Received {
  member: number;
  streamId: string;
  sequence: number;
  captureUs: number;
  sentUs: number;
  receivedUs: number;
  /** When the credit this frame answered was granted. */
  grantedUs: number;
}

type OnFrame = (d: Delivery, receivedUs: number, grantedUs: number) => void;

/** A raw Pull member: grants one credit, and one more `analyzeMs` after each frame (a timer, no CPU).
 *  `onFrame` also gets when the credit this frame answers was granted (one credit at a time). */
function startMember(address: string, subscribe: Partial<SubscribeRequest>, analyzeMs: number, onFrame: OnFrame): { close(): void } {
  const client = new FrameSupplierClient(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const call: grpc.ClientDuplexStream<PullRequest, PullResponse> = client.pull();
  let closed = false;
  let grantedUs = 0;
  const grant = () => {
    grantedUs = nowUs();
    call.write({ credits: 1 });
  };
  call.on('error', () => undefined);
  call.on('data', (response: PullResponse) => {
    const receivedUs = nowUs();
    if (response.delivery?.frame === undefined) return;
    onFrame(response.delivery, receivedUs, grantedUs);
    setTimeout(() => closed || grant(), analyzeMs);
  });
  call.write({ subscribe: SubscribeRequest.fromPartial(subscribe) });
  grant();
  return {
    close: () => {
      closed = true;
      call.cancel();
      client.close();
    },
  };
}

/** The supplier process of one part, and one client that polls its GetStats (a client per poll
 *  would open a connection each time, work for the supplier that the figures would include). */
interface Supplier {
  address: string;
  stats: FrameSupplierClient;
  /** Stops the process; resolves with a sentence on its peak RSS, and its RSS once it had started. */
  stop(): Promise<string>;
}

async function startSupplier(): Promise<Supplier> {
  const service = await startServiceProcess('supplier', SUPPLIER_ENV);
  const address = `127.0.0.1:${service.port}`;
  const stats = new FrameSupplierClient(address, grpc.credentials.createInsecure());
  const startedMiB = residentMiB(service.child.pid as number);
  return {
    address,
    stats,
    stop: async () => {
      stats.close();
      const peakMiB = peakResidentMiB(service.child.pid as number);
      await stopServiceProcess(service);
      return `Supplier peak RSS ${peakMiB.toFixed(0)} MiB (${startedMiB.toFixed(0)} MiB once started).`;
    },
  };
}

async function poolStats(supplier: Supplier, poolId: string): Promise<PoolStats | undefined> {
  const reply = await new Promise<{ stats?: SupplierStats }>((resolve, reject) =>
    supplier.stats.getStats({}, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, r) => (err ? reject(err) : resolve(r))),
  );
  return reply.stats?.pools.find((p) => p.poolId === poolId);
}

/** Waits for what must happen; polls every `pollMs` (waitFor's default when not given). */
const until = (what: string, condition: () => boolean | Promise<boolean>, pollMs?: number) => waitFor(what, condition, WAIT_MS, pollMs);

/** Where a member's time per frame beyond its analyzer's timer goes, in ms (means over the frames):
 *  the timer firing late (this process's event loop), the credit's way to the supplier until it
 *  sends the next frame (including any wait for a frame), the frame's way back. */
interface CycleCost {
  timerLateMs: number;
  creditToSendMs: number;
  transferMs: number;
}

function cycleCost(frames: readonly Received[], analyzeMs: number): { cycle: CycleCost } {
  const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const byMember = new Map<number, Received[]>();
  for (const f of frames) byMember.set(f.member, [...(byMember.get(f.member) ?? []), f]);
  const late = [...byMember.values()].flatMap((own) => own.slice(1).map((f, i) => (f.grantedUs - own[i].receivedUs) / 1000 - analyzeMs));
  return {
    cycle: {
      timerLateMs: mean(late),
      creditToSendMs: mean(frames.map((f) => (f.sentUs - f.grantedUs) / 1000)),
      transferMs: mean(frames.map((f) => (f.receivedUs - f.sentUs) / 1000)),
    },
  };
}

const cycleText = (costs: readonly CycleCost[]) =>
  `timer late ${ms(median(costs.map((c) => c.timerLateMs)))} ms + credit to send ${ms(median(costs.map((c) => c.creditToSendMs)))} ms + transfer ${ms(median(costs.map((c) => c.transferMs)))} ms`;

const q = (values: readonly number[], p: number) => percentile([...values].sort((a, b) => a - b), p);
const ms = (n: number) => (Number.isFinite(n) ? formatNumber(n) : '–');
const met = (ok: boolean) => (ok ? 'met' : '**NOT met**');

// ---------------------------------------------------------------------------------------------
// 1. Scaling.

interface ScalingRun {
  seconds: number;
  /** What the pool's members and the broadcast members received in the window. */
  pool: Received[];
  broadcast: Received[];
  /** The supplier's taken / published for the pool's stream over the window, and taken per second. */
  coverage: number;
  supplierTakenPerSec: number;
  supplierAgeP50: number;
  supplierAgeP99: number;
  /** Time between two frames the publisher wrote in the window (ms). */
  publishGaps: number[];
}

async function scalingRun(supplier: Supplier, streamId: string, captures: ReadonlyMap<number, number>, members: number, run: number): Promise<ScalingRun> {
  const poolId = `scale-${members}-${run}`;
  let recording = false;
  const pool: Received[] = [];
  const broadcast: Received[] = [];
  const record = (into: Received[], member: number): OnFrame => (d, receivedUs, grantedUs) => {
    if (recording && d.frame) into.push({ member, streamId: d.frame.streamId, sequence: d.frame.sequence, captureUs: d.frame.captureTimeUs, sentUs: d.sentTimeUs, receivedUs, grantedUs });
  };
  const clients = [
    ...Array.from({ length: members }, (_, i) => startMember(supplier.address, { workerId: `${poolId}-m${i}`, poolId, streamId }, SCALING_ANALYZE_MS, record(pool, i))),
    ...Array.from({ length: members }, (_, i) => startMember(supplier.address, { workerId: `${poolId}-b${i}`, streamId }, SCALING_ANALYZE_MS, record(broadcast, i))),
  ];
  try {
    await until(`${members} members in pool ${poolId}`, async () => (await poolStats(supplier, poolId))?.members.length === members);
    await sleep(WARM_UP_MS);
    const before = (await poolStats(supplier, poolId))?.streams[0];
    recording = true;
    const t0Us = nowUs();
    await sleep(SCALING_WINDOW_MS);
    recording = false;
    const t1Us = nowUs();
    const after = (await poolStats(supplier, poolId))?.streams[0];
    if (!before || !after) throw new Error(`pools bench: pool ${poolId} has no stream ${streamId}`);
    const written = [...captures.values()].filter((us) => us >= t0Us && us <= t1Us);
    return {
      seconds: (t1Us - t0Us) / 1e6,
      pool,
      broadcast,
      coverage: (after.taken - before.taken) / Math.max(1, after.published - before.published),
      supplierTakenPerSec: (after.taken - before.taken) / ((t1Us - t0Us) / 1e6),
      supplierAgeP50: after.ageP50Us / 1000,
      supplierAgeP99: after.ageP99Us / 1000,
      publishGaps: written.slice(1).map((us, i) => (us - written[i]) / 1000),
    };
  } finally {
    for (const c of clients) c.close();
    await sleep(SETTLE_MS);
  }
}

/** Why the frames older than `goalMs` were: the publisher late with the next frame (it came more
 *  than LATE_PUBLISH_INTERVALS frame intervals after), a transfer longer than a frame interval, or
 *  neither (the frame waited at the supplier). */
function overGoal(frames: readonly Received[], captures: ReadonlyMap<number, number>, goalMs: number): string {
  const intervalUs = 1e6 / SCALING_FPS;
  const over = frames.filter((d) => d.receivedUs - d.captureUs > goalMs * 1000);
  const latePublisher = over.filter((d) => (captures.get(d.sequence + 1) ?? Number.POSITIVE_INFINITY) - d.captureUs > LATE_PUBLISH_INTERVALS * intervalUs);
  const slowTransfer = over.filter((d) => !latePublisher.includes(d) && d.receivedUs - d.sentUs > intervalUs);
  const rest = over.length - latePublisher.length - slowTransfer.length;
  return `${over.length} of ${frames.length} frames older than the goal: ${latePublisher.length} while the publisher was late, ${slowTransfer.length} slow in transfer, ${rest} late between capture and the supplier's send (the publish hop or the supplier)`;
}

async function scaling(): Promise<string> {
  const supplier = await startSupplier();
  const streamId = 'scale';
  const captures = new Map<number, number>();
  const publisher = startPublishers(supplier.address, [streamId], SCALING_FPS, (_, sequence, captureUs) => captures.set(sequence, captureUs));
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const runs = new Map<number, ScalingRun[]>(SCALING_MEMBERS.map((m) => [m, []]));
  try {
    for (let run = 0; run < RUNS; run++) {
      for (const members of SCALING_MEMBERS) runs.get(members)?.push(await scalingRun(supplier, streamId, captures, members, run));
    }
  } finally {
    loopDelay.disable();
    await publisher.stop();
  }
  const rss = await supplier.stop();

  const rateRows: string[] = [];
  const ageRows: string[] = [];
  const verdicts: string[] = [];
  for (const members of SCALING_MEMBERS) {
    const r = runs.get(members) as ScalingRun[];
    const m = (pick: (x: ScalingRun) => number) => median(r.map(pick));
    const poolRate = m((x) => x.pool.length / x.seconds);
    const perMember = (x: ScalingRun) => Array.from({ length: members }, (_, i) => x.pool.filter((d) => d.member === i).length / x.seconds);
    const broadcastDistinct = m((x) => new Set(x.broadcast.map((d) => d.sequence)).size / x.seconds);
    const ideal = Math.min(MEMBER_FPS * members, SCALING_FPS);
    const rateRatio = poolRate / ideal;
    const all = r.flatMap((x) => x.pool);
    const ages = all.map((d) => (d.receivedUs - d.captureUs) / 1000);
    const transferP99 = q(all.map((d) => (d.receivedUs - d.sentUs) / 1000), 0.99);
    const gaps = r.flatMap((x) => x.publishGaps);
    const ageGoal = 1000 / SCALING_FPS + HOPS * transferP99;
    const broadcastAges = r.flatMap((x) => x.broadcast).map((d) => (d.receivedUs - d.captureUs) / 1000);
    rateRows.push(
      `| ${members} | ${formatNumber(poolRate)} | ${formatNumber(m((x) => Math.min(...perMember(x))))} – ${formatNumber(m((x) => Math.max(...perMember(x))))} | ${formatNumber(m((x) => x.supplierTakenPerSec))} (${m((x) => x.coverage).toFixed(2)}) | ${formatNumber(ideal)} | **${rateRatio.toFixed(3)}** | ${formatNumber(broadcastDistinct)} | ${formatNumber(m((x) => x.broadcast.length / x.seconds))} | ${(poolRate / broadcastDistinct).toFixed(2)} | ${ms(m((x) => cycleCost(x.pool, SCALING_ANALYZE_MS).cycle.timerLateMs))} / ${ms(m((x) => cycleCost(x.pool, SCALING_ANALYZE_MS).cycle.creditToSendMs))} / ${ms(m((x) => cycleCost(x.pool, SCALING_ANALYZE_MS).cycle.transferMs))} |`,
    );
    ageRows.push(
      `| ${members} | ${all.length} | ${ms(q(ages, 0.5))} / ${ms(q(ages, 0.99))} | ${ms(m((x) => x.supplierAgeP50))} / ${ms(m((x) => x.supplierAgeP99))} | ${ms(transferP99)} | ${ms(q(gaps, 0.99))} / ${ms(Math.max(...gaps))} | ${ms(ageGoal)} | **${(q(ages, 0.99) / ageGoal).toFixed(2)}** | ${ms(q(broadcastAges, 0.5))} / ${ms(q(broadcastAges, 0.99))} |`,
    );
    verdicts.push(`${members}: rate ${met(rateRatio >= RATE_GOAL)}, age ${met(q(ages, 0.99) <= ageGoal)} (${overGoal(all, captures, ageGoal)})`);
  }
  return [
    `### Scaling: one stream at ${SCALING_FPS} fps, members at ${SCALING_ANALYZE_MS} ms a frame (a timer)`,
    '',
    `A shared pool of N members and, at the same time on the same stream, N members without a pool (broadcast, the anchor: each gets the newest frame whenever it can take one). ${RUNS} runs of ${SCALING_WINDOW_MS / 1000} s per size after a ${WARM_UP_MS} ms warm-up; rates are medians over runs. Analysed/s: frames the members received in the window; supplier taken/s and coverage (taken ÷ published): the pool's stream in GetStats, read before and after the window. A member's frame takes its 100 ms timer plus what the last column breaks down (means): the timer firing late (this process's event loop), the credit's way to the supplier until it sends the next frame (including a wait for a frame when another member took the newest), the frame's way back.`,
    '',
    '| members | pool analysed/s | per member (min – max) | supplier taken/s (coverage) | goal basis min(10 × N, 30) | ratio (goal ≥ 0.90) | broadcast distinct frames/s | broadcast deliveries/s | pool ÷ broadcast distinct | a pool frame beyond its 100 ms: timer late / credit to send / transfer (ms) |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rateRows,
    '',
    'Age at delivery of the pool\'s frames (ms), percentiles over the frames of all runs: received − captured at the member; the supplier\'s own (PoolStreamStats: taken − captured over every take of the pool, its warm-up included; median over runs); transfer = received − the supplier\'s send time; publish gap: time between two frames the publisher wrote; broadcast age: the anchor\'s members, same stream, same time (one broadcast member takes frames as one pool member does). With 4 and 8 members one is always waiting, so a frame is taken as it reaches the supplier and the supplier\'s age is the publish hop itself. Goal: p99 ≤ one frame interval (33.3 ms) + the transfer p99 of both hops.',
    '',
    '| members | frames | age p50 / p99 | supplier age p50 / p99 | transfer p99 | publish gap p99 / max | goal | p99 ÷ goal | broadcast age p50 / p99 |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...ageRows,
    '',
    `Goals by pool size: ${verdicts.join('; ')}. ${rss} Event-loop delay of this process (the publisher and every member): p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms, max ${(loopDelay.max / 1e6).toFixed(1)} ms.`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// 2. Fairness.

interface FairnessRun {
  seconds: number;
  /** Frames analysed per stream in the window (same order as the stream ids). */
  counts: number[];
  /** Frames of each stream in each 1 s window (stream-major). */
  windowCounts: number[];
  /** The supplier's taken ÷ published over all streams of the pool, over the window. */
  coverage: number;
  /** The most frames of other streams the member took between two frames of one stream (round
   *  robin over N streams, all pending: N − 1). */
  mostBetween: number;
  /** The longest time between two frames of one stream, and between two frames of any stream (ms),
   *  that one split as in CycleCost. */
  longestStreamWaitMs: number;
  longestPause: { ms: number } & CycleCost;
  /** Where the member's time per frame beyond its timer went (see cycleCost). */
  cycle: CycleCost;
}

async function fairnessRun(supplier: Supplier, streamIds: readonly string[], run: number): Promise<FairnessRun> {
  const poolId = `fair-${run}`;
  let t0Us = Number.POSITIVE_INFINITY;
  const seen: Received[] = [];
  const member = startMember(supplier.address, { workerId: `${poolId}-m`, poolId, allStreams: true }, FAIR_ANALYZE_MS, (d, receivedUs, grantedUs) => {
    if (receivedUs >= t0Us && d.frame) seen.push({ member: 0, streamId: d.frame.streamId, sequence: d.frame.sequence, captureUs: d.frame.captureTimeUs, sentUs: d.sentTimeUs, receivedUs, grantedUs });
  });
  try {
    await until(`the member of pool ${poolId} serving ${streamIds.length} streams`, async () => (await poolStats(supplier, poolId))?.streams.length === streamIds.length);
    await sleep(WARM_UP_MS);
    const before = await poolStats(supplier, poolId);
    t0Us = nowUs();
    await sleep(FAIR_WINDOW_MS);
    const t1Us = nowUs();
    const after = await poolStats(supplier, poolId);
    const received = seen.filter((r) => r.receivedUs < t1Us);
    const sum = (s: PoolStats | undefined, pick: (x: PoolStats['streams'][number]) => number) => (s?.streams ?? []).reduce((n, x) => n + pick(x), 0);
    // Timers may end a hair early; the windows are the whole ones the run was meant to have.
    const windows = Math.floor(FAIR_WINDOW_MS / STARVATION_WINDOW_MS);
    const windowOf = (r: { receivedUs: number }) => Math.floor((r.receivedUs - t0Us) / 1000 / STARVATION_WINDOW_MS);
    return {
      seconds: (t1Us - t0Us) / 1e6,
      counts: streamIds.map((id) => received.filter((r) => r.streamId === id).length),
      windowCounts: streamIds.flatMap((id) => Array.from({ length: windows }, (_, w) => received.filter((r) => r.streamId === id && windowOf(r) === w).length)),
      coverage: (sum(after, (x) => x.taken) - sum(before, (x) => x.taken)) / Math.max(1, sum(after, (x) => x.published) - sum(before, (x) => x.published)),
      ...takeOrder(received),
      ...cycleCost(received, FAIR_ANALYZE_MS),
    };
  } finally {
    member.close();
    await sleep(SETTLE_MS);
  }
}

/** How the member's takes went round the streams (see FairnessRun). */
function takeOrder(received: readonly Received[]): Pick<FairnessRun, 'mostBetween' | 'longestStreamWaitMs' | 'longestPause'> {
  const last = new Map<string, { index: number; us: number }>();
  let mostBetween = 0;
  let longestStreamWaitMs = 0;
  let longestPause = { ms: 0, timerLateMs: 0, creditToSendMs: 0, transferMs: 0 };
  received.forEach((r, index) => {
    const previous = last.get(r.streamId);
    if (previous) {
      mostBetween = Math.max(mostBetween, index - previous.index - 1);
      longestStreamWaitMs = Math.max(longestStreamWaitMs, (r.receivedUs - previous.us) / 1000);
    }
    const pauseMs = index > 0 ? (r.receivedUs - received[index - 1].receivedUs) / 1000 : 0;
    if (pauseMs > longestPause.ms) {
      const timerLateMs = (r.grantedUs - received[index - 1].receivedUs) / 1000 - FAIR_ANALYZE_MS;
      longestPause = { ms: pauseMs, timerLateMs, creditToSendMs: (r.sentUs - r.grantedUs) / 1000, transferMs: (r.receivedUs - r.sentUs) / 1000 };
    }
    last.set(r.streamId, { index, us: r.receivedUs });
  });
  return { mostBetween, longestStreamWaitMs, longestPause };
}

/** The longest of `pauses`, and where its time went. */
function pauseText(pauses: readonly ({ ms: number } & CycleCost)[]): string {
  const p = pauses.reduce((a, b) => (b.ms > a.ms ? b : a));
  return `${ms(p.ms)} ms: its ${FAIR_ANALYZE_MS} ms timer fired ${ms(p.timerLateMs)} ms late, the credit took ${ms(p.creditToSendMs)} ms to bring a frame, the frame ${ms(p.transferMs)} ms to arrive`;
}

/** Mean, min, max and the largest |rate − mean| ÷ mean of per-stream rates. */
function spread(rates: readonly number[]): { mean: number; min: number; max: number; worst: number } {
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  return { mean, min: Math.min(...rates), max: Math.max(...rates), worst: Math.max(...rates.map((r) => Math.abs(r - mean) / mean)) };
}

async function fairness(): Promise<string> {
  const supplier = await startSupplier();
  const streamIds = Array.from({ length: FAIR_STREAMS }, (_, i) => `fair-cam-${i + 1}`);
  const publisher = startPublishers(supplier.address, streamIds, FAIR_FPS);
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const runs: FairnessRun[] = [];
  try {
    for (let run = 0; run < RUNS; run++) runs.push(await fairnessRun(supplier, streamIds, run));
  } finally {
    loopDelay.disable();
    await publisher.stop();
  }
  const rss = await supplier.stop();
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const pooled = spread(streamIds.map((_, i) => runs.reduce((n, r) => n + r.counts[i], 0) / seconds));
  const perRun = runs.map((r) => spread(r.counts.map((c) => c / r.seconds)));
  const memberRate = median(runs.map((r) => r.counts.reduce((a, b) => a + b, 0) / r.seconds));
  const frameSpread = runs.map((r) => Math.max(...r.counts) - Math.min(...r.counts));
  const windowCounts = runs.flatMap((r) => r.windowCounts);
  const starved = windowCounts.filter((c) => c === 0).length;
  const framesPerStreamPerRun = (pooled.mean * seconds) / runs.length;
  return [
    `### Fairness: ${FAIR_STREAMS} streams at ${FAIR_FPS} fps, one member of all streams at ${FAIR_ANALYZE_MS} ms a frame`,
    '',
    `A shared pool whose one member serves all streams (\`all_streams\`), its analyzer a ${FAIR_ANALYZE_MS} ms timer (at most ${1000 / FAIR_ANALYZE_MS} frames/s of the ${FAIR_STREAMS * FAIR_FPS} published); each stream has its own Publish call, the streams' schedules spread over the frame interval. ${RUNS} runs of ${FAIR_WINDOW_MS / 1000} s after a ${WARM_UP_MS} ms warm-up. A stream's rate is its frames analysed ÷ the time; "all runs" counts the frames of all runs together (${formatNumber(seconds)} s), the per-run figures are medians over runs.`,
    '',
    '| over | member analysed/s | coverage | stream rate mean | min | max | worst deviation from the mean | ratio to the ±10 % goal |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    `| all runs | ${formatNumber(memberRate)} (median) | ${median(runs.map((r) => r.coverage)).toFixed(3)} (median) | ${formatNumber(pooled.mean)} | ${formatNumber(pooled.min)} | ${formatNumber(pooled.max)} | ${(pooled.worst * 100).toFixed(1)} % | **${(pooled.worst / FAIRNESS_GOAL).toFixed(2)}** |`,
    `| one run (median) | | | ${formatNumber(median(perRun.map((r) => r.mean)))} | ${formatNumber(median(perRun.map((r) => r.min)))} | ${formatNumber(median(perRun.map((r) => r.max)))} | ${(median(perRun.map((r) => r.worst)) * 100).toFixed(1)} % (worst run ${(Math.max(...perRun.map((r) => r.worst)) * 100).toFixed(1)} %) | ${(median(perRun.map((r) => r.worst)) / FAIRNESS_GOAL).toFixed(2)} |`,
    '',
    `Goal, every stream within ±10 % of the mean over all runs: ${met(pooled.worst <= FAIRNESS_GOAL)}. In one run a stream gets about ${formatNumber(framesPerStreamPerRun)} frames, so one frame more or less is already ±${(100 / framesPerStreamPerRun).toFixed(1)} %: the per-run deviation is mostly that rounding. The most and the fewest frames of two streams in one run differ by ${frameSpread.join(', ')} (one run each; 1 is the least whole frames allow when the counts are not all equal).`,
    '',
    `Goal, none starved: ${met(starved === 0)}. Of ${windowCounts.length} (stream, ${STARVATION_WINDOW_MS / 1000} s window) pairs, ${starved} had no frame analysed; the fewest frames of a stream in a window: ${Math.min(...windowCounts)}. Between two frames of one stream the member took at most ${Math.max(...runs.map((r) => r.mostBetween))} frames of other streams (round robin over ${FAIR_STREAMS} streams: ${FAIR_STREAMS - 1}); the longest wait of a stream was ${ms(Math.max(...runs.map((r) => r.longestStreamWaitMs)))} ms, and the member's longest pause between two frames of any stream ${pauseText(runs.map((r) => r.longestPause))}. A round of the ${FAIR_STREAMS} streams takes ${ms((FAIR_STREAMS * 1000) / memberRate)} ms at the member's rate, so a stream misses a whole ${STARVATION_WINDOW_MS / 1000} s window only if the member pauses for about ${ms(STARVATION_WINDOW_MS - (FAIR_STREAMS * 1000) / memberRate)} ms or more, or the order skips it.`,
    '',
    `The member analysed ${formatNumber(memberRate)} frames/s, not ${1000 / FAIR_ANALYZE_MS}: with one credit at a time each frame costs its ${FAIR_ANALYZE_MS} ms timer plus ${formatNumber(1000 / memberRate - FAIR_ANALYZE_MS)} ms (means: ${cycleText(runs.map((r) => r.cycle))}; a frame is always pending, so no part of it is waiting for a frame). ${rss} Event-loop delay of this process: p99 ${(loopDelay.percentile(99) / 1e6).toFixed(1)} ms.`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// 3. Sticky rebalance after a member is killed.

/** Child mode: one member of a pool, printing `frame <stream> <sequence> <received µs>` per frame;
 *  it exits when its stdin closes, so that it never outlives the benchmark. */
function runMemberProcess(address: string, workerId: string, poolId: string, streamIds: string): void {
  process.stdin.on('end', () => process.exit(0)).resume();
  startMember(address, { workerId, poolId, poolMode: PoolMode.POOL_MODE_STICKY, streamIds: streamIds.split(',') }, STICKY_ANALYZE_MS, (d, receivedUs) =>
    process.stdout.write(`frame ${d.frame?.streamId} ${d.frame?.sequence} ${receivedUs}\n`),
  );
}

interface MemberProcess {
  workerId: string;
  child: ChildProcess;
  /** Receive time of the first frame of each stream at or after `since` (µs), once armed. */
  firstSince: Map<string, number>;
  since: number;
}

function spawnMember(address: string, workerId: string, poolId: string, streamIds: readonly string[]): MemberProcess {
  const child = spawn(process.execPath, [__filename, 'member', address, workerId, poolId, streamIds.join(',')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const member: MemberProcess = { workerId, child, firstSince: new Map(), since: Number.POSITIVE_INFINITY };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const [kind, streamId, , receivedUs] = line.split(' ');
    if (kind === 'frame' && Number(receivedUs) >= member.since && !member.firstSince.has(streamId)) member.firstSince.set(streamId, Number(receivedUs));
  });
  return member;
}

interface RebalanceRun {
  /** From the kill to the supplier's stats naming a survivor as owner of every stream the victim owned. */
  ownedMs: number;
  /** From the kill to a frame of every such stream received by its new owner. */
  frameMs: number;
  /** From the kill to this process seeing the killed process exit: what the machine's load adds. */
  exitMs: number;
}

/** Owners of the pool's streams, by stream, once every stream has one and the members hold
 *  2 streams each (STICKY_STREAMS / STICKY_MEMBERS). */
async function balancedOwners(supplier: Supplier, poolId: string, workerIds: readonly string[]): Promise<Map<string, string>> {
  let owners = new Map<string, string>();
  await until(`pool ${poolId} balanced over ${workerIds.join(', ')}`, async () => {
    const stats = await poolStats(supplier, poolId);
    if (stats === undefined || stats.members.length !== workerIds.length) return false;
    owners = new Map(stats.streams.map((s) => [s.streamId, s.owner]));
    return stats.streams.length === STICKY_STREAMS && workerIds.every((id) => stats.members.find((m) => m.workerId === id)?.ownedStreams === STICKY_STREAMS / STICKY_MEMBERS);
  });
  return owners;
}

async function stickyRebalance(): Promise<string> {
  const supplier = await startSupplier();
  const poolId = 'sticky';
  const streamIds = Array.from({ length: STICKY_STREAMS }, (_, i) => `sticky-cam-${i + 1}`);
  const publisher = startPublishers(supplier.address, streamIds, STICKY_FPS);
  let spawned = 0;
  const members: MemberProcess[] = [];
  const runs: RebalanceRun[] = [];
  const statsRoundTrips: number[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      while (members.length < STICKY_MEMBERS) members.push(spawnMember(supplier.address, `sticky-m${++spawned}`, poolId, streamIds));
      const owners = await balancedOwners(supplier, poolId, members.map((m) => m.workerId));
      // Every member receives frames of the streams it owns before one of them is killed.
      const armedUs = nowUs();
      for (const m of members) {
        m.firstSince.clear();
        m.since = armedUs;
      }
      await until('frames of every stream at its owner', () => [...owners].every(([stream, owner]) => members.find((m) => m.workerId === owner)?.firstSince.has(stream)));
      const victim = members.splice(run % STICKY_MEMBERS, 1)[0];
      const moved = [...owners].filter(([, owner]) => owner === victim.workerId).map(([stream]) => stream);
      const killedUs = nowUs();
      for (const m of members) {
        m.firstSince.clear();
        m.since = killedUs;
      }
      let exitedUs = 0;
      victim.child.once('exit', () => (exitedUs = nowUs()));
      victim.child.kill('SIGKILL');
      let ownedUs = 0;
      await until(
        `new owners of ${moved.join(', ')}`,
        async () => {
          const askedUs = nowUs();
          const stats = await poolStats(supplier, poolId);
          statsRoundTrips.push((nowUs() - askedUs) / 1000);
          const owned = moved.every((stream) => members.some((m) => m.workerId === stats?.streams.find((s) => s.streamId === stream)?.owner));
          if (owned) ownedUs = nowUs();
          return owned;
        },
        STATS_POLL_MS,
      );
      await until(`frames of ${moved.join(', ')} at their new owners`, () => moved.every((stream) => members.some((m) => m.firstSince.has(stream))));
      const firstFrameUs = moved.map((stream) => Math.min(...members.map((m) => m.firstSince.get(stream) ?? Number.POSITIVE_INFINITY)));
      await until('the killed member to exit', () => exitedUs > 0);
      runs.push({ ownedMs: (ownedUs - killedUs) / 1000, frameMs: (Math.max(...firstFrameUs) - killedUs) / 1000, exitMs: (exitedUs - killedUs) / 1000 });
    }
  } finally {
    for (const m of members) m.child.kill('SIGKILL');
    await publisher.stop();
  }
  const rss = await supplier.stop();
  const owned = runs.map((r) => r.ownedMs);
  const frames = runs.map((r) => r.frameMs);
  const exits = runs.map((r) => r.exitMs);
  const list = (values: number[]) => values.map((v) => formatNumber(v)).join(', ');
  return [
    `### Sticky rebalance: ${STICKY_MEMBERS} members, ${STICKY_STREAMS} streams at ${STICKY_FPS} fps, one member SIGKILLed`,
    '',
    `Members are child processes (raw Pull, one credit, ${STICKY_ANALYZE_MS} ms a frame) owning ${STICKY_STREAMS / STICKY_MEMBERS} streams each; in each of ${RUNS} runs one is killed with SIGKILL (the supplier sees the connection drop, no cancel) and replaced by a new member before the next run. "Owned again": until GetStats (polled every ${STATS_POLL_MS} ms over one connection, so up to a poll late) names a survivor as the owner of every stream the killed member owned; "frames again": until a frame of each of those streams is received by its new owner (receive time in the member's process).`,
    '',
    '| measure | median (ms) | max (ms) | goal (ms) | median ÷ goal | runs (ms) |',
    '|---|---:|---:|---:|---:|---|',
    `| owned again | ${ms(median(owned))} | ${ms(Math.max(...owned))} | ${REBALANCE_GOAL_MS} | ${(median(owned) / REBALANCE_GOAL_MS).toFixed(3)} | ${list(owned)} |`,
    `| frames again | ${ms(median(frames))} | ${ms(Math.max(...frames))} | ${REBALANCE_GOAL_MS} | ${(median(frames) / REBALANCE_GOAL_MS).toFixed(3)} | ${list(frames)} |`,
    '',
    `Goal < ${REBALANCE_GOAL_MS} ms in every run: ${met(Math.max(...frames, ...owned) < REBALANCE_GOAL_MS)}. A frame of a moved stream comes at most one frame interval (${(1000 / STICKY_FPS).toFixed(1)} ms) after its new owner is set, plus its transfer. What the machine adds: this process saw the killed member exit ${ms(median(exits))} ms after the kill (median; max ${ms(Math.max(...exits))}), and a GetStats round trip took ${ms(median(statsRoundTrips))} ms (median; max ${ms(Math.max(...statsRoundTrips))}). ${rss}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'member') return runMemberProcess(args[0], args[1], args[2], args[3]);
  const loadBefore = loadavg()[0];
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const sections = [await scaling(), await fairness(), await stickyRebalance()];
  const body = [
    'The supplier service as built (one process per part, on loopback); the publisher (a Publish call per stream, 64 KiB GRAY8 frames) and the members (raw Pull clients granting one credit per frame, their "analyzer" a timer that uses no CPU) in this process, except the members of the sticky part, which are processes of their own. Figures are medians of the runs; each ratio is against the goal or the anchor measured in the same run.',
    '',
    ...sections.flatMap((s) => [s, '']),
    `Load average (1 min) of the machine: ${loadBefore.toFixed(2)} when this benchmark started, ${loadavg()[0].toFixed(2)} when it ended (2 cores, shared with other work); it ran for ${((performance.now() - started) / 1000).toFixed(0)} s, from ${startedAt}.`,
  ].join('\n');
  writeSection('42-supplier-pools', 'Frame supplier: worker pools', body);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
