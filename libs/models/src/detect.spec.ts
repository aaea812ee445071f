// The detect analyzer with the real centernet model on a real photo (messi5.jpg): what it finds and
// where, the same photo at offsets in larger canvases (letterbox bands on either axis) and through a
// downscaled analysis image, tensors after many frames, and its settings.
import { AnalyzerInput, AnalyzerSettingsError, RgbImage } from '@framewire/analysis';
import { Box, Detection } from '@framewire/proto';
import { DetectAnalyzer } from './detect';
import { findModelsDirectory } from './model-files';
import { ModelRunner } from './model-runner';
import { halved, inputOf, MESSI_JPG, placedOnCanvas, readRgbImage } from './test-images';

jest.setTimeout(120_000);

let runner: ModelRunner;
let messi: RgbImage;

beforeAll(async () => {
  runner = await ModelRunner.start({ model: 'centernet', modelsDir: findModelsDirectory() });
  messi = await readRgbImage(MESSI_JPG);
});
afterAll(() => runner.close());

function best(detections: readonly Detection[], label: string): Detection {
  const found = detections.filter((d) => d.label === label).sort((a, b) => b.score - a.score)[0];
  if (found === undefined) throw new Error(`no ${label} among ${detections.map((d) => d.label).join(', ')}`);
  return found;
}

async function playerAndBall(detector: DetectAnalyzer, input: AnalyzerInput): Promise<{ person: Box; ball: Box }> {
  const all = (await detector.analyze(input)).detections!.detections;
  return { person: best(all, 'person').box!, ball: best(all, 'sports ball').box! };
}

// Tolerances of the offset test. On a canvas the model sees the photo at half the scale it sees it
// alone (0.5 against 0.93 input pixels per photo pixel): one cell of its 4-pixel output grid is 8
// canvas pixels, and what it resolves differs. Measured: the ball's edges move by the offset within
// 3.8 px, the player's within 18 px (the outstretched hand: the left edge). A mapping error would be
// far larger: a band not undone is 88..144 input pixels (176..288 canvas pixels), a scale not
// applied halves every coordinate.
/** Less than one output cell: a compact object is found the same at either scale. */
const BALL_TOLERANCE_PX = 6;
/** Three output cells: the thin limbs at the player's edges are resolved differently at half the scale. */
const PLAYER_TOLERANCE_PX = 24;

function shifted(box: Box, dx: number, dy: number): Box {
  return { x: box.x + dx, y: box.y + dy, width: box.width, height: box.height };
}

function expectBoxNear(actual: Box, expected: Box, tolerancePx: number): void {
  const edges = (b: Box) => [b.x, b.y, b.x + b.width, b.y + b.height];
  const a = edges(actual);
  const e = edges(expected);
  for (let i = 0; i < 4; i++) expect(Math.abs(a[i] - e[i])).toBeLessThanOrEqual(tolerancePx);
}

describe('DetectAnalyzer', () => {
  it('finds the player and the ball of messi5.jpg where they are, labelled with COCO names', async () => {
    // The ball scores 0.36 here, under the default minScore (0.42, chosen on vtest.avi's churn).
    const detector = new DetectAnalyzer(runner, { minScore: 0.3 });
    const { detections } = await detector.analyze(inputOf(messi));
    const all = detections!.detections;
    const person = best(all, 'person');
    const ball = best(all, 'sports ball');
    expect(person.classId).toBe(0);
    expect(ball.classId).toBe(32);
    // By eye on the photo: the player spans x 70..455 (hand to boot), y 60..335; the ball x 336..388, y 288..337.
    expectBoxNear(person.box!, { x: 70, y: 60, width: 385, height: 275 }, 25);
    expectBoxNear(ball.box!, { x: 336, y: 288, width: 52, height: 49 }, 8);
    expect(person.score).toBeGreaterThan(0.5);
    for (const d of all) {
      expect(d.score).toBeGreaterThanOrEqual(0.3);
      expect(d.box!.x).toBeGreaterThanOrEqual(0);
      expect(d.box!.y).toBeGreaterThanOrEqual(0);
      expect(d.box!.x + d.box!.width).toBeLessThanOrEqual(messi.width);
      expect(d.box!.y + d.box!.height).toBeLessThanOrEqual(messi.height);
    }
  });

  it('keeps one box per object: no two boxes of a class overlap by more than IoU 0.5', async () => {
    const { detections } = await new DetectAnalyzer(runner, { minScore: 0.1 }).analyze(inputOf(messi));
    const all = detections!.detections;
    expect(all.length).toBeGreaterThan(10);
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        if (all[i].classId !== all[j].classId) continue;
        const a = all[i].box!;
        const b = all[j].box!;
        const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
        const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
        const inter = w > 0 && h > 0 ? w * h : 0;
        expect(inter / (a.width * a.height + b.width * b.height - inter)).toBeLessThanOrEqual(0.5);
      }
    }
  });

  describe('places boxes in frame pixels wherever the photo is (the offset test)', () => {
    let alone: { person: Box; ball: Box };
    beforeAll(async () => {
      alone = await playerAndBall(new DetectAnalyzer(runner, { minScore: 0.3 }), inputOf(messi));
    });

    it.each([
      ['a wide canvas (bands above and below in the model input)', 1024, 448, 472, 104, 1],
      ['a tall canvas (bands left and right in the model input)', 640, 1024, 88, 600, 1],
      ['a wide canvas analysed at half its size (scale 2)', 1024, 448, 472, 104, 2],
    ])('on %s: the boxes move by the offset', async (_what, width, height, x, y, scale) => {
      const frame = placedOnCanvas(messi, width, height, x, y);
      const image = scale === 1 ? frame : await halved(frame);
      // The ball is smaller at this scale: it scores below the default minScore.
      const found = await playerAndBall(new DetectAnalyzer(runner, { minScore: 0.1 }), inputOf(image, { scale, frame }));
      expectBoxNear(found.ball, shifted(alone.ball, x, y), BALL_TOLERANCE_PX);
      expectBoxNear(found.person, shifted(alone.person, x, y), PLAYER_TOLERANCE_PX);
    });
  });

  it('leaks no tensor: the model thread holds as many after 20 frames as after one', async () => {
    const detector = new DetectAnalyzer(runner);
    await detector.analyze(inputOf(messi));
    const after1 = await runner.memory();
    for (let i = 0; i < 20; i++) await detector.analyze(inputOf(messi, { frameSequence: i + 2 }));
    expect(await runner.memory()).toEqual(after1);
  });

  it('refuses bad settings with an error naming the setting, and keeps its settings', () => {
    const detector = new DetectAnalyzer(runner);
    expect(() => detector.configure({ minScore: 2 })).toThrow(new AnalyzerSettingsError('detect', 'minScore', 'must be between 0 and 1, got 2'));
    expect(() => detector.configure({ maxDetections: 1.5 })).toThrow('detect.maxDetections: must be an integer, got 1.5');
    expect(() => new DetectAnalyzer(runner, { maxBoxes: 3 })).toThrow('detect.maxBoxes: unknown setting');
    expect(detector.settings()).toEqual({ minScore: 0.42, keepScore: 0.25, maxDetections: 100 });
    detector.configure({ minScore: 0.6, maxDetections: 1 });
    expect(detector.settings()).toEqual({ minScore: 0.6, keepScore: 0.25, maxDetections: 1 });
  });

  it('keeps at most maxDetections, the highest scores', async () => {
    const { detections } = await new DetectAnalyzer(runner, { maxDetections: 1 }).analyze(inputOf(messi));
    expect(detections!.detections).toHaveLength(1);
    expect(detections!.detections[0].label).toBe('person');
  });
});

describe('DetectAnalyzer hysteresis (a scripted model: rows of [x1, y1, x2, y2, score, class] per frame)', () => {
  /** A stand-in for the centernet runner that answers each frame with the next scripted rows. */
  function scripted(frames: number[][][]) {
    let next = 0;
    return {
      model: 'centernet' as const,
      run: async () => {
        const rows = frames[next++] ?? [];
        const data = new Float32Array(100 * 6);
        rows.forEach((r, i) => data.set(r, i * 6));
        return { outputs: [{ name: 'tower_0/detections', shape: [1, 100, 6], data }], inferenceMs: 0 };
      },
    };
  }
  const frame: RgbImage = { width: 512, height: 512, data: new Uint8Array(512 * 512 * 3) };
  const labelsOf = async (d: DetectAnalyzer) => (await d.analyze(inputOf(frame))).detections!.detections.map((x) => `${x.label} ${x.score.toFixed(2)}`);

  it('keeps an object found in the previous frame while its score dips to keepScore, and lets no new one in below minScore', async () => {
    const person = (score: number) => [100, 100, 140, 200, score, 0];
    const cone = (score: number) => [300, 300, 320, 330, score, 9];
    const detector = new DetectAnalyzer(
      scripted([
        [person(0.5), cone(0.3)], // the cone is new and below minScore: not in
        [person(0.3), cone(0.3)], // the person continues at 0.3: in; the cone still not
        [person(0.2), cone(0.45)], // below keepScore: out; the cone reaches minScore: in
        [person(0.3), cone(0.3)], // the person is new again: not in; the cone continues
        [person(0.3)],
      ]) as never,
    );
    expect(await labelsOf(detector)).toEqual(['person 0.50']);
    expect(await labelsOf(detector)).toEqual(['person 0.30']);
    expect(await labelsOf(detector)).toEqual(['traffic light 0.45']);
    expect(await labelsOf(detector)).toEqual(['traffic light 0.30']);
    detector.reset();
    expect(await labelsOf(detector)).toEqual([]);
  });

  it('continues only an object of the same class', async () => {
    const detector = new DetectAnalyzer(scripted([[[100, 100, 140, 200, 0.6, 2]], [[100, 100, 140, 200, 0.3, 7]]]) as never);
    expect(await labelsOf(detector)).toEqual(['car 0.60']);
    expect(await labelsOf(detector)).toEqual([]);
  });
});
