// The pose analyzer with the real MoveNet MultiPose model on a real photo (messi5.jpg): one person
// with a plausible skeleton, ids stable across frames, the same photo at offsets in larger canvases
// (letterbox bands on either axis) and through a downscaled analysis image, its detections only
// when no analyzer before it made some, tensors after many frames, and its settings.
import { AnalyzerInput, AnalyzerSettingsError, RgbImage } from '@framewire/analysis';
import { KeyPoint } from '@framewire/proto';
import { COCO_KEYPOINT_NAMES, COCO_POINT_NAMES, CocoKeypointName } from './coco';
import { findModelsDirectory } from './model-files';
import { ModelRunner } from './model-runner';
import { MAX_POSE_PERSON_ID, personIdOf, PoseAnalyzer, poseKeypointId } from './pose';
import { halved, inputOf, MESSI_JPG, placedOnCanvas, readRgbImage } from './test-images';

jest.setTimeout(120_000);

let runner: ModelRunner;
let messi: RgbImage;

beforeAll(async () => {
  runner = await ModelRunner.start({ model: 'movenet-multipose', modelsDir: findModelsDirectory() });
  messi = await readRgbImage(MESSI_JPG);
});
afterAll(() => runner.close());

/** The keypoints of each of `frames` frames of the same image (a new track is confirmed at its third). */
async function keypointsOver(pose: PoseAnalyzer, frames: number, input: (sequence: number) => AnalyzerInput): Promise<KeyPoint[][]> {
  const out: KeyPoint[][] = [];
  for (let i = 1; i <= frames; i++) out.push((await pose.analyze(input(i))).keypoints!.points);
  return out;
}

function named(points: readonly KeyPoint[]): Partial<Record<CocoKeypointName, KeyPoint>> {
  return Object.fromEntries(points.map((p) => [COCO_KEYPOINT_NAMES[p.id % 17], p]));
}

describe('PoseAnalyzer', () => {
  it('finds the player of messi5.jpg with a skeleton: nose above shoulders above hips above ankles, inside his box', async () => {
    const pose = new PoseAnalyzer(runner);
    const frames = await keypointsOver(pose, 3, (i) => inputOf(messi, { frameSequence: i }));
    const out = await pose.analyze(inputOf(messi, { frameSequence: 4 }));
    const people = out.detections!.detections;
    expect(people).toHaveLength(1);
    expect(people[0]).toMatchObject({ classId: 0, label: 'person' });
    const box = people[0].box!;
    // By eye: the player spans x 70..455, y 60..335.
    expect(box.x).toBeLessThan(120);
    expect(box.x + box.width).toBeGreaterThan(420);
    expect(box.y).toBeLessThan(90);
    expect(box.y + box.height).toBeGreaterThan(310);
    expect(out.keypoints!.pointNames).toEqual(COCO_POINT_NAMES);
    expect(frames[2].length).toBeGreaterThanOrEqual(15);
    const p = named(out.keypoints!.points);
    expect(p.nose!.y).toBeLessThan(p.left_shoulder!.y);
    expect(p.nose!.y).toBeLessThan(p.right_shoulder!.y);
    expect(Math.max(p.left_shoulder!.y, p.right_shoulder!.y)).toBeLessThan(Math.min(p.left_hip!.y, p.right_hip!.y));
    expect(Math.max(p.left_hip!.y, p.right_hip!.y)).toBeLessThan(Math.max(p.left_ankle!.y, p.right_ankle!.y));
    // The head by eye: x 205..265, y 60..120.
    expect(p.nose!.x).toBeGreaterThan(205);
    expect(p.nose!.x).toBeLessThan(265);
    for (const point of out.keypoints!.points) {
      expect(point.confidence).toBeGreaterThanOrEqual(0.3);
      expect(point.x).toBeGreaterThanOrEqual(Math.floor(box.x));
      expect(point.x).toBeLessThanOrEqual(Math.ceil(box.x + box.width));
      expect(point.y).toBeGreaterThanOrEqual(Math.floor(box.y));
      expect(point.y).toBeLessThanOrEqual(Math.ceil(box.y + box.height));
    }
  });

  it('publishes a person once its track is confirmed (third frame), then under the same ids every frame', async () => {
    const pose = new PoseAnalyzer(runner);
    const frames = await keypointsOver(pose, 6, (i) => inputOf(messi, { frameSequence: i }));
    expect(frames[0]).toEqual([]);
    expect(frames[1]).toEqual([]);
    const personIds = frames.slice(2).map((points) => new Set(points.map((p) => Math.floor(p.id / 17))));
    for (const ids of personIds) expect([...ids]).toEqual([1]);
    expect(frames[2].map((p) => p.id)).toContain(poseKeypointId(1, 0));
    // reset() forgets the person: a new track, a new id, never the old one.
    pose.reset();
    const again = await keypointsOver(pose, 3, (i) => inputOf(messi, { frameSequence: 10 + i }));
    expect(new Set(again[2].map((p) => Math.floor(p.id / 17)))).toEqual(new Set([2]));
  });

  describe('places points in frame pixels wherever the photo is (the offset test)', () => {
    let alone: Partial<Record<CocoKeypointName, KeyPoint>>;
    beforeAll(async () => {
      const frames = await keypointsOver(new PoseAnalyzer(runner), 3, (i) => inputOf(messi, { frameSequence: i }));
      alone = named(frames[2]);
    });

    // The photo alone at inputSize 256 is seen at 0.467 input pixels per photo pixel; these canvases
    // at inputSize 480 at 0.469: the model sees the photo at the same scale, only elsewhere.
    it.each([
      ['a wide canvas (bands above and below in the model input)', 1024, 448, 472, 104, 1],
      ['a tall canvas (bands left and right in the model input)', 640, 1024, 88, 600, 1],
      ['a wide canvas analysed at half its size (scale 2)', 1024, 448, 472, 104, 2],
    ])('on %s: the points move by the offset', async (_what, width, height, x, y, scale) => {
      const frame = placedOnCanvas(messi, width, height, x, y);
      const image = scale === 1 ? frame : await halved(frame);
      const frames = await keypointsOver(new PoseAnalyzer(runner, { inputSize: 480 }), 3, (i) => inputOf(image, { scale, frame, frameSequence: i }));
      const moved = named(frames[2]);
      const compared = COCO_KEYPOINT_NAMES.filter((n) => (alone[n]?.confidence ?? 0) >= STRONG_POINT && (moved[n]?.confidence ?? 0) >= STRONG_POINT);
      expect(compared.length).toBeGreaterThanOrEqual(10);
      const dx = compared.map((n) => Math.abs(moved[n]!.x - x - alone[n]!.x));
      const dy = compared.map((n) => Math.abs(moved[n]!.y - y - alone[n]!.y));
      expect(Math.max(...dx, ...dy)).toBeLessThanOrEqual(POINT_TOLERANCE_PX);
      expect(median(dx)).toBeLessThanOrEqual(MEDIAN_TOLERANCE_PX);
      expect(median(dy)).toBeLessThanOrEqual(MEDIAN_TOLERANCE_PX);
    });
  });

  it('publishes its people as detections only when no analyzer before it published detections', async () => {
    const pose = new PoseAnalyzer(runner);
    const alone = await pose.analyze(inputOf(messi));
    expect(alone.detections!.detections.map((d) => d.label)).toEqual(['person']);
    const afterDetect = await pose.analyze({ ...inputOf(messi, { frameSequence: 2 }), earlier: { detections: { detections: [] } } });
    expect(afterDetect.detections).toBeUndefined();
    expect(afterDetect.keypoints).toBeDefined();
  });

  it('leaks no tensor: the model thread holds as many after 20 frames as after one', async () => {
    const pose = new PoseAnalyzer(runner);
    await pose.analyze(inputOf(messi));
    const after1 = await runner.memory();
    for (let i = 0; i < 20; i++) await pose.analyze(inputOf(messi, { frameSequence: i + 2 }));
    expect(await runner.memory()).toEqual(after1);
  });

  it('keeps keypoint ids in a uint32: track ids beyond MAX_POSE_PERSON_ID wrap to 1', () => {
    expect(poseKeypointId(personIdOf(MAX_POSE_PERSON_ID), 16)).toBeLessThanOrEqual(2 ** 32 - 1);
    expect(personIdOf(MAX_POSE_PERSON_ID + 1)).toBe(1);
    // The tracker's largest id (2^29 - 1).
    expect(poseKeypointId(personIdOf(2 ** 29 - 1), 16)).toBeLessThanOrEqual(2 ** 32 - 1);
  });

  it('refuses bad settings with an error naming the setting, and keeps its settings', () => {
    const pose = new PoseAnalyzer(runner);
    expect(() => pose.configure({ inputSize: 200 })).toThrow(new AnalyzerSettingsError('pose', 'inputSize', 'must be a multiple of 32, got 200'));
    expect(() => pose.configure({ inputSize: 96 })).toThrow('pose.inputSize: must be between 128 and 512, got 96');
    expect(() => pose.configure({ minKeypointScore: -0.1 })).toThrow('pose.minKeypointScore: must be between 0 and 1, got -0.1');
    expect(() => new PoseAnalyzer(runner, { minPersonScore: 'high' })).toThrow('pose.minPersonScore: must be a finite number, got "high"');
    expect(pose.settings()).toEqual({ minPersonScore: 0.1, minKeypointScore: 0.3, inputSize: 256 });
    pose.configure({ inputSize: 320, minKeypointScore: 0.5 });
    expect(pose.settings()).toEqual({ minPersonScore: 0.1, minKeypointScore: 0.5, inputSize: 320 });
  });
});

/** Points the model is sure of in both views. */
const STRONG_POINT = 0.3;
// Tolerances of the offset test. The model sees the same photo pixels at the same scale, at another
// place of its input; its heatmap cells are 4 input pixels (8.5 photo pixels at this scale), refined
// by regressed offsets, and its context (band, canvas) differs. Measured over the three cases: the
// median point moves by the offset within 1 px, the worst (an ankle, a wrist) within 11 px. A mapping
// error would be far larger: a band not undone is 60..150 frame pixels, a scale not applied halves
// every coordinate.
/** A little over one heatmap cell, for any single point. */
const POINT_TOLERANCE_PX = 12;
/** Half a cell for the typical point: the skeleton as a whole moves exactly. */
const MEDIAN_TOLERANCE_PX = 3;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
