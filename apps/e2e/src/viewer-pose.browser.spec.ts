// The viewer draws COCO poses as skeletons and labels detections with class and score (issue 18), in
// real browsers (those of viewer.browser.spec.ts) against a real pipeline: supplier, gateway,
// synthetic capture and a real worker whose analyzer (a module this test writes) answers every
// frame with two persons' COCO keypoints (the pose analyzer's point definition, one point missing)
// and two detections at known places. On a frame whose keypoints and detections matched exactly,
// the limbs lie along their segments in the person's colour for their side, no line joins two
// persons, the page says it drew exactly the limbs whose two ends are present, the labels read
// "person 0.87" and "car 0.50" (white on dark, the second moved inside the frame), and the pointer
// over a point shows its name and confidence.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForHealth } from '@framewire/testing';
import { BrowserKind, BrowserPage } from './support/browser';
import { Pipeline, sleep, startPipeline } from './support/pipeline';
import { CanvasSample, colorAround, consoleErrorsBut, near, pageInBrowser, PageElement, pixel, Rgb, sampleCanvas, viewerBrowsers } from './support/viewer-canvas';

const STREAM = 'cam-pose';
const WORKER = 'pose-fixture';
const FPS = 15;
const WIDTH = 640;
const HEIGHT = 480;
const PAGE_WAIT_MS = 30_000;
/** Samples of the canvas tried until one shows a frame with exactly matched overlays. */
const MAX_SAMPLES = 40;

/** The COCO points in COCO order (the pose analyzer's point_names: name → index). */
const COCO = ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle'] as const;
type CocoName = (typeof COCO)[number];

/** Person 3 facing the camera (its left on the image's right), its left wrist below the threshold
 *  (absent); person 1's right arm. Frame pixels and confidences. */
const PERSON_3: Partial<Record<CocoName, [number, number, number]>> = {
  nose: [200, 110, 0.95],
  left_eye: [210, 100, 0.9],
  right_eye: [190, 100, 0.9],
  left_ear: [222, 106, 0.8],
  right_ear: [178, 106, 0.8],
  left_shoulder: [240, 160, 0.85],
  right_shoulder: [160, 160, 0.85],
  left_elbow: [260, 220, 0.3],
  right_elbow: [140, 220, 0.8],
  right_wrist: [130, 280, 0.7],
  left_hip: [230, 280, 0.8],
  right_hip: [170, 280, 0.8],
  left_knee: [235, 340, 0.8],
  right_knee: [165, 340, 0.8],
  left_ankle: [240, 400, 0.6],
  right_ankle: [160, 400, 0.6],
};
const PERSON_1: Partial<Record<CocoName, [number, number, number]>> = {
  right_shoulder: [420, 150, 0.9],
  right_elbow: [440, 210, 0.9],
  right_wrist: [450, 270, 0.9],
};
/** The COCO skeleton has 19 limbs: person 3 lacks the one to its left wrist; person 1 has an arm's two. */
const LIMBS_DRAWN = 18 + 2;
/** Colours of the persons (apps/viewer skeleton.ts: palette entry id % 6; the left side the base
 *  mixed half with white, limbs across the body a quarter, the right side the base). */
const COLORS = {
  3: { right: [160, 110, 255], left: [208, 183, 255], centre: [184, 146, 255] },
  1: { right: [0, 215, 215], left: [128, 235, 235], centre: [64, 220, 220] },
} as const satisfies Record<number, Record<'left' | 'right' | 'centre', Rgb>>;
const PERSON_BOX = { x: 120, y: 90, width: 150, height: 320 };
/** At the frame's bottom right corner: its label, below it, would leave the frame. */
const CAR_BOX = { x: 560, y: 420, width: 80, height: 60 };
/** The labels' height (overlays.ts) and what counts as their white text. */
const LABEL_HEIGHT_PX = 13;
const TEXT_LEVEL = 180;

const keypointsOf = (personId: number, points: typeof PERSON_3) =>
  Object.entries(points).map(([name, [x, y, confidence]]) => ({ id: personId * COCO.length + COCO.indexOf(name as CocoName), x, y, confidence }));

/** What the test's analyzer returns for every frame. */
const OUTPUTS = {
  keypoints: { points: [...keypointsOf(3, PERSON_3), ...keypointsOf(1, PERSON_1)], pointNames: Object.fromEntries(COCO.map((name, k) => [name, k])) },
  detections: {
    detections: [
      { box: PERSON_BOX, score: 0.87, classId: 0, label: 'person' },
      { box: CAR_BOX, score: 0.5, classId: 2, label: 'car' },
    ],
  },
};

declare const document: { getElementById(id: string): PageElement | null };

const runnable = viewerBrowsers();
const describeWithBrowser = runnable.length > 0 ? describe : describe.skip;

/** Which of `colors` the pixel at (x, y) is (the nearest, within the tolerance), if any. */
function colorAt<K extends string>(s: CanvasSample, x: number, y: number, colors: Record<K, Rgb>): K | undefined {
  const p = pixel(s, Math.round(x), Math.round(y));
  const distance = (c: Rgb) => Math.max(...c.map((v, i) => Math.abs(v - p[i])));
  const candidates = (Object.keys(colors) as K[]).filter((k) => near(p, colors[k]));
  return candidates.sort((a, b) => distance(colors[a]) - distance(colors[b]))[0];
}

const midpoint = (a: readonly number[], b: readonly number[]) => [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] as const;

/** Whether the rectangle holds a pixel of white text. */
function textIn(s: CanvasSample, r: { x: number; y: number; width: number; height: number }): boolean {
  for (let y = r.y; y < r.y + r.height; y++) for (let x = r.x; x < r.x + r.width; x++) if (pixel(s, x, y).every((v) => v >= TEXT_LEVEL)) return true;
  return false;
}

describeWithBrowser('the viewer draws COCO poses and detection labels (real pipeline, a worker with a fixed pose)', () => {
  jest.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-viewer-pose-'));
  let pipeline: Pipeline;

  beforeAll(async () => {
    const analyzer = join(dir, 'pose-fixture-analyzer.cjs');
    writeFileSync(analyzer, `// The viewer-pose browser test's analyzer: the same pose and detections for every frame.\nconst OUTPUTS = ${JSON.stringify(OUTPUTS)};\nmodule.exports = { name: 'pose-fixture', analyze: () => JSON.parse(JSON.stringify(OUTPUTS)) };\n`);
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: FPS,
      width: WIDTH,
      height: HEIGHT,
      archiveDir: join(dir, 'archive'),
      workers: [WORKER],
      appEnv: { worker: { FW_WORKER_ANALYZERS: analyzer } },
    });
    await waitForHealth(pipeline.httpUrl, 200, 60_000);
  }, 120_000);

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  describe.each(runnable.map((kind) => [kind.name, kind] as const))('in %s', (_name, kind) => poseTests(kind, { pipeline: () => pipeline, dir }));
});

function poseTests(kind: BrowserKind, shared: { pipeline: () => Pipeline; dir: string }): void {
  const openPage = pageInBrowser(kind, shared.dir);
  let page: BrowserPage;
  beforeAll(() => {
    page = openPage();
  });

  /** A sample of a frame drawn with this frame's keypoints and detections. */
  async function matchedSample(): Promise<CanvasSample> {
    for (let attempt = 0; attempt < MAX_SAMPLES; attempt++) {
      const s = await sampleCanvas(page);
      if (s.exact.includes('keypoints') && s.exact.includes('detections')) return s;
      await sleep(100);
    }
    throw new Error(`no frame with its own keypoints and detections in ${MAX_SAMPLES} samples`);
  }

  it('draws the skeletons: limbs in the person\'s colour for their side, only between present points of one person', async () => {
    expect(await page.goto(`http://127.0.0.1:${shared.pipeline().ports.http}/`, PAGE_WAIT_MS)).toBe(200);
    await page.waitForFunction(() => Number(document.getElementById('video')!.dataset.framesShown ?? 0) > 3, undefined, PAGE_WAIT_MS);
    const s = await matchedSample();
    expect({ width: s.width, height: s.height, limbs: s.limbs }).toEqual({ width: WIDTH, height: HEIGHT, limbs: LIMBS_DRAWN });
    const p3 = PERSON_3 as Record<CocoName, [number, number, number]>;
    const p1 = PERSON_1 as Record<CocoName, [number, number, number]>;
    const along: [string, readonly [number, number], Record<string, Rgb>, string][] = [
      ['person 3 left_hip-left_knee', midpoint(p3.left_hip, p3.left_knee), COLORS[3], 'left'],
      ['person 3 right_shoulder-right_elbow', midpoint(p3.right_shoulder, p3.right_elbow), COLORS[3], 'right'],
      ['person 3 left_shoulder-right_shoulder', midpoint(p3.left_shoulder, p3.right_shoulder), COLORS[3], 'centre'],
      ['person 3 right_knee-right_ankle', midpoint(p3.right_knee, p3.right_ankle), COLORS[3], 'right'],
      ['person 1 right_elbow-right_wrist', midpoint(p1.right_elbow, p1.right_wrist), COLORS[1], 'right'],
    ];
    expect(along.map(([limb, [x, y], colors]) => [limb, colorAt(s, x, y, colors)])).toEqual(along.map(([limb, , , side]) => [limb, side]));
    // No line between the persons (person 3's left elbow to person 1's right elbow), nor along the
    // missing forearm's direction beyond the elbow.
    const skeletonColors = [...Object.values(COLORS[3]), ...Object.values(COLORS[1])] as Rgb[];
    const [bx, by] = midpoint(p3.left_elbow, p1.right_elbow);
    expect(skeletonColors.some((c) => colorAround(s, bx, by, 3, c))).toBe(false);
    expect(skeletonColors.some((c) => colorAround(s, p3.left_elbow[0] + 12, p3.left_elbow[1] + 30, 3, c))).toBe(false);
  });

  it('labels detections with class and score, white on dark, inside the frame at its edge', async () => {
    const s = await matchedSample();
    expect(s.labels).toEqual(['person 0.87', 'car 0.50']);
    // Below the person's box; the car's, which would leave the frame, at the frame's bottom edge.
    expect(textIn(s, { x: PERSON_BOX.x, y: PERSON_BOX.y + PERSON_BOX.height + 2, width: 60, height: LABEL_HEIGHT_PX })).toBe(true);
    expect(textIn(s, { x: CAR_BOX.x - 10, y: HEIGHT - LABEL_HEIGHT_PX, width: WIDTH - CAR_BOX.x + 10, height: LABEL_HEIGHT_PX })).toBe(true);
  });

  it('shows the name and confidence of the point under the pointer', async () => {
    const scale = await page.evaluate((w) => document.getElementById('video')!.getBoundingClientRect().width / w, WIDTH);
    for (const [name, text] of [
      ['nose', 'person 3 nose 0.95'],
      ['left_elbow', 'person 3 left_elbow 0.30'],
    ] as const) {
      const [x, y] = PERSON_3[name]!;
      await page.hover('#video', x * scale, y * scale);
      await page.waitForFunction((t) => document.getElementById('video')!.title === t, text, PAGE_WAIT_MS);
    }
    await page.hover('#video', 600 * scale, 60 * scale);
    await page.waitForFunction(() => document.getElementById('video')!.title === '', undefined, PAGE_WAIT_MS);
  });

  it('logged no console error', () => {
    expect(consoleErrorsBut(page)).toEqual([]);
  });
}
