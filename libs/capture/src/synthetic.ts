// The synthetic test scene: three shapes in distinct colours moving on seeded Lissajous paths over
// a dark background, each in its own horizontal lane so they never overlap. sceneAt(n) predicts
// every object of frame n exactly, so tests and analyzers can check what they see.
import { PixelFormat } from '@framewire/proto';
import sharp from 'sharp';
import { captureClockUs, CapturedFrame, FrameSchedule, FrameSource, sleep } from './frame';

export type SceneShape = 'circle' | 'square' | 'triangle';
export type Rgb = readonly [number, number, number];

export interface SceneOptions {
  width: number;
  height: number;
  /** Frames per second: frame n shows the scene at n / fps seconds. */
  fps: number;
  /** Seeds the paths (any 32-bit unsigned integer). */
  seed: number;
}

export interface SceneObject {
  /** 1 circle, 2 square, 3 triangle: the same for every frame and seed. */
  id: number;
  shape: SceneShape;
  color: Rgb;
  /** Integer pixel centre. */
  center: { x: number; y: number };
  /** Half the side of the object's square bounding box, in pixels. */
  halfSize: number;
  /** Bounding box of the drawn pixels (before clipping to the image), inclusive of both edges. */
  box: { x: number; y: number; width: number; height: number };
}

export interface Scene {
  frameNumber: number;
  width: number;
  height: number;
  background: Rgb;
  objects: SceneObject[];
}

export const SCENE_BACKGROUND: Rgb = [16, 18, 28];
/** Shapes, colours and sizes (fraction of min(width, height)) of the three objects, in lane order. */
export const SCENE_OBJECTS: readonly { shape: SceneShape; color: Rgb; sizeFraction: number }[] = [
  { shape: 'circle', color: [235, 64, 52], sizeFraction: 0.07 },
  { shape: 'square', color: [60, 200, 80], sizeFraction: 0.065 },
  { shape: 'triangle', color: [70, 130, 245], sizeFraction: 0.075 },
];
/** Horizontal and vertical path frequencies (Hz) are drawn from these ranges. */
const FREQUENCY_X_HZ = [0.07, 0.17] as const;
const FREQUENCY_Y_HZ = [0.09, 0.23] as const;
/** Pixels kept free between an object and the image or lane edge. */
const EDGE_MARGIN_PX = 2;

/** mulberry32: a tiny, well-mixed 32-bit PRNG; the same sequence in any language. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface PathParameters {
  fx: number;
  fy: number;
  phaseX: number;
  phaseY: number;
}

const pathCache = new Map<number, PathParameters[]>();

/** Per object, four draws in order: fx, fy, phaseX, phaseY. */
function pathsFor(seed: number): PathParameters[] {
  let paths = pathCache.get(seed);
  if (paths === undefined) {
    const random = mulberry32(seed);
    const between = ([lo, hi]: readonly [number, number]) => lo + (hi - lo) * random();
    paths = SCENE_OBJECTS.map(() => ({
      fx: between(FREQUENCY_X_HZ),
      fy: between(FREQUENCY_Y_HZ),
      phaseX: 2 * Math.PI * random(),
      phaseY: 2 * Math.PI * random(),
    }));
    pathCache.set(seed, paths);
  }
  return paths;
}

/** Every object of frame `n`: a pure function of n and the options. */
export function sceneAt(n: number, options: SceneOptions): Scene {
  const { width, height, fps, seed } = options;
  const t = n / fps;
  const base = Math.min(width, height);
  const laneHeight = height / SCENE_OBJECTS.length;
  const paths = pathsFor(seed);
  const objects = SCENE_OBJECTS.map((spec, i): SceneObject => {
    const path = paths[i];
    const halfSize = Math.max(2, Math.round(base * spec.sizeFraction));
    const amplitudeX = Math.max(0, width / 2 - halfSize - EDGE_MARGIN_PX);
    const amplitudeY = Math.max(0, laneHeight / 2 - halfSize - EDGE_MARGIN_PX);
    const x = Math.round(width / 2 + amplitudeX * Math.sin(2 * Math.PI * path.fx * t + path.phaseX));
    const y = Math.round(laneHeight * (i + 0.5) + amplitudeY * Math.sin(2 * Math.PI * path.fy * t + path.phaseY));
    return {
      id: i + 1,
      shape: spec.shape,
      color: spec.color,
      center: { x, y },
      halfSize,
      box: { x: x - halfSize, y: y - halfSize, width: 2 * halfSize + 1, height: 2 * halfSize + 1 },
    };
  });
  return { frameNumber: n, width, height, background: SCENE_BACKGROUND, objects };
}

/** Whether pixel (x, y) belongs to `o` (integer geometry, the same in any language). */
export function objectCovers(o: SceneObject, x: number, y: number): boolean {
  const dx = x - o.center.x;
  const dy = y - o.center.y;
  const s = o.halfSize;
  if (o.shape === 'circle') return dx * dx + dy * dy <= s * s;
  if (Math.abs(dx) > s || Math.abs(dy) > s) return false;
  // Triangle: apex (cx, cy - s), base from (cx - s, cy + s) to (cx + s, cy + s).
  return o.shape === 'square' || 2 * Math.abs(dx) <= dy + s;
}

/** The area centroid of `o` (where a centroid keypoint of it belongs): the box centre for the circle
 *  and the square, a third of the way from the base to the apex for the triangle. */
export function objectCentroid(o: SceneObject): { x: number; y: number } {
  return o.shape === 'triangle' ? { x: o.center.x, y: o.center.y + o.halfSize / 3 } : { ...o.center };
}

/** Draws `scene` into `rgb` (width * height * 3 bytes, packed RGB24), replacing its contents. */
export function drawScene(scene: Scene, rgb: Buffer): void {
  const { width, height } = scene;
  const [br, bg, bb] = scene.background;
  for (let i = 0; i < width * 3; i += 3) {
    rgb[i] = br;
    rgb[i + 1] = bg;
    rgb[i + 2] = bb;
  }
  // Copy the first row down, doubling the filled span each time.
  const total = width * height * 3;
  for (let filled = width * 3; filled < total; filled *= 2) rgb.copyWithin(filled, 0, Math.min(filled, total - filled));
  for (const o of scene.objects) {
    const [r, g, b] = o.color;
    const x0 = Math.max(0, o.box.x);
    const x1 = Math.min(width - 1, o.box.x + o.box.width - 1);
    const y0 = Math.max(0, o.box.y);
    const y1 = Math.min(height - 1, o.box.y + o.box.height - 1);
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if (!objectCovers(o, x, y)) continue;
        const p = (y * width + x) * 3;
        rgb[p] = r;
        rgb[p + 1] = g;
        rgb[p + 2] = b;
      }
    }
  }
}

/** Frame n of the scene as a JPEG. `rgb` is a reusable scratch buffer of width * height * 3 bytes. */
export async function renderSceneJpeg(n: number, options: SceneOptions, quality: number, rgb?: Buffer): Promise<Buffer> {
  const raw = rgb ?? Buffer.allocUnsafe(options.width * options.height * 3);
  drawScene(sceneAt(n, options), raw);
  return sharp(raw, { raw: { width: options.width, height: options.height, channels: 3 } }).jpeg({ quality }).toBuffer();
}

export interface SyntheticSourceOptions extends SceneOptions {
  /** JPEG quality 1-100. */
  jpegQuality: number;
  /** Milliseconds since the Unix epoch; the default reads the capture clock. Tests pass their own. */
  clockMs?: () => number;
}

/** Frame number whose slot contains `captureTimeUs`: the inverse of the synthetic source's timing. */
export function frameNumberAt(captureTimeUs: number, fps: number): number {
  return Math.round((captureTimeUs * fps) / 1e6);
}

/**
 * The synthetic source. Its schedule is aligned to the Unix epoch: frame n is due at n / fps
 * seconds since the epoch and carries exactly that capture time, so any consumer can recover n
 * from a frame's captureTimeUs (frameNumberAt) and predict it with sceneAt, across restarts and
 * drops. When encoding falls behind, it skips to the current slot instead of catching up.
 */
export function syntheticSource(options: SyntheticSourceOptions): FrameSource {
  const clockMs = options.clockMs ?? (() => captureClockUs() / 1000);
  return {
    description: `synthetic ${options.width}x${options.height}@${options.fps} seed ${options.seed}`,
    async *frames(signal?: AbortSignal): AsyncGenerator<CapturedFrame> {
      const schedule = new FrameSchedule(options.fps, 0);
      const rgb = Buffer.allocUnsafe(options.width * options.height * 3);
      for (;;) {
        const { slot, waitMs } = schedule.next(clockMs());
        if (waitMs > 0) await sleep(waitMs, signal);
        signal?.throwIfAborted();
        const data = await renderSceneJpeg(slot, options, options.jpegQuality, rgb);
        yield {
          data,
          width: options.width,
          height: options.height,
          pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG,
          captureTimeUs: Math.round((slot * 1e6) / options.fps),
          frameNumber: slot,
        };
      }
    },
  };
}
