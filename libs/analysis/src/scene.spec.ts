// Proof on real pixels: the synthetic scene of libs/capture, rendered and JPEG-encoded as capture
// does, decoded at analysis size, run through motion → tracks → keypoints; every output is checked
// against the scene's known objects (sceneAt).
import { objectCentroid, objectCovers, renderSceneJpeg, sceneAt, SceneObject, SceneOptions } from '@framewire/capture';
import { AnalyzerOutputs } from './analyzer';
import { decodeFrame } from './decode';
import { keypointId } from './keypoints';
import { AnalysisPipeline, createAnalyzers } from './pipeline';

const FPS = 15;
const JPEG_QUALITY = 80; // capture's default
const ANALYSIS_WIDTH = 320;
/** Background warm-up: the median needs objects present at start-up to uncover their pixels for more
 *  than half of the samples taken so far (worst case, an object starting at a Lissajous turning
 *  point: about 2.5 s), plus minHits frames to confirm the tracks. */
const WARM_UP_FRAMES = 45;
const CHECKED_FRAMES = 60;
const CENTRE_TOLERANCE_PX = 6;
const SIZE_TOLERANCE = 0.2;
/** Polygon vertices lie on boundary pixels of the 2x-downscaled mask: within this of the true outline. */
const OUTLINE_TOLERANCE_PX = 4;

interface FrameRun {
  n: number;
  objects: SceneObject[];
  out: AnalyzerOutputs;
}

async function runScene(options: SceneOptions, first: number, frames: number): Promise<FrameRun[]> {
  const pipeline = new AnalysisPipeline(createAnalyzers(['motion', 'tracks', 'keypoints']));
  const rgb = Buffer.alloc(options.width * options.height * 3);
  const runs: FrameRun[] = [];
  for (let n = first; n < first + frames; n++) {
    const jpeg = await renderSceneJpeg(n, options, JPEG_QUALITY, rgb);
    const decoded = await decodeFrame(jpeg, { maxWidth: ANALYSIS_WIDTH });
    const out = await pipeline.run({
      streamId: 'cam-1',
      frameSequence: n - first + 1,
      captureTimeUs: Math.round((n * 1e6) / options.fps),
      frameWidth: decoded.frameWidth,
      frameHeight: decoded.frameHeight,
      image: decoded.image,
      scale: decoded.scale,
    });
    runs.push({ n, objects: sceneAt(n, options).objects, out });
  }
  return runs.slice(WARM_UP_FRAMES);
}

function centre(box: { x: number; y: number; width: number; height: number }): { x: number; y: number } {
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
}

/** The boundary pixels of object `o`: covered, with an uncovered 4-neighbour. */
function outlineOf(o: SceneObject, covers: (o: SceneObject, x: number, y: number) => boolean): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  for (let y = o.box.y; y < o.box.y + o.box.height; y++) {
    for (let x = o.box.x; x < o.box.x + o.box.width; x++) {
      if (!covers(o, x, y)) continue;
      if (covers(o, x - 1, y) && covers(o, x + 1, y) && covers(o, x, y - 1) && covers(o, x, y + 1)) continue;
      out.push({ x, y });
    }
  }
  return out;
}

describe.each([
  { seed: 1, first: 0 },
  { seed: 7, first: 26_000_000_000 }, // an epoch-aligned frame number, as live capture produces
])('analysis of the synthetic scene 640x480 @ 15 fps (seed $seed, from frame $first)', ({ seed, first }) => {
  const options: SceneOptions = { width: 640, height: 480, fps: FPS, seed };
  let runs: FrameRun[];

  beforeAll(async () => {
    runs = await runScene(options, first, WARM_UP_FRAMES + CHECKED_FRAMES);
  }, 120_000);

  it('detects every object, within 6 px and ±20 % in size, and nothing else', () => {
    for (const { n, objects, out } of runs) {
      const detections = out.detections?.detections ?? [];
      expect({ n, count: detections.length }).toEqual({ n, count: objects.length });
      for (const o of objects) {
        const want = centre(o.box);
        const found = detections.find((d) => {
          const c = centre(d.box!);
          return Math.hypot(c.x - want.x, c.y - want.y) <= CENTRE_TOLERANCE_PX;
        });
        expect({ n, object: o.id, found: found !== undefined }).toEqual({ n, object: o.id, found: true });
        expect(Math.abs(found!.box!.width / o.box.width - 1)).toBeLessThanOrEqual(SIZE_TOLERANCE);
        expect(Math.abs(found!.box!.height / o.box.height - 1)).toBeLessThanOrEqual(SIZE_TOLERANCE);
        expect(found!.score).toBeGreaterThan(0);
        expect(found!.score).toBeLessThanOrEqual(1);
        expect(found!.label).toBe('motion');
      }
    }
  });

  it('outlines every object with a polygon whose vertices lie on its outline', () => {
    for (const { n, objects, out } of runs) {
      const seg = out.segmentation!;
      expect(seg.width).toBe(640);
      expect(seg.height).toBe(480);
      expect(seg.instances.length).toBe(objects.length);
      const ids = seg.instances.map((i) => i.instanceId);
      expect(new Set(ids).size).toBe(ids.length);
      for (const o of objects) {
        const instance = seg.instances.find((i) => {
          let sx = 0;
          let sy = 0;
          for (let k = 0; k < i.points.length; k += 2) {
            sx += i.points[k];
            sy += i.points[k + 1];
          }
          const m = i.points.length / 2;
          return Math.hypot(sx / m - o.center.x, sy / m - o.center.y) < o.halfSize;
        });
        expect({ n, object: o.id, found: instance !== undefined }).toEqual({ n, object: o.id, found: true });
        expect(instance!.points.length).toBeGreaterThanOrEqual(6);
        const outline = outlineOf(o, objectCovers);
        const far: string[] = [];
        for (let k = 0; k < instance!.points.length; k += 2) {
          const [x, y] = [instance!.points[k], instance!.points[k + 1]];
          const d = Math.min(...outline.map((q) => Math.hypot(q.x - x, q.y - y)));
          if (d > OUTLINE_TOLERANCE_PX) far.push(`frame ${n} object ${o.id} vertex (${x}, ${y}) is ${d.toFixed(1)} px from the outline`);
        }
        expect(far).toEqual([]);
      }
    }
  });

  it('keeps one track id per object, with its velocity', () => {
    const idOf = new Map<number, number>();
    for (let r = 0; r < runs.length; r++) {
      const { n, objects, out } = runs[r];
      const tracks = out.tracks?.tracks ?? [];
      expect({ n, count: tracks.length }).toEqual({ n, count: objects.length });
      for (const o of objects) {
        const track = tracks.find((t) => Math.hypot(centre(t.box!).x - centre(o.box).x, centre(t.box!).y - centre(o.box).y) <= CENTRE_TOLERANCE_PX);
        expect({ n, object: o.id, tracked: track !== undefined }).toEqual({ n, object: o.id, tracked: true });
        if (!idOf.has(o.id)) idOf.set(o.id, track!.trackId);
        expect({ n, object: o.id, trackId: track!.trackId }).toEqual({ n, object: o.id, trackId: idOf.get(o.id) });
        expect(track!.misses).toBe(0);
        // Scene velocity over the last two frames (the tracker's smoothing looks back about as far).
        const back = sceneAt(n - 2, options).objects[o.id - 1].center;
        const vx = ((o.center.x - back.x) * FPS) / 2;
        const vy = ((o.center.y - back.y) * FPS) / 2;
        const tolerance = (v: number) => 30 + 0.25 * Math.abs(v);
        expect({ n, object: o.id, vxOk: Math.abs(track!.velocityX - vx) <= tolerance(vx) }).toEqual({ n, object: o.id, vxOk: true });
        expect({ n, object: o.id, vyOk: Math.abs(track!.velocityY - vy) <= tolerance(vy) }).toEqual({ n, object: o.id, vyOk: true });
      }
    }
    expect(new Set(idOf.values()).size).toBe(3);
  });

  it('places the keypoints of each track on its object: centroid at the centre, extremes at the box edges', () => {
    for (const { n, objects, out } of runs) {
      const kp = out.keypoints!;
      const tracks = out.tracks!.tracks;
      for (const o of objects) {
        const track = tracks.find((t) => Math.hypot(centre(t.box!).x - centre(o.box).x, centre(t.box!).y - centre(o.box).y) <= CENTRE_TOLERANCE_PX)!;
        const point = (kind: 'centroid' | 'top' | 'right' | 'bottom' | 'left') => {
          const id = keypointId(track.trackId, kind);
          expect(kp.pointNames[`t${track.trackId}.${kind}`]).toBe(id);
          const p = kp.points.find((q) => q.id === id);
          expect({ n, object: o.id, kind, present: p !== undefined }).toEqual({ n, object: o.id, kind, present: true });
          expect(p!.confidence).toBeGreaterThan(0);
          expect(p!.confidence).toBeLessThanOrEqual(1);
          return p!;
        };
        const c = point('centroid');
        // The area centroid: the triangle's lies below its box centre.
        const truth = objectCentroid(o);
        expect({ n, object: o.id, dx: Math.abs(c.x - truth.x) <= CENTRE_TOLERANCE_PX, dy: Math.abs(c.y - truth.y) <= CENTRE_TOLERANCE_PX }).toEqual({ n, object: o.id, dx: true, dy: true });
        const top = o.box.y;
        const bottom = o.box.y + o.box.height - 1;
        const left = o.box.x;
        const right = o.box.x + o.box.width - 1;
        expect(Math.abs(point('top').y - top)).toBeLessThanOrEqual(OUTLINE_TOLERANCE_PX);
        expect(Math.abs(point('bottom').y - bottom)).toBeLessThanOrEqual(OUTLINE_TOLERANCE_PX);
        expect(Math.abs(point('left').x - left)).toBeLessThanOrEqual(OUTLINE_TOLERANCE_PX);
        expect(Math.abs(point('right').x - right)).toBeLessThanOrEqual(OUTLINE_TOLERANCE_PX);
      }
    }
  });
});
