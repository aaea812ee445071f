// The whole pipeline on real video: capture of vtest.avi (pedestrians, 768x576, 10 fps; opencv-doc)
// → supplier → worker(s) → gateway, as real processes, read by a gRPC SubscribeResults client.
// Per configuration (analyzers, capture rate, workers): new track ids per second, median analysed
// frames per id, detections per frame, frames analysed per second per worker and per pool, age p99
// (capture → subscriber), worker peak RSS, track boxes centred outside the frame; the goals of
// issue 18 beside them. A configuration whose analyzer the worker does not know is skipped, and
// the worker's reason printed. Each run plays a part of the file once through, from its first frame.
// Run: npm run bench -- real-video
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatNumber, median, percentile, writeSection } from '@framewire/bench';
import { summarizeTracks, TrackedFrame, TrackQuality } from '@framewire/analysis';
import { Result } from '@framewire/proto';
import {
  cutVideo,
  findFreePort,
  peakResidentMiB,
  ServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  subscribeResults,
  VTEST_FPS,
  VTEST_HEIGHT,
  VTEST_VIDEO,
  VTEST_WIDTH,
  vtestMissingReason,
  waitFor,
} from '@framewire/testing';

/** Source seconds played per run (of 79.5): the first 300 frames, people crossing, meeting and parting. */
const PART_SECONDS = 30;
/** The rate of the re-timed copy: the same frames played 2.5 times faster (people walk 2.5 times faster). */
const FAST_FPS = 25;
/** A rate cap below the file's own (capture keeps the first frame of each 1/fps slot). */
const CAPPED_FPS = 5;
const STREAM_ID = 'vtest';
const PERSON_LABEL = 'person';
/** After the capture logs the end of the file, results of the last frames still arrive within this. */
const SETTLE_MS = 3_000;
/** Bound on one run beyond the part's own duration (start-up, a slow model). */
const RUN_MARGIN_MS = 30_000;
const STOP_BOUND_MS = 8_000;

type Rate = { kind: 'native' } | { kind: 'capped'; fps: number } | { kind: 'retimed'; fps: number };

interface VideoConfiguration {
  /** FW_WORKER_ANALYZERS. */
  analyzers: string;
  rate: Rate;
  /** 1: one worker; 2: a pool of two (FW_WORKER_POOL), in `poolMode` when given. */
  workers: 1 | 2;
  poolMode?: 'sticky' | 'shared';
}

/** One line per configuration. The model analyzers (detect, pose) are skipped until the worker knows them. */
const CONFIGURATIONS: readonly VideoConfiguration[] = [
  { analyzers: 'motion,tracks', rate: { kind: 'native' }, workers: 1 },
  { analyzers: 'motion,tracks', rate: { kind: 'capped', fps: CAPPED_FPS }, workers: 1 },
  { analyzers: 'motion,tracks', rate: { kind: 'retimed', fps: FAST_FPS }, workers: 1 },
  { analyzers: 'motion,tracks', rate: { kind: 'retimed', fps: FAST_FPS }, workers: 2 },
  { analyzers: 'detect,tracks', rate: { kind: 'native' }, workers: 1 },
  { analyzers: 'pose', rate: { kind: 'retimed', fps: FAST_FPS }, workers: 1 },
  { analyzers: 'pose', rate: { kind: 'retimed', fps: FAST_FPS }, workers: 2, poolMode: 'shared' },
  { analyzers: 'detect,tracks,pose', rate: { kind: 'native' }, workers: 1 },
];

/** Issue 18's goals, by the analyzers they apply to. */
const GOALS = {
  motionTracksIdsPerSecond: 2,
  detectTracksIdsPerSecond: 1,
  detectTracksMedianFramesPerId: 30,
  poseFramesPerSecondOneWorker: 8,
};

interface WorkerFigures {
  workerId: string;
  framesAnalysed: number;
  framesPerSecond: number;
  detectionsPerFrame: number;
  detectionsLabel: string;
  quality?: TrackQuality;
  peakRssMiB: number;
}

interface RunFigures {
  configuration: VideoConfiguration;
  /** Stream seconds the results cover. */
  seconds: number;
  agesMs: number[];
  workers: WorkerFigures[];
}

const rateName = (rate: Rate): string =>
  rate.kind === 'native' ? `file's own (${VTEST_FPS} fps)` : rate.kind === 'capped' ? `capped at ${rate.fps} fps` : `re-timed copy at ${rate.fps} fps`;
const workersName = (c: VideoConfiguration): string => (c.workers === 1 ? '1 worker' : `pool of ${c.workers}${c.poolMode ? ` (${c.poolMode})` : ''}`);

/** The worker's own verdict on the analyzer list: undefined when it starts with it, else its first error line. */
async function unknownAnalyzerReason(analyzers: string): Promise<string | undefined> {
  const unreachable = `127.0.0.1:${await findFreePort()}`;
  try {
    const worker = await startServiceProcess('worker', { FW_WORKER_ANALYZERS: analyzers, FW_SUPPLIER_ADDRESS: unreachable, FW_GATEWAY_ADDRESS: unreachable });
    await stopServiceProcess(worker, 'SIGTERM', STOP_BOUND_MS);
    return undefined;
  } catch (err) {
    // The worker's error line names what it could not load ("pose cannot be loaded: no such package ...").
    const lines = (err as Error).message.split('\n');
    const failure = lines.map((l) => /"error":"((?:[^"\\]|\\.)*)"/.exec(l)?.[1]).find((m) => m !== undefined);
    return failure ?? lines[0];
  }
}

/** One configuration: services started in the order that lets the workers and the subscriber see
 *  the file's first frame (supplier, gateway, workers, subscriber, then capture). */
async function runConfiguration(configuration: VideoConfiguration, video: string, playSeconds: number, archiveDir: string): Promise<RunFigures> {
  const supplierPort = await findFreePort();
  const gatewayPort = await findFreePort();
  const common = {
    FW_METRICS_PORT: '0',
    FW_SHUTDOWN_TIMEOUT_MS: '5000',
    FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplierPort}`,
    FW_GATEWAY_ADDRESS: `127.0.0.1:${gatewayPort}`,
  };
  const services: ServiceProcess[] = [];
  const workerIds = Array.from({ length: configuration.workers }, (_, i) => `video-worker-${i + 1}`);
  const workerPids = new Map<string, number>();
  let recorder: ReturnType<typeof subscribeResults> | undefined;
  try {
    services.push(await startServiceProcess('supplier', { ...common, FW_GRPC_PORT: String(supplierPort) }));
    services.push(await startServiceProcess('gateway', { ...common, FW_GRPC_PORT: String(gatewayPort), FW_ARCHIVE_DIR: archiveDir }, { listeners: ['gRPC', 'HTTP'] }));
    for (const id of workerIds) {
      const pool = configuration.workers > 1 ? { FW_WORKER_POOL: 'video', ...(configuration.poolMode ? { FW_WORKER_POOL_MODE: configuration.poolMode } : {}) } : {};
      const worker = await startServiceProcess('worker', { ...common, ...pool, FW_WORKER_ID: id, FW_STREAM_ID: STREAM_ID, FW_WORKER_ANALYZERS: configuration.analyzers });
      services.push(worker);
      workerPids.set(id, worker.child.pid!);
    }
    recorder = subscribeResults(`127.0.0.1:${gatewayPort}`, { streamId: STREAM_ID, kinds: [] });
    const cap: Record<string, string> = configuration.rate.kind === 'capped' ? { FW_CAPTURE_FPS: String(configuration.rate.fps) } : {};
    const capture = await startServiceProcess('capture', { ...common, ...cap, FW_STREAM_ID: STREAM_ID, FW_CAPTURE_SOURCE: `ffmpeg:${video}` });
    services.push(capture);
    await waitFor('the capture to reach the end of the file', () => capture.output.some((l) => l.includes('"source ended"')), playSeconds * 1000 + RUN_MARGIN_MS, 200);
    await sleep(SETTLE_MS);
    const rss = new Map([...workerPids].map(([id, pid]) => [id, peakResidentMiB(pid)]));
    recorder.close();
    if (recorder.error) throw recorder.error;
    return figuresOf(configuration, recorder.results, recorder.receivedTimesUs, rss);
  } finally {
    recorder?.close();
    for (const service of services.reverse()) await stopServiceProcess(service, 'SIGTERM', STOP_BOUND_MS);
  }
}

function figuresOf(configuration: VideoConfiguration, results: readonly Result[], receivedUs: readonly number[], rss: Map<string, number>): RunFigures {
  // Age: capture → subscriber, once per analysed frame (its first result to arrive).
  const firstArrival = new Map<string, number>();
  results.forEach((r, i) => {
    const key = `${r.workerId}/${r.frameSequence}`;
    if (!firstArrival.has(key)) firstArrival.set(key, (receivedUs[i] - r.captureTimeUs) / 1000);
  });
  const captureTimes = results.map((r) => r.captureTimeUs);
  const frameSequences = new Set(results.map((r) => r.frameSequence));
  const firstUs = Math.min(...captureTimes);
  const lastUs = Math.max(...captureTimes);
  // Stream seconds covered: first to last analysed capture time plus one interval of the frames the stream had.
  const seconds = frameSequences.size > 1 ? ((lastUs - firstUs) / 1e6) * (frameSequences.size / (frameSequences.size - 1)) : 0;
  const anyPerson = results.some((r) => r.detections?.detections.some((d) => d.label === PERSON_LABEL));
  const workers: WorkerFigures[] = [];
  for (const workerId of rss.keys()) {
    const mine = results.filter((r) => r.workerId === workerId).sort((a, b) => a.frameSequence - b.frameSequence);
    const frames = new Set(mine.map((r) => r.frameSequence)).size;
    const detectionCounts = mine.filter((r) => r.detections).map((r) => r.detections!.detections.filter((d) => !anyPerson || d.label === PERSON_LABEL).length);
    const tracked: TrackedFrame[] = mine.filter((r) => r.tracks).map((r) => ({ captureTimeUs: r.captureTimeUs, tracks: r.tracks!.tracks }));
    workers.push({
      workerId,
      framesAnalysed: frames,
      framesPerSecond: seconds > 0 ? frames / seconds : 0,
      detectionsPerFrame: detectionCounts.length ? detectionCounts.reduce((a, b) => a + b, 0) / detectionCounts.length : NaN,
      detectionsLabel: anyPerson ? PERSON_LABEL : 'any',
      quality: tracked.length ? summarizeTracks(tracked, VTEST_WIDTH, VTEST_HEIGHT) : undefined,
      peakRssMiB: rss.get(workerId) ?? NaN,
    });
  }
  return { configuration, seconds, agesMs: [...firstArrival.values()].sort((a, b) => a - b), workers };
}

/** The goals that apply to a configuration, each with whether the run met it. */
function goalsOf(run: RunFigures): string[] {
  const names = run.configuration.analyzers.split(',');
  const out: string[] = [];
  const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
  const qualities = run.workers.map((w) => w.quality).filter((q): q is TrackQuality => q !== undefined);
  const idsPerSecond = qualities.reduce((a, q) => a + q.ids, 0) / run.seconds;
  const outside = qualities.reduce((a, q) => a + q.centresOutside, 0);
  if (names.includes('motion') && names.includes('tracks')) {
    out.push(`≤ ${GOALS.motionTracksIdsPerSecond} new ids/s: ${mark(idsPerSecond <= GOALS.motionTracksIdsPerSecond)}`, `0 centred outside: ${mark(outside === 0)}`);
  }
  if (names.includes('detect') && names.includes('tracks')) {
    const medianFrames = median(qualities.map((q) => q.medianFramesPerId));
    out.push(`≤ ${GOALS.detectTracksIdsPerSecond} new id/s: ${mark(idsPerSecond <= GOALS.detectTracksIdsPerSecond)}`, `median ≥ ${GOALS.detectTracksMedianFramesPerId} frames/id: ${mark(medianFrames >= GOALS.detectTracksMedianFramesPerId)}`);
  }
  // The goal is pose's own rate: a worker that also runs detect shares its time with it.
  if (names.length === 1 && names[0] === 'pose' && run.configuration.workers === 1) {
    out.push(`≥ ${GOALS.poseFramesPerSecondOneWorker} frames/s: ${mark(run.workers[0].framesPerSecond >= GOALS.poseFramesPerSecondOneWorker)}`);
  }
  return out;
}

function tableOf(runs: readonly RunFigures[]): string {
  const lines = [
    '| analyzers | capture rate | workers | worker | frames analysed | frames/s | detections/frame | new ids/s | ids | median frames/id | centred outside | ids revived | ids reused | age p99 ms | peak RSS MiB | goals |',
    '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const run of runs) {
    const c = run.configuration;
    const ageP99 = formatNumber(percentile(run.agesMs, 0.99));
    const goals = goalsOf(run).join('; ');
    for (const w of run.workers) {
      const q = w.quality;
      const trackCells = q ? [formatNumber(q.ids / run.seconds), String(q.ids), formatNumber(q.medianFramesPerId), String(q.centresOutside), String(q.revivedIds), String(q.reusedIds)] : ['', '', '', '', '', ''];
      lines.push(
        `| ${c.analyzers} | ${rateName(c.rate)} | ${workersName(c)} | ${w.workerId} | ${w.framesAnalysed} | ${formatNumber(w.framesPerSecond)} | ${Number.isNaN(w.detectionsPerFrame) ? '' : `${formatNumber(w.detectionsPerFrame)} (${w.detectionsLabel})`} | ${trackCells.join(' | ')} | ${ageP99} | ${w.peakRssMiB.toFixed(0)} | ${goals} |`,
      );
    }
    if (run.workers.length > 1) {
      const total = run.workers.reduce((a, w) => a + w.framesAnalysed, 0);
      lines.push(`| ${c.analyzers} | ${rateName(c.rate)} | ${workersName(c)} | pool | ${total} | ${formatNumber(total / run.seconds)} | | | | | | | ${ageP99} | | ${goals} |`);
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const missing = vtestMissingReason();
  if (missing !== undefined) {
    writeSection('70-real-video', 'Real video: vtest.avi through the whole pipeline', `Not measured: ${missing}.`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'fw-bench-video-'));
  const runs: RunFigures[] = [];
  const skipped: string[] = [];
  try {
    const videos = new Map<string, string>();
    const videoFor = (rate: Rate): string => {
      const fps = rate.kind === 'retimed' ? rate.fps : undefined;
      const key = String(fps);
      if (!videos.has(key)) videos.set(key, cutVideo(VTEST_VIDEO, dir, { seconds: PART_SECONDS, fps }));
      return videos.get(key)!;
    };
    const known = new Map<string, string | undefined>();
    for (const configuration of CONFIGURATIONS) {
      const name = `${configuration.analyzers}, ${rateName(configuration.rate)}, ${workersName(configuration)}`;
      if (!known.has(configuration.analyzers)) known.set(configuration.analyzers, await unknownAnalyzerReason(configuration.analyzers));
      const reason = known.get(configuration.analyzers);
      if (reason !== undefined) {
        process.stdout.write(`real-video: skipped ${name}: the worker does not start with FW_WORKER_ANALYZERS=${configuration.analyzers}: ${reason}\n`);
        skipped.push(`${name} (${reason})`);
        continue;
      }
      const playSeconds = configuration.rate.kind === 'retimed' ? (PART_SECONDS * VTEST_FPS) / configuration.rate.fps : PART_SECONDS;
      process.stdout.write(`real-video: ${name} (${playSeconds} s)\n`);
      const archiveDir = mkdtempSync(join(dir, 'archive-'));
      runs.push(await runConfiguration(configuration, videoFor(configuration.rate), playSeconds, archiveDir));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  writeSection(
    '70-real-video',
    'Real video: vtest.avi through the whole pipeline',
    [
      `Capture of the first ${PART_SECONDS} s of ${VTEST_VIDEO} (${PART_SECONDS * VTEST_FPS} frames of pedestrians, ${VTEST_WIDTH}x${VTEST_HEIGHT}; Debian opencv-doc), played once through, → supplier → worker(s) → gateway, as real processes; a gRPC SubscribeResults client in the benchmark process records every result. Capture rates: the file's own (${VTEST_FPS} fps, as ffmpeg -re plays it), capped with FW_CAPTURE_FPS=${CAPPED_FPS} (every other frame), or a copy re-timed by ffmpeg to ${FAST_FPS} fps (the same frames ${FAST_FPS / VTEST_FPS} times faster, so people move ${FAST_FPS / VTEST_FPS} times faster and the same ids take ${FAST_FPS / VTEST_FPS} times less time). Per second = per second of stream (capture) time. "Detections/frame" counts label \`person\` when a model reports persons, else every detection. Age = capture → subscriber, p99 over analysed frames. One run per configuration (${PART_SECONDS} s of video is the sample; the machine's 2 cores are shared with every process).`,
      '',
      runs.length ? tableOf(runs) : 'No configuration ran.',
      '',
      'A pool runs in its default mode unless the row says otherwise: with `tracks` that is sticky, one member owns the stream (docs/worker.md), so the other analyses nothing.',
      '',
      skipped.length ? `Skipped (the worker refused the analyzer list): ${skipped.join('; ')}.` : 'No configuration skipped.',
    ].join('\n'),
  );
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
