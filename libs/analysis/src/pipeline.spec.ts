// Settings validation, the pipeline's on/off and configure, the factory, the motion analyzer's
// settings at work on drawn frames, and keypoints from hand-made tracks and polygons.
import fc from 'fast-check';
import { Analyzer, AnalyzerInput, AnalyzerSettingsError, RgbImage } from './analyzer';
import { UnknownAnalyzerError } from './errors';
import { decodeStage } from '@framewire/overlay-codecs';
import { extremePoints, KEYPOINT_STAGE_LAYERS, KEYPOINT_STAGE_POINT_RADIUS_PX, KeypointsAnalyzer, keypointId, polygonCentroid } from './keypoints';
import { MOTION_SETTINGS, MotionAnalyzer } from './motion';
import { AnalysisPipeline, BUILT_IN_ANALYZERS, createAnalyzers, PipelineInput } from './pipeline';
import { applySettings, defaultSettings, SettingsSpec } from './settings';
import { KEYPOINT_SETTINGS } from './keypoints';
import { TRACK_SETTINGS } from './tracker';

const W = 80;
const H = 60;
const BACKGROUND = [20, 20, 30];

/** A frame with filled rectangles [x, y, w, h] in white on a dark background. */
function frame(rects: [number, number, number, number][]): RgbImage {
  const data = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) data.set(BACKGROUND, i * 3);
  for (const [x0, y0, w, h] of rects) for (let y = y0; y < y0 + h; y++) for (let x = x0; x < x0 + w; x++) data.set([230, 230, 230], (y * W + x) * 3);
  return { width: W, height: H, data };
}

function input(n: number, image: RgbImage, scale = 1): PipelineInput {
  return { streamId: 's', frameSequence: n, captureTimeUs: n * 100_000, frameWidth: W * scale, frameHeight: H * scale, image, scale };
}

describe('settings validation', () => {
  it('names the analyzer, the setting and what it accepts', () => {
    const motion = new MotionAnalyzer();
    expect(() => motion.configure({ threshold: 0 })).toThrow(new AnalyzerSettingsError('motion', 'threshold', 'must be between 1 and 255, got 0'));
    expect(() => motion.configure({ threshold: 2.5 })).toThrow('motion.threshold: must be an integer, got 2.5');
    expect(() => motion.configure({ threshold: '40' })).toThrow('motion.threshold: must be a finite number, got "40"');
    expect(() => motion.configure({ thresh: 40 })).toThrow(/^motion\.thresh: unknown setting \(known: threshold, minArea/);
    expect(() => new MotionAnalyzer({ maxObjects: 256 })).toThrow(AnalyzerSettingsError);
  });

  it('changes nothing when any value of a change is refused', () => {
    const tracks = createAnalyzers(['tracks'])[0] as Required<Analyzer>;
    const before = tracks.settings();
    expect(() => tracks.configure({ maxMisses: 9, minHits: -1 })).toThrow(AnalyzerSettingsError);
    expect(tracks.settings()).toEqual(before);
    tracks.configure({ maxMisses: 9 });
    expect(tracks.settings()).toEqual({ ...before, maxMisses: 9 });
  });

  it('accepts exactly the in-range values of every built-in setting (property)', () => {
    for (const spec of [MOTION_SETTINGS, TRACK_SETTINGS, KEYPOINT_SETTINGS] as SettingsSpec<string>[]) {
      const names = Object.keys(spec);
      fc.assert(
        fc.property(fc.constantFrom(...names), fc.oneof(fc.double(), fc.integer({ min: -1000, max: 100000 }), fc.string(), fc.constant(null), fc.boolean()), (name, value) => {
          const s = spec[name];
          const ok = typeof value === 'number' && Number.isFinite(value) && value >= s.min && value <= s.max && (!s.integer || Number.isInteger(value));
          const current = defaultSettings(spec);
          let result: Record<string, number> | undefined;
          let error: unknown;
          try {
            result = applySettings('a', spec, current, { [name]: value });
          } catch (err) {
            error = err;
          }
          if (ok) expect(result).toEqual({ ...current, [name]: value });
          else {
            expect(error).toBeInstanceOf(AnalyzerSettingsError);
            expect((error as AnalyzerSettingsError).setting).toBe(name);
          }
          expect(current).toEqual(defaultSettings(spec));
        }),
      );
    }
  });
});

describe('createAnalyzers', () => {
  it('builds the built-ins in the order given and refuses unknown or repeated names', () => {
    expect(createAnalyzers(['tracks', 'motion']).map((a) => a.name)).toEqual(['tracks', 'motion']);
    expect(() => createAnalyzers(['motion', 'pose'])).toThrow(new UnknownAnalyzerError('pose', BUILT_IN_ANALYZERS));
    expect(() => createAnalyzers(['motion', 'motion'])).toThrow(AnalyzerSettingsError);
  });
});

describe('AnalysisPipeline', () => {
  async function runObjectAcross(pipeline: AnalysisPipeline, from: number, to: number) {
    let out = await pipeline.run(input(from, frame([])));
    for (let n = from + 1; n <= to; n++) out = await pipeline.run(input(n, frame([[5 + 3 * (n - from), 20, 10, 10]]))); // moves 30 px/s
    return out;
  }

  it('runs motion → tracks → keypoints, each seeing the earlier outputs', async () => {
    const pipeline = new AnalysisPipeline(createAnalyzers(BUILT_IN_ANALYZERS));
    const out = await runObjectAcross(pipeline, 0, 6);
    expect(out.detections!.detections).toHaveLength(1);
    expect(out.segmentation!.instances).toHaveLength(1);
    expect(out.tracks!.tracks).toHaveLength(1);
    expect(out.tracks!.tracks[0].velocityX).toBeCloseTo(30);
    const id = out.tracks!.tracks[0].trackId;
    expect(out.keypoints!.points.map((p) => p.id)).toEqual([0, 1, 2, 3, 4].map((k) => id * 8 + k));
  });

  it('gives a disabled analyzer’s dependants empty inputs, and resets it when switched back on', async () => {
    const pipeline = new AnalysisPipeline(createAnalyzers(BUILT_IN_ANALYZERS));
    await runObjectAcross(pipeline, 0, 6);
    pipeline.setEnabled('motion', false);
    const out = await pipeline.run(input(7, frame([[26, 20, 10, 10]])));
    expect(out.detections).toBeUndefined();
    expect(out.segmentation).toBeUndefined();
    expect(out.tracks!.tracks[0].misses).toBe(1);
    expect(out.keypoints!.points).toEqual([]);
    pipeline.configure('motion', { enabled: true });
    // Reset: the first frame after re-enabling only seeds the background.
    expect((await pipeline.run(input(8, frame([[29, 20, 10, 10]])))).detections!.detections).toEqual([]);
    expect(pipeline.settings().motion.enabled).toBe(true);
  });

  it('configures by name, reports every analyzer’s settings with enabled, and refuses unknown names', () => {
    const pipeline = new AnalysisPipeline(createAnalyzers(BUILT_IN_ANALYZERS));
    pipeline.configure('motion', { threshold: 50, enabled: false });
    expect(pipeline.settings().motion).toEqual({ enabled: false, ...new MotionAnalyzer({ threshold: 50 }).settings() });
    expect(Object.keys(pipeline.settings())).toEqual(['motion', 'tracks', 'keypoints']);
    expect(() => pipeline.configure('motion', { enabled: 'yes' })).toThrow('motion.enabled: must be true or false, got "yes"');
    expect(() => pipeline.configure('pose', {})).toThrow(UnknownAnalyzerError);
    expect(() => pipeline.setEnabled('pose', true)).toThrow(UnknownAnalyzerError);
  });
});

describe('MotionAnalyzer settings at work', () => {
  function analyze(motion: MotionAnalyzer, n: number, rects: [number, number, number, number][], scale = 1) {
    return motion.analyze({ ...input(n, frame(rects), scale), earlier: {} } as AnalyzerInput);
  }

  it('reports boxes and polygons in frame pixels (scale), largest first, capped by maxObjects and minArea', () => {
    const motion = new MotionAnalyzer({ maxObjects: 2, minArea: 40, simplifyEpsilon: 1 });
    analyze(motion, 0, [], 2);
    const out = analyze(motion, 1, [[10, 10, 8, 8], [40, 10, 6, 6], [60, 40, 5, 5], [70, 50, 2, 2]], 2);
    expect(out.detections!.detections.map((d) => d.box)).toEqual([
      { x: 20, y: 20, width: 16, height: 16 },
      { x: 80, y: 20, width: 12, height: 12 },
    ]);
    expect(out.segmentation).toMatchObject({ width: 160, height: 120 });
    expect(out.segmentation!.instances.map((i) => i.instanceId)).toEqual([1, 2]);
    expect(out.segmentation!.instances[0].points).toEqual([21, 21, 35, 21, 35, 35, 21, 35]);
    motion.configure({ maxObjects: 10, minArea: 1 });
    expect(analyze(motion, 2, [[10, 10, 8, 8], [40, 10, 6, 6], [60, 40, 5, 5], [70, 50, 2, 2]], 2).detections!.detections).toHaveLength(4);
  });

  it('ignores differences at or below threshold', () => {
    const motion = new MotionAnalyzer({ threshold: 250, minArea: 1 });
    analyze(motion, 0, []);
    expect(analyze(motion, 1, [[10, 10, 8, 8]]).detections!.detections).toEqual([]);
    motion.configure({ threshold: 30 });
    expect(analyze(motion, 2, [[10, 10, 8, 8]]).detections!.detections).toHaveLength(1);
  });

  it('heals the ghost of an object that was in the first frame once it has moved away', () => {
    const motion = new MotionAnalyzer({ minArea: 1 });
    analyze(motion, 0, [[10, 10, 8, 8]]);
    const out = analyze(motion, 1, [[40, 30, 8, 8]]);
    expect(out.detections!.detections.map((d) => d.box)).toEqual([{ x: 40, y: 30, width: 8, height: 8 }]);
    expect(analyze(motion, 2, [[42, 30, 8, 8]]).detections!.detections).toHaveLength(1);
  });
});

describe('keypoints', () => {
  it('numbers points trackId * 8 + kind and names them t<id>.<kind>', () => {
    const kp = new KeypointsAnalyzer();
    const square = [10, 10, 30, 10, 30, 30, 10, 30];
    const out = kp.analyze({
      ...input(1, frame([])),
      earlier: {
        segmentation: { width: 80, height: 60, instances: [{ classId: 1, instanceId: 1, confidence: 0.8, points: square }] },
        tracks: {
          tracks: [
            { trackId: 3, box: { x: 10, y: 10, width: 21, height: 21 }, velocityX: 0, velocityY: 0, ageFrames: 5, hits: 5, misses: 0 },
            { trackId: 4, box: { x: 50, y: 40, width: 10, height: 10 }, velocityX: 0, velocityY: 0, ageFrames: 5, hits: 5, misses: 0 },
            { trackId: 5, box: { x: 10, y: 10, width: 21, height: 21 }, velocityX: 0, velocityY: 0, ageFrames: 5, hits: 5, misses: 2 },
          ],
        },
      },
    });
    expect(out.keypoints!.points).toEqual([
      { id: 24, x: 20, y: 20, confidence: expect.closeTo(0.8) },
      { id: 25, x: 20, y: 10, confidence: expect.closeTo(0.8) },
      { id: 26, x: 30, y: 20, confidence: expect.closeTo(0.8) },
      { id: 27, x: 20, y: 30, confidence: expect.closeTo(0.8) },
      { id: 28, x: 10, y: 20, confidence: expect.closeTo(0.8) },
      // No polygon for track 4: its box centre only, at reduced confidence.
      { id: 32, x: 55, y: 45, confidence: 0.5 },
    ]);
    expect(out.keypoints!.pointNames).toEqual({ 't3.centroid': 24, 't3.top': 25, 't3.right': 26, 't3.bottom': 27, 't3.left': 28, 't4.centroid': 32 });
    expect(keypointId(3, 'left')).toBe(28);

    // The same points as a stage overlay: links from each centroid, a dot per point, a label per track.
    const stage = decodeStage(out.stage!);
    expect(stage.frameId).toBe(1n);
    expect(stage.layers.map((l) => l.layerId)).toEqual([KEYPOINT_STAGE_LAYERS.links, KEYPOINT_STAGE_LAYERS.points, KEYPOINT_STAGE_LAYERS.labels]);
    const ops = (layer: number) => {
      const l = stage.layers.find((x) => x.layerId === layer)!;
      return l.type === 'master' ? l.ops.filter((o) => o.op !== 'setContext') : [];
    };
    expect(ops(KEYPOINT_STAGE_LAYERS.links)).toEqual([20, 10, 30, 20, 20, 30, 10, 20].reduce<object[]>((acc, v, i, a) => (i % 2 ? acc : [...acc, { op: 'line', x1: 20, y1: 20, x2: v, y2: a[i + 1] }]), []));
    expect(ops(KEYPOINT_STAGE_LAYERS.points)).toHaveLength(6);
    expect(ops(KEYPOINT_STAGE_LAYERS.points)[0]).toEqual({ op: 'circle', cx: 20, cy: 20, radius: KEYPOINT_STAGE_POINT_RADIUS_PX });
    expect(ops(KEYPOINT_STAGE_LAYERS.labels).map((o) => (o as { text: string }).text)).toEqual(['t3', 't4']);
  });

  it('outputs a stage message of its own per frame (not a view that the next frame rewrites), or none when stage is 0', () => {
    const kp = new KeypointsAnalyzer();
    const track = (id: number) => ({ trackId: id, box: { x: 10, y: 10, width: 10, height: 10 }, velocityX: 0, velocityY: 0, ageFrames: 5, hits: 5, misses: 0 });
    const first = kp.analyze({ ...input(1, frame([])), earlier: { tracks: { tracks: [track(1)] } } }).stage!;
    const copy = first.slice();
    kp.analyze({ ...input(2, frame([])), earlier: { tracks: { tracks: [track(2), track(3)] } } });
    expect(first).toEqual(copy);
    const empty = decodeStage(kp.analyze({ ...input(3, frame([])), earlier: {} }).stage!);
    // Empty master layers: the viewer clears what the previous frame drew.
    expect(empty.layers.every((l) => l.type === 'master' && l.ops.every((o) => o.op === 'setContext'))).toBe(true);
    kp.configure({ stage: 0 });
    expect(kp.analyze({ ...input(4, frame([])), earlier: {} }).stage).toBeUndefined();
  });

  it('takes the area centroid and the extreme vertices of a polygon', () => {
    const triangle = [10, 0, 20, 20, 0, 20];
    expect(polygonCentroid(triangle).x).toBeCloseTo(10);
    expect(polygonCentroid(triangle).y).toBeCloseTo(40 / 3);
    expect(extremePoints(triangle)).toEqual({ top: { x: 10, y: 0 }, right: { x: 20, y: 20 }, bottom: { x: 10, y: 20 }, left: { x: 0, y: 20 } });
  });
});
