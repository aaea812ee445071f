// Real video end to end, every service a real process: capture of the first seconds of vtest.avi
// (pedestrians, 768x576, 10 fps; Debian opencv-doc, which CI installs) played once at its own rate
// → supplier → worker(motion, tracks) → gateway → a gRPC subscriber. Behaviour, not speed: results
// arrive for the stream, every track box is centred in the 768x576 frame, no track id comes back
// after it ended. Skipped, with the reason printed, only where the video file is absent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarizeTracks, TrackedFrame } from '@framewire/analysis';
import { Result } from '@framewire/proto';
import { cutVideo, describeIfInstalled, ResultRecorder, subscribeResults, VTEST_HEIGHT, VTEST_VIDEO, VTEST_WIDTH, vtestMissingReason, waitFor } from '@framewire/testing';
import { Pipeline, sleep, startPipeline } from './support/pipeline';

const STREAM = 'vtest-e2e';
const WORKER = 'video-worker';
/** Seconds of the file played: people walk in, pass one another and the lamp post. */
const PART_SECONDS = 6;
/** The capture reaches the end of the part within its duration plus start-up on a loaded machine. */
const PLAY_BOUND_MS = 40_000;
/** Results of the last frames reach the subscriber within this after the capture ends. */
const SETTLE_MS = 2_000;

const missing = vtestMissingReason();
if (missing !== undefined) process.stderr.write(`skipped: the real-video end-to-end tests: ${missing}\n`);
const describeWithVideo = missing === undefined ? describeIfInstalled('ffmpeg', 'apt-get install -y ffmpeg') : describe.skip;

describeWithVideo('real video (vtest.avi) through the whole pipeline', () => {
  let dir: string;
  let pipeline: Pipeline;
  let recorder: ResultRecorder;
  let results: Result[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fw-e2e-video-'));
    const video = cutVideo(VTEST_VIDEO, dir, { seconds: PART_SECONDS });
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: 10,
      width: VTEST_WIDTH,
      height: VTEST_HEIGHT,
      archiveDir: join(dir, 'archive'),
      workers: [WORKER],
      appEnv: { capture: { FW_CAPTURE_SOURCE: `ffmpeg:${video}` }, worker: { FW_WORKER_ANALYZERS: 'motion,tracks' } },
    });
    recorder = subscribeResults(pipeline.gatewayAddress, { streamId: STREAM, kinds: [] });
    const capture = pipeline.services.get('capture')!;
    await waitFor('the capture to play the part to its end', () => capture.output.some((l) => l.includes('"source ended"')), PLAY_BOUND_MS);
    await sleep(SETTLE_MS);
    recorder.close();
    results = recorder.results;
  }, 90_000);

  afterAll(async () => {
    recorder?.close();
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('delivers segmentation, detections and tracks of the stream in frame pixels', () => {
    expect(recorder.error).toBeUndefined();
    expect(results.every((r) => r.streamId === STREAM && r.workerId === WORKER)).toBe(true);
    const segmentations = results.filter((r) => r.segmentation);
    expect(segmentations.length).toBeGreaterThan(0);
    for (const r of segmentations) expect([r.segmentation!.width, r.segmentation!.height]).toEqual([VTEST_WIDTH, VTEST_HEIGHT]);
    // Pedestrians are in every frame of the part: the motion analyzer finds some and the tracker confirms some.
    expect(results.some((r) => (r.detections?.detections.length ?? 0) > 0)).toBe(true);
    expect(results.some((r) => (r.tracks?.tracks.length ?? 0) > 0)).toBe(true);
  });

  it('centres every track box inside the 768x576 frame and never gives a track id twice', () => {
    const tracked: TrackedFrame[] = results
      .filter((r) => r.tracks)
      .sort((a, b) => a.frameSequence - b.frameSequence)
      .map((r) => ({ captureTimeUs: r.captureTimeUs, tracks: r.tracks!.tracks }));
    const quality = summarizeTracks(tracked, VTEST_WIDTH, VTEST_HEIGHT);
    expect(quality.ids).toBeGreaterThan(0);
    expect(quality.centresOutside).toBe(0);
    expect(quality.reusedIds).toBe(0);
    // The same analysed frame never carries the same id twice either.
    for (const frame of tracked) expect(new Set(frame.tracks.map((t) => t.trackId)).size).toBe(frame.tracks.length);
  });
});
