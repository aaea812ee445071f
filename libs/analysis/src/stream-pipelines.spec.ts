// StreamPipelines: the frames of two synthetic cameras with different motion, interleaved as a
// worker of both receives them, give each camera tracks of its own objects only (the same frames
// through one shared pipeline mix them); states are made per stream, dropped when idle or for room,
// and configured all at once; asynchronous analyzers are awaited, batches reach analyzeBatch in one
// call, and a failing analyzer is named.
import { renderSceneJpeg, sceneAt, SceneOptions } from '@framewire/capture';
import { Tracks } from '@framewire/proto';
import { Analyzer, AnalyzerFailedError, AnalyzerInput, AnalyzerOutputs, AnalyzerSettingsError, PipelineInput } from './index';
import { decodeFrame } from './decode';
import { StreamPipelines } from './stream-pipelines';

const FPS = 15;
const ANALYSIS_WIDTH = 320;
/** As the scene tests: the background model's and the tracker's warm-up. */
const WARM_UP_FRAMES = 45;
const CHECKED_FRAMES = 20;
const CENTRE_TOLERANCE_PX = 6;
const CAMERAS: Record<string, SceneOptions> = {
  'cam-1': { width: 640, height: 480, fps: FPS, seed: 1 },
  'cam-2': { width: 640, height: 480, fps: FPS, seed: 2 },
};

/** Frame n of each camera, in turn, as one worker serving both receives them. */
async function interleavedFrames(): Promise<{ streamId: string; n: number; input: PipelineInput }[]> {
  const frames: { streamId: string; n: number; input: PipelineInput }[] = [];
  for (let n = 0; n < WARM_UP_FRAMES + CHECKED_FRAMES; n++) {
    for (const [streamId, options] of Object.entries(CAMERAS)) {
      const decoded = await decodeFrame(await renderSceneJpeg(n, options, 80), { maxWidth: ANALYSIS_WIDTH });
      frames.push({
        streamId,
        n,
        input: { streamId, frameSequence: n + 1, captureTimeUs: Math.round((n * 1e6) / FPS), frameWidth: decoded.frameWidth, frameHeight: decoded.frameHeight, image: decoded.image, scale: decoded.scale },
      });
    }
  }
  return frames;
}

/** Why the tracks of frame n of `streamId` are not its own objects (one line per wrong track), or []. */
function misplaced(streamId: string, n: number, tracks: Tracks | undefined): string[] {
  const objects = sceneAt(n, CAMERAS[streamId]).objects;
  const found = tracks?.tracks ?? [];
  const problems: string[] = [];
  if (found.length !== objects.length) problems.push(`${streamId} frame ${n}: ${found.length} tracks for ${objects.length} objects`);
  for (const t of found) {
    const box = t.box!;
    const near = objects.some((o) => Math.hypot(box.x + box.width / 2 - (o.box.x + o.box.width / 2), box.y + box.height / 2 - (o.box.y + o.box.height / 2)) <= CENTRE_TOLERANCE_PX);
    if (!near) problems.push(`${streamId} frame ${n}: track ${t.trackId} at ${JSON.stringify(box)} is none of its objects`);
  }
  return problems;
}

describe('StreamPipelines on two cameras with different motion', () => {
  let frames: Awaited<ReturnType<typeof interleavedFrames>>;
  beforeAll(async () => {
    frames = await interleavedFrames();
  }, 120_000);

  it('keeps each camera’s tracks on its own objects, with ids stable per camera', async () => {
    const pipelines = new StreamPipelines({ analyzers: ['motion', 'tracks', 'keypoints'] });
    const problems: string[] = [];
    const ids = new Map<string, Set<number>>();
    for (const { streamId, n, input } of frames) {
      const out = await pipelines.run(streamId, input, n * 1000 / FPS);
      if (n < WARM_UP_FRAMES) continue;
      problems.push(...misplaced(streamId, n, out.tracks));
      const seen = ids.get(streamId) ?? new Set();
      for (const t of out.tracks?.tracks ?? []) seen.add(t.trackId);
      ids.set(streamId, seen);
    }
    expect(problems).toEqual([]);
    // Each camera's objects keep the ids they were given: no more ids than objects.
    for (const [streamId, seen] of ids) expect({ streamId, ids: seen.size }).toEqual({ streamId, ids: sceneAt(0, CAMERAS[streamId]).objects.length });
    expect(pipelines.streams.sort()).toEqual(['cam-1', 'cam-2']);
    expect(pipelines.stats).toEqual({ created: 2, droppedIdle: 0, droppedForRoom: 0 });
  });

  it('is what tells the cameras apart: one pipeline for both mixes them', async () => {
    const one = new StreamPipelines({ analyzers: ['motion', 'tracks', 'keypoints'] });
    const problems: string[] = [];
    for (const { streamId, n, input } of frames) {
      // Every frame under one stream id: a single pipeline, as a worker without per-stream state.
      const out = await one.run('any', input, n * 1000 / FPS);
      if (n >= WARM_UP_FRAMES) problems.push(...misplaced(streamId, n, out.tracks));
    }
    expect(problems.length).toBeGreaterThan(CHECKED_FRAMES);
  });
});

/** An analyzer that reports, as a detection count, how many frames it has seen since it was made. */
class CountingAnalyzer implements Analyzer {
  readonly name = 'counting';
  seen = 0;
  step = 1;
  analyze(): AnalyzerOutputs {
    this.seen += this.step;
    return { detections: { detections: Array.from({ length: this.seen }, () => ({ box: undefined, score: 1, classId: 0, label: '' })) } };
  }
  settings(): Record<string, unknown> {
    return { step: this.step };
  }
  configure(changes: Record<string, unknown>): void {
    const step = changes.step ?? this.step;
    if (typeof step !== 'number' || step < 1) throw new AnalyzerSettingsError(this.name, 'step', `must be >= 1, got ${JSON.stringify(step)}`);
    this.step = step;
  }
  reset(): void {
    this.seen = 0;
  }
}

describe('StreamPipelines state', () => {
  const input = (streamId: string): PipelineInput => ({ streamId, frameSequence: 1, captureTimeUs: 1, frameWidth: 1, frameHeight: 1, image: { width: 1, height: 1, data: new Uint8Array(3) }, scale: 1 });
  const make = (options: { maxStreams?: number; idleMs?: number } = {}) => new StreamPipelines({ analyzers: ['counting'], createAnalyzers: () => [new CountingAnalyzer()], ...options });
  const seen = async (p: StreamPipelines, streamId: string, nowMs: number) => (await p.run(streamId, input(streamId), nowMs)).detections?.detections.length;

  it('makes a stream’s state on its first frame and keeps it apart from the others', async () => {
    const p = make();
    expect([await seen(p, 'a', 0), await seen(p, 'a', 1), await seen(p, 'b', 2), await seen(p, 'a', 3), await seen(p, 'b', 4)]).toEqual([1, 2, 1, 3, 2]);
  });

  it('drops the state of a stream not seen for idleMs, and starts it afresh', async () => {
    const p = make({ idleMs: 1_000 });
    await seen(p, 'a', 0);
    await seen(p, 'a', 500);
    await seen(p, 'b', 1_000);
    expect(await seen(p, 'b', 1_900)).toBe(2); // b seen within the bound
    expect(p.streams).toEqual(['b']); // a, last seen at 500, was dropped
    expect(await seen(p, 'a', 1_900)).toBe(1);
    expect(p.stats).toEqual({ created: 3, droppedIdle: 1, droppedForRoom: 0 });
  });

  it('keeps at most maxStreams states, dropping the one seen least recently', async () => {
    const p = make({ maxStreams: 2 });
    await seen(p, 'a', 0);
    await seen(p, 'b', 1);
    await seen(p, 'a', 2);
    await seen(p, 'c', 3); // b is the least recently seen
    expect(p.streams).toEqual(['a', 'c']);
    expect(await seen(p, 'a', 4)).toBe(3);
    expect(await seen(p, 'b', 5)).toBe(1);
    expect(p.stats.droppedForRoom).toBe(2);
  });

  it('configures every stream’s analyzers and those of later streams; a refused setting changes none', async () => {
    const p = make();
    await seen(p, 'a', 0);
    p.configure('counting', { step: 10 });
    expect(await seen(p, 'a', 1)).toBe(11);
    expect(await seen(p, 'b', 2)).toBe(10); // made after the command, configured as the others
    expect(() => p.configure('counting', { step: 0 })).toThrow(AnalyzerSettingsError);
    expect(p.settings()).toEqual({ counting: { enabled: true, step: 10 } });
    p.configure('counting', { enabled: false });
    expect((await p.run('c', input('c'), 3)).detections).toBeUndefined();
    expect(p.isEnabled('counting')).toBe(false);
  });
});

describe('StreamPipelines with asynchronous and batch analyzers', () => {
  const input = (streamId: string, frameSequence = 1): PipelineInput => ({ streamId, frameSequence, captureTimeUs: 1, frameWidth: 1, frameHeight: 1, image: { width: 1, height: 1, data: new Uint8Array(3) }, scale: 1 });
  const detections = (n: number): AnalyzerOutputs => ({ detections: { detections: Array.from({ length: n }, () => ({ box: undefined, score: 1, classId: 0, label: '' })) } });

  /** A model-like analyzer: asynchronous, batchable, recording how it was called. */
  class BatchModel implements Analyzer {
    readonly name = 'model';
    readonly batches: string[][] = [];
    readonly singles: string[] = [];
    async analyze(frame: AnalyzerInput): Promise<AnalyzerOutputs> {
      await new Promise((r) => setImmediate(r));
      this.singles.push(frame.streamId);
      return detections(1);
    }
    async analyzeBatch(frames: readonly AnalyzerInput[]): Promise<AnalyzerOutputs[]> {
      await new Promise((r) => setImmediate(r));
      this.batches.push(frames.map((f) => f.streamId));
      return frames.map((_, i) => detections(i + 1));
    }
  }

  it('awaits an asynchronous analyzer and hands its outputs to the analyzers after it', async () => {
    const after: (AnalyzerOutputs | undefined)[] = [];
    const p = new StreamPipelines({
      analyzers: ['model', 'reader'],
      createAnalyzers: () => [new BatchModel(), { name: 'reader', analyze: (f) => (after.push(f.earlier), {}) }],
    });
    const out = await p.run('a', input('a'), 0);
    expect(out.detections?.detections).toHaveLength(1);
    expect(after[0]?.detections?.detections).toHaveLength(1);
  });

  it('gives a batch of distinct streams to analyzeBatch in one call, on one instance shared by the streams, in input order', async () => {
    const made: BatchModel[] = [];
    const p = new StreamPipelines({ analyzers: ['model'], createAnalyzers: () => [(made.push(new BatchModel()), made[made.length - 1])] });
    const outs = await p.runBatch([input('a'), input('b'), input('c')], 0);
    expect(outs.map((o) => o.detections?.detections.length)).toEqual([1, 2, 3]);
    const shared = made[0];
    expect(shared.batches).toEqual([['a', 'b', 'c']]);
    expect(shared.singles).toEqual([]);
    // One frame alone goes through analyze, on the same shared instance.
    await p.run('d', input('d'), 1);
    expect(shared.singles).toEqual(['d']);
  });

  it('runs a batch frame by frame through analyzers without analyzeBatch, each stream on its own state', async () => {
    const p = new StreamPipelines({ analyzers: ['counting'], createAnalyzers: () => [new CountingAnalyzer()] });
    await p.run('a', input('a'), 0);
    const outs = await p.runBatch([input('a', 2), input('b')], 1);
    expect(outs.map((o) => o.detections?.detections.length)).toEqual([2, 1]);
  });

  it('fails a frame with AnalyzerFailedError naming the analyzer that threw or rejected', async () => {
    const p = new StreamPipelines({
      analyzers: ['thrower', 'rejecter'],
      createAnalyzers: () => [
        { name: 'thrower', analyze: (f) => (f.frameSequence === 1 ? (() => { throw new TypeError('bad tensor'); })() : {}) },
        { name: 'rejecter', analyze: () => Promise.reject(new RangeError('model gone')) },
      ],
    });
    await expect(p.run('a', input('a', 1), 0)).rejects.toThrow(new AnalyzerFailedError('thrower', new TypeError('bad tensor')));
    const err = await p.run('a', input('a', 2), 0).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnalyzerFailedError);
    expect(err).toMatchObject({ analyzer: 'rejecter', message: 'analyzer "rejecter" failed: model gone', cause: expect.any(RangeError) });
  });

  it('fails a batch whose analyzeBatch returns the wrong number of outputs', async () => {
    const p = new StreamPipelines({ analyzers: ['short'], createAnalyzers: () => [{ name: 'short', analyze: () => ({}), analyzeBatch: () => [{}] }] });
    await expect(p.runBatch([input('a'), input('b')], 0)).rejects.toThrow('analyzer "short" failed: analyzeBatch returned 1 outputs for 2 frames');
  });

  it('runs an analyzer of name and analyze alone, refusing a setting it cannot take', async () => {
    const p = new StreamPipelines({ analyzers: ['bare'], createAnalyzers: () => [{ name: 'bare', analyze: () => detections(2) }] });
    expect((await p.run('a', input('a'), 0)).detections?.detections).toHaveLength(2);
    expect(p.settings()).toEqual({ bare: { enabled: true } });
    expect(() => p.configure('bare', { threshold: 3 })).toThrow('bare.threshold: this analyzer takes no settings');
    p.configure('bare', { enabled: false });
    expect((await p.run('a', input('a'), 1)).detections).toBeUndefined();
  });
});
