// The person-seg analyzer on a real photo (messi5.jpg from Debian's opencv-doc) with the real selfie
// model on its thread.
import type { AnalyzerInput, RgbImage } from '@framewire/analysis';
import { AnalyzerSettingsError } from '@framewire/analysis';
import type { Detection, SegmentationInstance } from '@framewire/proto';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { findModelsDirectory } from './model-files';
import { ModelRunner } from './model-runner';
import { PersonSegAnalyzer } from './person-seg';

const PHOTO = '/usr/share/doc/opencv-doc/examples/data/messi5.jpg';
const describeWithPhoto = existsSync(PHOTO) ? describe : describe.skip;
if (!existsSync(PHOTO)) console.warn(`person-seg.spec: skipped: ${PHOTO} is missing (Debian package opencv-doc)`);

async function photo(): Promise<RgbImage> {
  const { data, info } = await sharp(PHOTO).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data) };
}

/** `image` pasted at (dx, dy) on a grey canvas. */
function onCanvas(image: RgbImage, width: number, height: number, dx: number, dy: number): RgbImage {
  const data = new Uint8Array(width * height * 3).fill(100);
  for (let y = 0; y < image.height; y++) data.set(image.data.subarray(y * image.width * 3, (y + 1) * image.width * 3), ((y + dy) * width + dx) * 3);
  return { width, height, data };
}

function input(image: RgbImage, detections: Detection[] = [], extra: Partial<AnalyzerInput> = {}): AnalyzerInput {
  return { streamId: 'cam', frameSequence: 1, captureTimeUs: 1, frameWidth: image.width, frameHeight: image.height, image, scale: 1, earlier: { detections: { detections } }, ...extra };
}

function person(x: number, y: number, width: number, height: number): Detection {
  return { box: { x, y, width, height }, score: 0.9, classId: 0, label: 'person' };
}

function bounds(inst: SegmentationInstance): { minX: number; minY: number; maxX: number; maxY: number } {
  const xs = inst.points.filter((_, i) => i % 2 === 0);
  const ys = inst.points.filter((_, i) => i % 2 === 1);
  return { minX: Math.min(...xs), minY: Math.min(...ys), maxX: Math.max(...xs), maxY: Math.max(...ys) };
}

describeWithPhoto('PersonSegAnalyzer', () => {
  jest.setTimeout(60_000);
  let runner: ModelRunner;
  beforeAll(async () => {
    runner = await ModelRunner.start({ model: 'selfie', modelsDir: findModelsDirectory() });
  });
  afterAll(async () => {
    await runner.close();
  });

  it('traces the player of the photo as one polygon over his body, in frame pixels', async () => {
    const image = await photo();
    const out = await new PersonSegAnalyzer(runner).analyze(input(image));
    const instances = out.segmentation?.instances ?? [];
    expect(instances.length).toBeGreaterThanOrEqual(1);
    const b = bounds(instances[0]);
    // The player stands in the middle third of the photo, head near the top, feet near the bottom.
    expect(b.minX).toBeGreaterThan(image.width * 0.1);
    expect(b.maxX).toBeLessThan(image.width * 0.9);
    expect(b.maxY - b.minY).toBeGreaterThan(image.height * 0.5);
    expect(instances[0].classId).toBe(0);
    expect(instances[0].confidence).toBeGreaterThan(0.5);
  });

  it('segments each person box on its own crop: the same polygon, moved by exactly the offset, wherever the photo lies', async () => {
    const image = await photo();
    const box = person(150, 60, 200, 220);
    const alone = (await new PersonSegAnalyzer(runner).analyze(input(image, [box]))).segmentation?.instances ?? [];
    expect(alone).toHaveLength(1);
    for (const [width, height, dx, dy] of [
      [1200, 500, 300, 80],
      [700, 1100, 90, 500],
    ]) {
      const moved = (await new PersonSegAnalyzer(runner).analyze(input(onCanvas(image, width, height, dx, dy), [person(150 + dx, 60 + dy, 200, 220)]))).segmentation?.instances ?? [];
      expect(moved).toHaveLength(1);
      expect(moved[0].points).toEqual(alone[0].points.map((v, i) => v + (i % 2 === 0 ? dx : dy)));
    }
  });

  it('maps a downscaled analysis image back to frame pixels', async () => {
    const image = await photo();
    const half = await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } }).resize(image.width / 2, image.height / 2).raw().toBuffer();
    const small: RgbImage = { width: image.width / 2, height: image.height / 2, data: new Uint8Array(half) };
    const full = (await new PersonSegAnalyzer(runner).analyze(input(image))).segmentation?.instances ?? [];
    const scaled = (await new PersonSegAnalyzer(runner).analyze({ ...input(small), frameWidth: image.width, frameHeight: image.height, scale: 2 })).segmentation?.instances ?? [];
    const a = bounds(full[0]);
    const b = bounds(scaled[0]);
    // The same outline in frame pixels: most sides within a few pixels (two analysis pixels, one mask
    // pixel); the model may keep or lose a thin limb at the coarser scale (measured: the arm, 21 px).
    // Unmapped coordinates would be off by half the photo.
    const differences = (['minX', 'minY', 'maxX', 'maxY'] as const).map((k) => Math.abs(a[k] - b[k]));
    expect(differences.filter((d) => d <= 8).length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...differences)).toBeLessThanOrEqual(32);
  });

  it('names each person by the earlier track that is it', async () => {
    const image = await photo();
    const out = await new PersonSegAnalyzer(runner).analyze({
      ...input(image, [person(150, 60, 200, 220)]),
      earlier: { detections: { detections: [person(150, 60, 200, 220)] }, tracks: { tracks: [{ trackId: 42, box: { x: 155, y: 62, width: 195, height: 215 }, velocityX: 0, velocityY: 0, ageFrames: 5, hits: 5, misses: 0 }] } },
    });
    expect(out.segmentation?.instances.map((i) => i.instanceId)).toEqual([42]);
  });

  it('holds no tensor more after many frames than after one', async () => {
    const image = await photo();
    const analyzer = new PersonSegAnalyzer(runner);
    await analyzer.analyze(input(image));
    const after1 = await runner.memory();
    for (let i = 0; i < 20; i++) await analyzer.analyze(input(image, [person(150, 60, 200, 220), person(10, 10, 50, 80)]));
    expect(await runner.memory()).toEqual(after1);
  });

  it('refuses a setting out of range, naming it', () => {
    expect(() => new PersonSegAnalyzer(runner, { threshold: 2 })).toThrow(AnalyzerSettingsError);
    expect(() => new PersonSegAnalyzer(runner).configure({ maxPersons: -1 })).toThrow(/person-seg\.maxPersons/);
  });
});
