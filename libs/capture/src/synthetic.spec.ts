import { PixelFormat } from '@framewire/proto';
import sharp from 'sharp';
import { captureClockUs, FrameSchedule } from './frame';
import { frameNumberAt, objectCentroid, objectCovers, renderSceneJpeg, SCENE_BACKGROUND, sceneAt, SceneOptions, syntheticSource } from './synthetic';

const OPTIONS: SceneOptions = { width: 640, height: 480, fps: 15, seed: 7 };
/** JPEG at quality 90 keeps flat colours within this of the drawn value. */
const COLOUR_TOLERANCE = 24;

async function decode(jpeg: Buffer): Promise<{ pixels: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
  expect(info.channels).toBe(3);
  return { pixels: data, width: info.width, height: info.height };
}

function pixelAt(img: { pixels: Buffer; width: number }, x: number, y: number): number[] {
  const p = (y * img.width + x) * 3;
  return [img.pixels[p], img.pixels[p + 1], img.pixels[p + 2]];
}

function expectColourNear(actual: number[], expected: readonly number[]): void {
  for (let c = 0; c < 3; c++) expect(Math.abs(actual[c] - expected[c])).toBeLessThanOrEqual(COLOUR_TOLERANCE);
}

describe('sceneAt', () => {
  it('gives the same objects for the same frame number and seed', () => {
    for (const n of [0, 1, 99, 25_000_000_123]) expect(sceneAt(n, OPTIONS)).toEqual(sceneAt(n, { ...OPTIONS }));
  });

  it('moves the objects on paths that depend on the seed', () => {
    const a = sceneAt(100, OPTIONS).objects.map((o) => o.center);
    const b = sceneAt(100, { ...OPTIONS, seed: 8 }).objects.map((o) => o.center);
    expect(a).not.toEqual(b);
    expect(sceneAt(101, OPTIONS).objects.map((o) => o.center)).not.toEqual(a);
  });

  it('shows a circle, a square and a triangle in distinct colours', () => {
    const objects = sceneAt(0, OPTIONS).objects;
    expect(objects.map((o) => [o.id, o.shape])).toEqual([
      [1, 'circle'],
      [2, 'square'],
      [3, 'triangle'],
    ]);
    expect(new Set(objects.map((o) => o.color.join())).size).toBe(3);
  });

  it('keeps every object inside the image and in its own lane, so objects never overlap', () => {
    for (const size of [
      { width: 640, height: 480 },
      { width: 1280, height: 720 },
      { width: 160, height: 120 },
    ]) {
      for (let n = 0; n < 3000; n += 23) {
        const scene = sceneAt(n, { ...OPTIONS, ...size });
        scene.objects.forEach((o, lane) => {
          expect(o.box.x).toBeGreaterThanOrEqual(0);
          expect(o.box.y).toBeGreaterThanOrEqual(0);
          expect(o.box.x + o.box.width).toBeLessThanOrEqual(size.width);
          expect(o.box.y).toBeGreaterThanOrEqual(Math.floor((lane * size.height) / 3));
          expect(o.box.y + o.box.height).toBeLessThanOrEqual(Math.ceil(((lane + 1) * size.height) / 3));
        });
      }
    }
  });

  it('puts each object\'s centroid at the mean of the pixels it covers', () => {
    for (const o of sceneAt(40, OPTIONS).objects) {
      let sx = 0;
      let sy = 0;
      let count = 0;
      for (let y = o.box.y; y < o.box.y + o.box.height; y++) {
        for (let x = o.box.x; x < o.box.x + o.box.width; x++) {
          if (!objectCovers(o, x, y)) continue;
          sx += x;
          sy += y;
          count++;
        }
      }
      const c = objectCentroid(o);
      expect({ shape: o.shape, dx: Math.abs(sx / count - c.x) < 1, dy: Math.abs(sy / count - c.y) < 1 }).toEqual({ shape: o.shape, dx: true, dy: true });
    }
  });

  it('moves objects a few pixels per frame, as a tracker expects', () => {
    for (let n = 0; n < 1000; n++) {
      const a = sceneAt(n, OPTIONS).objects;
      const b = sceneAt(n + 1, OPTIONS).objects;
      a.forEach((o, i) => expect(Math.hypot(b[i].center.x - o.center.x, b[i].center.y - o.center.y)).toBeLessThan(20));
    }
  });
});

describe('renderSceneJpeg', () => {
  it.each([0, 37, 1000, 25_000_000_123])('draws each object in its colour at its predicted centre (frame %d)', async (n) => {
    const img = await decode(await renderSceneJpeg(n, OPTIONS, 90));
    expect([img.width, img.height]).toEqual([OPTIONS.width, OPTIONS.height]);
    for (const o of sceneAt(n, OPTIONS).objects) {
      expectColourNear(pixelAt(img, o.center.x, o.center.y), o.color);
      // The triangle's centre is near its apex side: check the middle of its lower half too.
      expectColourNear(pixelAt(img, o.center.x, o.center.y + Math.floor(o.halfSize / 2)), o.color);
    }
  });

  it('leaves the background dark far from the objects', async () => {
    const n = 500;
    const scene = sceneAt(n, OPTIONS);
    const img = await decode(await renderSceneJpeg(n, OPTIONS, 90));
    const margin = 8;
    let checked = 0;
    for (let y = 0; y < OPTIONS.height; y += 13) {
      for (let x = 0; x < OPTIONS.width; x += 13) {
        const near = scene.objects.some(
          (o) => x >= o.box.x - margin && x < o.box.x + o.box.width + margin && y >= o.box.y - margin && y < o.box.y + o.box.height + margin,
        );
        if (near) continue;
        expectColourNear(pixelAt(img, x, y), SCENE_BACKGROUND);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });

  it('draws exactly the pixels objectCovers predicts (before JPEG)', () => {
    const o = sceneAt(3, OPTIONS).objects[2];
    let covered = 0;
    for (let y = o.box.y; y < o.box.y + o.box.height; y++) for (let x = o.box.x; x < o.box.x + o.box.width; x++) covered += objectCovers(o, x, y) ? 1 : 0;
    // A triangle with base and height 2s+1 covers about half its box.
    const area = o.box.width * o.box.height;
    expect(covered / area).toBeGreaterThan(0.45);
    expect(covered / area).toBeLessThan(0.6);
  });
});

describe('FrameSchedule', () => {
  it('keeps an absolute schedule: lateness of one frame does not shift the next', () => {
    const s = new FrameSchedule(10, 0);
    expect(s.next(0)).toEqual({ slot: 0, waitMs: 0, skipped: 0 });
    expect(s.next(30)).toEqual({ slot: 1, waitMs: 70, skipped: 0 });
    // Woken 40 ms late for slot 1: slot 2 is still due at 200.
    expect(s.next(140)).toEqual({ slot: 2, waitMs: 60, skipped: 0 });
  });

  it('skips ahead to the current slot instead of catching up when production falls behind', () => {
    const s = new FrameSchedule(10, 0);
    s.next(0);
    expect(s.next(450)).toEqual({ slot: 4, waitMs: 0, skipped: 3 });
    expect(s.next(460)).toEqual({ slot: 5, waitMs: 40, skipped: 0 });
  });
});

describe('syntheticSource', () => {
  /** How early a timer may fire by the capture clock. */
  const TIMER_SLACK_US = 5_000;

  it('delivers JPEG frames on the configured fps schedule: never before a frame’s slot, never a slot older than the one in progress when asked', async () => {
    const fps = 20;
    const intervalUs = 1e6 / fps;
    const source = syntheticSource({ width: 320, height: 240, fps, seed: 1, jpegQuality: 80 });
    const iterator = source.frames()[Symbol.asyncIterator]();
    const frames = [];
    const askedUs: number[] = [];
    const deliveredUs: number[] = [];
    for (let i = 0; i < 10; i++) {
      askedUs.push(captureClockUs());
      const next = await iterator.next();
      deliveredUs.push(captureClockUs());
      frames.push(next.value);
    }
    await iterator.return?.(undefined);
    // Load-independent: a frame is stamped with its slot on the 1/fps grid; it comes no earlier than
    // its slot (a timer may fire a little early: Node starts it from the loop's cached clock); and it
    // is the slot in progress when it was asked for or a later one (a late source skips ahead, it never
    // catches up). How late frames come on a busy machine is measured by `npm run bench`, not here.
    for (const [i, f] of frames.entries()) {
      expect(f.pixelFormat).toBe(PixelFormat.PIXEL_FORMAT_JPEG);
      expect([f.width, f.height]).toEqual([320, 240]);
      if (i > 0) expect(f.frameNumber).toBeGreaterThan(frames[i - 1].frameNumber!);
      expect(f.captureTimeUs).toBe(Math.round(f.frameNumber! * intervalUs));
      expect(frameNumberAt(f.captureTimeUs, fps)).toBe(f.frameNumber);
      expect(deliveredUs[i]).toBeGreaterThanOrEqual(f.captureTimeUs - TIMER_SLACK_US);
      expect(f.frameNumber).toBeGreaterThanOrEqual(Math.floor(askedUs[i] / intervalUs)); // the slot in progress when asked
    }
  });

  it('skips frames it had no time for when the clock jumps', async () => {
    let now = 1_000_000;
    const source = syntheticSource({ width: 64, height: 48, fps: 10, seed: 1, jpegQuality: 80, clockMs: () => now });
    const numbers: number[] = [];
    for await (const f of source.frames()) {
      numbers.push(f.frameNumber!);  
      now += numbers.length === 2 ? 1000 : 100;
      if (numbers.length === 4) break;
    }
    expect(numbers).toEqual([10_000, 10_001, 10_011, 10_012]);
  });

  it('stops waiting at once when aborted', async () => {
    // A clock that stands still: the second slot is always 1 s away, however long the first frame's
    // rendering took on a loaded machine (with the wall clock, a render slower than 1 s left no wait).
    const source = syntheticSource({ width: 64, height: 48, fps: 1, seed: 1, jpegQuality: 80, clockMs: () => 0 });
    const controller = new AbortController();
    const iterator = source.frames(controller.signal)[Symbol.asyncIterator]();
    await iterator.next();
    const second = iterator.next().then(
      () => 'a frame',
      (err: Error) => `rejected: ${err.message}`,
    );
    controller.abort(new Error('stop'));
    // Settled before the event loop's next turn, so not by a timer (the next slot is up to 1 s away):
    // no wall-clock bound that a loaded machine could stretch.
    const nextTurn = new Promise<string>((resolve) => setImmediate(() => resolve('still waiting')));
    expect(await Promise.race([second, nextTurn])).toBe('rejected: stop');
  });
});
