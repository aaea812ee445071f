// Real video files through the real services: a 10 fps file captured at the default settings plays
// at its own rate (no repeated frame, capture times from its timestamps, monotonic across loops),
// FW_CAPTURE_FPS caps it by dropping, and the tracker keeps every box centred inside the frame —
// also on a hostile file whose timestamps come 1 ms apart, repeat, go back and jump 3 s ahead.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameSubscription, ReceivedFrame, subscribeFrames } from '@framewire/frame-client';
import { ResultKind, Track } from '@framewire/proto';
import {
  describeIfInstalled,
  ServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  subscribeResults,
  waitFor,
} from '@framewire/testing';

const WIDTH = 320;
const HEIGHT = 240;
const VIDEO_FPS = 10;
const FRAME_INTERVAL_MS = 1000 / VIDEO_FPS;
/** Long enough that the collected frames cross the loop boundary at least once. */
const VIDEO_SECONDS = 2;
/** Frames collected per capture check: over three plays of the 2 s video. */
const FRAMES_TO_COLLECT = 45;
/** Track results collected from the pipeline. */
const TRACK_RESULTS_TO_COLLECT = 40;
/** A gap between capture times closer to a whole number of frame intervals than this comes from
 *  the file's timestamps (arrival times on a loaded machine spread over the whole interval). */
const PTS_GRID_TOLERANCE_MS = 1;
const STOP_BOUND_MS = 8_000;
const RECONNECT = { initialMs: 50, maxMs: 500 };

/** Two shapes on a dark background, moving across a 320x240 frame: what the motion analyzer and the
 *  tracker follow. H.264 (with B-frames, so decoding reorders), 10 fps. */
function makeMovingShapesVideo(path: string, extraFilter?: string): void {
  const shapes =
    "[0][1]overlay=x='20+100*t':y='40+30*sin(2*t)'[a];[a][2]overlay=x='260-90*t':y='160+25*cos(3*t)'" + (extraFilter ? `,${extraFilter}` : '');
  execFileSync(
    'ffmpeg',
    [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', `color=c=0x202020:s=${WIDTH}x${HEIGHT}:r=${VIDEO_FPS}`,
      '-f', 'lavfi', '-i', `color=c=0xE04030:s=36x36:r=${VIDEO_FPS}`,
      '-f', 'lavfi', '-i', `color=c=0x30C050:s=28x28:r=${VIDEO_FPS}`,
      '-filter_complex', shapes,
      '-frames:v', String(VIDEO_SECONDS * VIDEO_FPS),
      ...(extraFilter ? ['-fps_mode', 'passthrough', '-enc_time_base', '1:1000'] : []),
      '-c:v', 'libx264', '-pix_fmt', 'yuv420p',
      path,
    ],
    { timeout: 30_000 },
  );
}

/** Everything a test started, stopped in reverse order whatever happened. */
const running: { subscriptions: FrameSubscription[]; services: ServiceProcess[]; closers: (() => void)[] } = { subscriptions: [], services: [], closers: [] };
async function stopAll(): Promise<void> {
  for (const close of running.closers.splice(0)) close();
  for (const s of running.subscriptions.splice(0)) s.close();
  for (const service of running.services.splice(0).reverse()) await stopServiceProcess(service, 'SIGTERM', STOP_BOUND_MS);
}
async function start(app: string, env: Record<string, string>, listeners?: string[]): Promise<ServiceProcess> {
  const service = await startServiceProcess(app, { FW_METRICS_PORT: '0', FW_SHUTDOWN_TIMEOUT_MS: '5000', ...env }, listeners ? { listeners } : {});
  running.services.push(service);
  return service;
}

/** Supplier and capture of `video` (looped), with `captureEnv` over capture's defaults. */
async function startCapture(video: string, streamId: string, captureEnv: Record<string, string> = {}): Promise<ServiceProcess> {
  const supplier = await start('supplier', {});
  await start('capture', {
    FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplier.port}`,
    FW_STREAM_ID: streamId,
    FW_CAPTURE_SOURCE: `ffmpeg:${video}`,
    FW_CAPTURE_LOOP: 'true',
    ...captureEnv,
  });
  return supplier;
}

/** The first `count` frames a fast Pull consumer receives. */
async function collectFrames(supplierPort: number, streamId: string, count: number): Promise<ReceivedFrame[]> {
  const subscription = subscribeFrames({ address: `127.0.0.1:${supplierPort}`, workerId: 'adversarial-capture', streamId, reconnect: RECONNECT });
  running.subscriptions.push(subscription);
  const frames: ReceivedFrame[] = [];
  for await (const received of subscription) {
    frames.push(received);
    if (frames.length >= count) break;
  }
  return frames;
}

/** Per-frame capture-time intervals (ms) between consecutively received frames: a gap over
 *  several sequence numbers (frames dropped on the way) is divided by how many it spans. */
function frameIntervalsMs(frames: readonly ReceivedFrame[]): number[] {
  const intervals: number[] = [];
  for (let i = 1; i < frames.length; i++) {
    const steps = frames[i].frame.sequence - frames[i - 1].frame.sequence;
    intervals.push((frames[i].frame.captureTimeUs - frames[i - 1].frame.captureTimeUs) / 1000 / steps);
  }
  return intervals;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Consecutive sequence numbers whose frames have byte-identical JPEGs: a frame sent twice. */
function repeatedFrames(frames: readonly ReceivedFrame[]): number[] {
  const repeats: number[] = [];
  const digest = (f: ReceivedFrame) => createHash('sha256').update(f.frame.data ?? new Uint8Array()).digest('hex');
  for (let i = 1; i < frames.length; i++) {
    if (frames[i].frame.sequence === frames[i - 1].frame.sequence + 1 && digest(frames[i]) === digest(frames[i - 1])) repeats.push(frames[i].frame.sequence);
  }
  return repeats;
}

/** Tracks from the real pipeline (supplier, gateway, capture of `video` at its defaults, one worker). */
async function collectTracks(video: string, streamId: string, archiveDir: string): Promise<Track[][]> {
  const supplier = await startCapture(video, streamId);
  const gateway = await start('gateway', { FW_ARCHIVE_DIR: archiveDir, FW_HTTP_PORT: '0' }, ['gRPC', 'HTTP']);
  await start('worker', {
    FW_WORKER_ID: 'adversarial-worker',
    FW_STREAM_ID: streamId,
    FW_SUPPLIER_ADDRESS: `127.0.0.1:${supplier.port}`,
    FW_GATEWAY_ADDRESS: `127.0.0.1:${gateway.port}`,
  });
  const recorder = subscribeResults(`127.0.0.1:${gateway.port}`, { streamId, kinds: [ResultKind.RESULT_KIND_TRACKS] });
  running.closers.push(() => recorder.close());
  const withTracks = () => recorder.results.filter((r) => (r.tracks?.tracks.length ?? 0) > 0).length;
  await waitFor(`${TRACK_RESULTS_TO_COLLECT} track results with tracks`, () => withTracks() >= TRACK_RESULTS_TO_COLLECT, 60_000);
  expect(recorder.error).toBeUndefined();
  return recorder.results.map((r) => r.tracks?.tracks ?? []);
}

/** Tracks whose box is centred outside the frame, or with a value that is not finite. */
function tracksOutsideTheFrame(results: readonly Track[][]): Track[] {
  return results.flat().filter((t) => {
    const box = t.box;
    if (box === undefined) return true;
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    const finite = [box.x, box.y, box.width, box.height, t.velocityX, t.velocityY].every(Number.isFinite);
    return !finite || cx < 0 || cx > WIDTH || cy < 0 || cy > HEIGHT;
  });
}

describeIfInstalled('ffmpeg', 'apt-get install ffmpeg')('adversarial: real video files through capture and the tracker', () => {
  let dir: string;
  let video: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-adversarial-capture-'));
    video = join(dir, 'shapes-10fps.mp4');
    makeMovingShapesVideo(video);
  });

  afterEach(stopAll, 30_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('plays a 10 fps file at its own rate by default: no frame repeated, capture times 100 ms apart, monotonic across loops', async () => {
    const supplier = await startCapture(video, 'cam-file');
    const frames = await collectFrames(supplier.port, 'cam-file', FRAMES_TO_COLLECT);
    expect(repeatedFrames(frames)).toEqual([]);
    const intervals = frameIntervalsMs(frames);
    expect(Math.min(...intervals)).toBeGreaterThan(FRAME_INTERVAL_MS / 2);
    expect(median(intervals)).toBeGreaterThanOrEqual(0.9 * FRAME_INTERVAL_MS);
    expect(median(intervals)).toBeLessThanOrEqual(1.1 * FRAME_INTERVAL_MS);
    // Timestamps from the file: every gap is a whole number of 100 ms frame intervals.
    for (let i = 1; i < frames.length; i++) {
      const gapMs = (frames[i].frame.captureTimeUs - frames[i - 1].frame.captureTimeUs) / 1000;
      expect(Math.abs(gapMs - Math.round(gapMs / FRAME_INTERVAL_MS) * FRAME_INTERVAL_MS)).toBeLessThanOrEqual(PTS_GRID_TOLERANCE_MS);
    }
    // 45 frames of a 20-frame file: the loop was crossed, and capture times still only increase.
    expect(frames[frames.length - 1].frame.sequence - frames[0].frame.sequence).toBeGreaterThan(VIDEO_SECONDS * VIDEO_FPS);
    expect(intervals.every((ms) => ms > 0)).toBe(true);
  }, 60_000);

  it('caps a file at FW_CAPTURE_FPS by dropping frames, never repeating one', async () => {
    const cap = VIDEO_FPS / 2;
    const supplier = await startCapture(video, 'cam-capped', { FW_CAPTURE_FPS: String(cap) });
    const frames = await collectFrames(supplier.port, 'cam-capped', FRAMES_TO_COLLECT / 3);
    expect(repeatedFrames(frames)).toEqual([]);
    const intervals = frameIntervalsMs(frames);
    expect(median(intervals)).toBeGreaterThanOrEqual(0.9 * (1000 / cap));
    expect(median(intervals)).toBeLessThanOrEqual(1.1 * (1000 / cap));
    expect(Math.min(...intervals)).toBeGreaterThan(1000 / cap / 2);
  }, 60_000);

  it('keeps every track box centred inside the frame on a real 10 fps file (the whole pipeline)', async () => {
    const tracks = await collectTracks(video, 'cam-tracks', join(dir, 'archive-tracks'));
    expect(tracksOutsideTheFrame(tracks)).toEqual([]);
  }, 90_000);

  it('keeps every track box inside the frame on a file whose timestamps come 1 ms apart, repeat, go back and jump 3 s', async () => {
    const hostile = join(dir, 'hostile-timestamps.mkv');
    // Frame N at N/10 s, except: every fourth frame 1 ms after the one before it, everything from
    // frame 12 on 3 s later, frame 13 at the same time as frame 12, frame 17 50 ms before frame 16.
    makeMovingShapesVideo(
      hostile,
      "settb=1/1000,setpts='if(eq(N,13),4.2,if(eq(N,17),4.55,N*0.1+if(gte(N,12),3,0)-if(eq(mod(N,4),1),0.099,0)))/TB'",
    );
    const tracks = await collectTracks(hostile, 'cam-hostile', join(dir, 'archive-hostile'));
    expect(tracksOutsideTheFrame(tracks)).toEqual([]);
  }, 90_000);
});
