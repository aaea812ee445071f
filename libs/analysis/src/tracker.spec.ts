// The tracker on hand-made detections: confirmation, missed frames, crossing objects, id stability,
// velocity from capture times, and robustness to any gap between frames (property tests).
import fc from 'fast-check';
import { Detection, Track } from '@framewire/proto';
import { AnalyzerInput } from './analyzer';
import { MAX_LOST_TRACKS, MAX_SPEED_DIAGONALS_PER_SECOND, TrackAnalyzer } from './tracker';

const FRAME_US = 100_000; // 10 fps
const WIDTH = 640;
const HEIGHT = 480;

function detection(cx: number, cy: number, size = 20): Detection {
  return { box: { x: cx - size / 2, y: cy - size / 2, width: size, height: size }, score: 1, classId: 1, label: 'motion' };
}

/** The tracks of one frame captured at `captureTimeUs`. */
function stepAt(tracker: TrackAnalyzer, captureTimeUs: number, detections: Detection[], frame = { width: WIDTH, height: HEIGHT }): Track[] {
  const input: AnalyzerInput = {
    streamId: 's',
    frameSequence: 1,
    captureTimeUs,
    frameWidth: frame.width,
    frameHeight: frame.height,
    image: { width: 1, height: 1, data: new Uint8Array(3) },
    scale: 1,
    earlier: { detections: { detections } },
  };
  return tracker.analyze(input).tracks!.tracks;
}

/** The tracks of frame number `frame` at 10 fps. */
function step(tracker: TrackAnalyzer, frame: number, detections: Detection[]): Track[] {
  return stepAt(tracker, frame * FRAME_US, detections);
}

const centreOf = (t: Track) => ({ x: t.box!.x + t.box!.width / 2, y: t.box!.y + t.box!.height / 2 });

describe('TrackAnalyzer', () => {
  it('reports a track only after minHits matches, with hits, age and velocity in pixels per second', () => {
    const tracker = new TrackAnalyzer({ minHits: 3 });
    expect(step(tracker, 1, [detection(100, 100)])).toEqual([]);
    expect(step(tracker, 2, [detection(105, 98)])).toEqual([]);
    const [t] = step(tracker, 3, [detection(110, 96)]);
    expect(t).toMatchObject({ trackId: 1, hits: 3, misses: 0, ageFrames: 2 });
    expect(t.velocityX).toBeCloseTo(50);
    expect(t.velocityY).toBeCloseTo(-20);
    expect(t.box).toEqual(detection(110, 96).box);
  });

  it('coasts a confirmed track through missed frames on its predicted box, then drops it after maxMisses', () => {
    const tracker = new TrackAnalyzer({ minHits: 2, maxMisses: 2, maxMissSeconds: 0 });
    step(tracker, 1, [detection(100, 100)]);
    step(tracker, 2, [detection(110, 100)]);
    const [coasting] = step(tracker, 3, []);
    expect(coasting).toMatchObject({ trackId: 1, misses: 1, hits: 2 });
    expect(coasting.box!.x + coasting.box!.width / 2).toBeCloseTo(120);
    expect(step(tracker, 4, [])[0]).toMatchObject({ trackId: 1, misses: 2 });
    // Found again where the velocity predicts it: the same id.
    expect(step(tracker, 5, [detection(140, 100)])[0]).toMatchObject({ trackId: 1, misses: 0, hits: 3 });
    step(tracker, 6, []);
    step(tracker, 7, []);
    expect(step(tracker, 8, [])).toEqual([]);
    // A new object later gets a new id, never 1 again.
    step(tracker, 9, [detection(140, 100)]);
    expect(step(tracker, 10, [detection(140, 100)])[0].trackId).toBe(2);
  });

  it('keeps the id of an object hidden for 0.8 s at 10 and 30 fps as at 5 fps: maxMissSeconds, not only maxMisses frames', () => {
    // Walking right at 50 px/s, hidden (behind a post, a passer-by) from 1 s to 1.8 s.
    for (const fps of [5, 10, 30]) {
      const tracker = new TrackAnalyzer({ minHits: 3, maxMisses: 5, maxMissSeconds: 1 });
      const frameUs = 1e6 / fps;
      const ids = new Set<number>();
      for (let f = 0; f * frameUs <= 3e6; f++) {
        const us = f * frameUs;
        const hidden = us > 1e6 && us < 1.8e6;
        for (const t of stepAt(tracker, us, hidden ? [] : [detection(100 + (50 * us) / 1e6, 200)])) ids.add(t.trackId);
      }
      expect({ fps, ids: [...ids] }).toEqual({ fps, ids: [1] });
    }
  });

  it('drops an unmatched track only once both maxMisses frames and maxMissSeconds have passed', () => {
    const confirmedAt = (tracker: TrackAnalyzer, us: number) => {
      for (let f = 0; f < 3; f++) stepAt(tracker, us + f * 40_000, [detection(100, 100)]);
      return us + 2 * 40_000;
    };
    // 25 fps: 6 misses are 0.24 s, within 1 s: kept; after 1.04 s (26 misses): dropped.
    const fast = new TrackAnalyzer({ minHits: 3, maxMisses: 5, maxMissSeconds: 1 });
    const last = confirmedAt(fast, 0);
    for (let m = 1; m <= 6; m++) expect(stepAt(fast, last + m * 40_000, []).map((t) => t.misses)).toEqual([m]);
    for (let m = 7; m <= 25; m++) stepAt(fast, last + m * 40_000, []);
    expect(stepAt(fast, last + 26 * 40_000, [])).toEqual([]);
    // A paused source: an hour has passed, but the track has missed one frame only: kept.
    const paused = new TrackAnalyzer({ minHits: 3, maxMisses: 5, maxMissSeconds: 1 });
    const then = confirmedAt(paused, 0);
    expect(stepAt(paused, then + 3_600_000_000, []).map((t) => t.misses)).toEqual([1]);
  });

  it('keeps one id and one box for a walker split into pieces by a post, and a track for someone beside them', () => {
    const tracker = new TrackAnalyzer({ minHits: 2 });
    const box = (x: number, y: number, width: number, height: number): Detection => ({ ...detection(0, 0), box: { x, y, width, height } });
    // A walker (20x80) moving right at 20 px per frame, whole for three frames.
    for (let f = 1; f <= 3; f++) step(tracker, f, [box(100 + 20 * f, 100, 20, 80)]);
    // Behind a sign: head and legs, two detections inside the walker's predicted box; someone else
    // stands clear of it, beside.
    for (let f = 4; f <= 8; f++) {
      const x = 100 + 20 * f;
      const tracks = step(tracker, f, [box(x, 100, 20, 25), box(x + 2, 150, 16, 30), box(x + 40, 100, 20, 80)]);
      const walker = tracks.find((t) => t.trackId === 1)!;
      expect(walker.box).toEqual({ x, y: 100, width: 20, height: 80 });
      expect(walker.misses).toBe(0);
      expect(tracks.map((t) => t.trackId).sort()).toEqual(f === 4 ? [1] : [1, 2]);
    }
  });

  it('does not stretch a track box after a neighbour who walks away: the neighbour gets a track once mostly outside it', () => {
    const tracker = new TrackAnalyzer({ minHits: 2, maxDistance: 30, iouThreshold: 0 });
    const box = (x: number, width: number): Detection => ({ ...detection(0, 0), box: { x, y: 100, width, height: 80 } });
    // Two people side by side, one blob 40 wide, standing.
    for (let f = 1; f <= 3; f++) step(tracker, f, [box(100, 40)]);
    // They part: the left one stays, the right one walks right at 4 px per frame.
    let neighbourTracked = false;
    for (let f = 4; f <= 20; f++) {
      const tracks = step(tracker, f, [box(100, 20), box(120 + 4 * (f - 3), 20)]);
      const first = tracks.find((t) => t.trackId === 1)!;
      expect(first.box!.x).toBe(100);
      expect(first.box!.width).toBeLessThanOrEqual(40);
      neighbourTracked ||= tracks.some((t) => t.trackId !== 1 && t.box!.x > 120);
    }
    expect(neighbourTracked).toBe(true);
  });

  it('takes an object of another class inside a tracked box for an object, never a piece (a ball at a player’s feet)', () => {
    const tracker = new TrackAnalyzer({ minHits: 1 });
    const player: Detection = { box: { x: 100, y: 100, width: 60, height: 160 }, score: 0.9, classId: 0, label: 'person' };
    const ball: Detection = { box: { x: 120, y: 230, width: 20, height: 20 }, score: 0.8, classId: 32, label: 'sports ball' };
    step(tracker, 1, [player]);
    const tracks = step(tracker, 2, [player, ball]);
    expect(tracks.map((t) => t.trackId)).toEqual([1, 2]);
    expect(tracks[1].box).toEqual(ball.box);
  });

  it('starts tracks from every piece when fragmentInside is 0', () => {
    const tracker = new TrackAnalyzer({ minHits: 1, fragmentInside: 0 });
    step(tracker, 1, [{ ...detection(0, 0), box: { x: 100, y: 100, width: 20, height: 80 } }]);
    const tracks = step(tracker, 2, [
      { ...detection(0, 0), box: { x: 100, y: 100, width: 20, height: 25 } },
      { ...detection(0, 0), box: { x: 102, y: 150, width: 16, height: 30 } },
    ]);
    expect(tracks.map((t) => t.trackId)).toEqual([1, 2]);
  });

  it('drops a tentative track at its first miss', () => {
    const tracker = new TrackAnalyzer({ minHits: 3 });
    step(tracker, 1, [detection(100, 100)]);
    step(tracker, 2, []);
    step(tracker, 3, [detection(100, 100)]);
    step(tracker, 4, [detection(100, 100)]);
    expect(step(tracker, 5, [detection(100, 100)])[0].trackId).toBe(2);
  });

  it('keeps ids through a crossing: two objects moving towards and past each other', () => {
    const tracker = new TrackAnalyzer({ minHits: 2, maxDistance: 30, iouThreshold: 0 });
    const ids = new Map<string, number>();
    for (let f = 0; f <= 20; f++) {
      // They pass 10 px apart at f = 10, well inside each other's distance gate.
      const a = detection(100 + 10 * f, 200 + f);
      const b = detection(300 - 10 * f, 230 - f);
      const tracks = step(tracker, f + 1, f % 2 === 0 ? [a, b] : [b, a]);
      if (f < 1) continue;
      expect(tracks).toHaveLength(2);
      for (const [name, d] of [['a', a], ['b', b]] as const) {
        const t = tracks.find((t) => t.box!.x === d.box!.x && t.box!.y === d.box!.y)!;
        expect(t).toBeDefined();
        if (!ids.has(name)) ids.set(name, t.trackId);
        expect(t.trackId).toBe(ids.get(name));
      }
    }
    expect(ids.get('a')).not.toBe(ids.get('b'));
  });

  it('does not match a detection beyond the distance gate without IoU', () => {
    const tracker = new TrackAnalyzer({ minHits: 1, maxDistance: 20, iouThreshold: 0 });
    expect(step(tracker, 1, [detection(100, 100)])[0].trackId).toBe(1);
    const tracks = step(tracker, 2, [detection(150, 100)]);
    expect(tracks.map((t) => [t.trackId, t.misses])).toEqual([
      [1, 1],
      [2, 0],
    ]);
  });

  describe('a still object found again in its place (reviveSeconds)', () => {
    const car = (dx = 0, label = 'car', classId = 2): Detection => ({ box: { x: 300 + dx, y: 200, width: 80, height: 40 }, score: 0.6, classId, label });
    /** Frames at 10 fps from `from` to `to` (inclusive) with these detections; the ids output, per frame. */
    const run = (tracker: TrackAnalyzer, from: number, to: number, detections: () => Detection[]) => {
      const ids: number[][] = [];
      for (let f = from; f <= to; f++) ids.push(step(tracker, f, detections()).map((t) => t.trackId));
      return ids;
    };

    it('takes its id back after it went unseen for longer than maxMissSeconds, and is not output meanwhile', () => {
      const tracker = new TrackAnalyzer({ minHits: 3, maxMisses: 5, maxMissSeconds: 1, reviveSeconds: 10 });
      // Seen for 2 s with 1 px of jitter, then unseen for 4 s, then seen again in its place.
      let f = 0;
      expect(run(tracker, 1, 20, () => [car(f++ % 2)]).slice(2)).toEqual(Array(18).fill([1]));
      const unseen = run(tracker, 21, 60, () => []);
      expect(unseen.slice(0, 10)).toEqual(Array(10).fill([1])); // coasting for maxMissSeconds
      expect(unseen.slice(11)).toEqual(Array(29).fill([]));
      // Back at once under its id (it was confirmed before), aged by every frame since it was first
      // seen; a new object beside it gets a new one.
      const back = step(tracker, 61, [car(1), car(200)]);
      expect(back).toEqual([expect.objectContaining({ trackId: 1, ageFrames: 60, hits: 21, misses: 0 })]);
      expect(run(tracker, 62, 63, () => [car(1), car(200)]).at(-1)).toEqual([1, 2]);
    });

    it('does not give a moving object\'s id to what later stands where it was lost, nor a car\'s to a person, nor after reviveSeconds', () => {
      // A walker lost at x = 300, then someone standing at that place 2 s later: a new id.
      const walker = new TrackAnalyzer({ minHits: 3, maxMissSeconds: 1, reviveSeconds: 10 });
      run(walker, 1, 20, () => []);
      for (let f = 1; f <= 20; f++) step(walker, f, [car(-100 + 5 * f, 'person', 0)]);
      run(walker, 21, 45, () => []);
      expect(run(walker, 46, 48, () => [car(0, 'person', 0)]).at(-1)).toEqual([2]);
      // Another class in a still car's place: a new id.
      const classes = new TrackAnalyzer({ minHits: 3, maxMissSeconds: 1, reviveSeconds: 10 });
      run(classes, 1, 10, () => [car()]);
      run(classes, 11, 40, () => []);
      expect(run(classes, 41, 43, () => [car(0, 'truck', 7)]).at(-1)).toEqual([2]);
      // The car back after 12 s, beyond reviveSeconds: a new id; with reviveSeconds 0 after 3 s: likewise.
      for (const [reviveSeconds, gapFrames] of [[10, 120], [0, 30]]) {
        const late = new TrackAnalyzer({ minHits: 3, maxMissSeconds: 1, reviveSeconds });
        run(late, 1, 10, () => [car()]);
        run(late, 11, 10 + gapFrames, () => []);
        expect({ reviveSeconds, ids: run(late, 11 + gapFrames, 13 + gapFrames, () => [car()]).at(-1) }).toEqual({ reviveSeconds, ids: [2] });
      }
    });

    it('gives the id back to the best overlapping still track, and remembers at most MAX_LOST_TRACKS', () => {
      const tracker = new TrackAnalyzer({ minHits: 3, maxMissSeconds: 1, reviveSeconds: 60 });
      run(tracker, 1, 10, () => [car(0), car(30)]); // ids 1 and 2, overlapping (IoU 0.45)
      run(tracker, 11, 40, () => []);
      expect(step(tracker, 41, [car(28)]).map((t) => t.trackId)).toEqual([2]);

      const many = new TrackAnalyzer({ minHits: 1, maxMisses: 0, maxMissSeconds: 0, reviveSeconds: 600 });
      const grid = (i: number): Detection => ({ box: { x: (i % 30) * 20, y: Math.floor(i / 30) * 20, width: 10, height: 10 }, score: 1, classId: 1, label: 'motion' });
      const count = MAX_LOST_TRACKS + 10;
      step(many, 1, Array.from({ length: count }, (_, i) => grid(i)));
      step(many, 2, []);
      // The first 10 dropped were forgotten; the others come back under their ids.
      const back = step(many, 3, [grid(0), grid(count - 1)]).map((t) => t.trackId);
      expect(back).toEqual([count, count + 1]);
    });

    it('forgets the remembered tracks on reset', () => {
      const tracker = new TrackAnalyzer({ minHits: 3, maxMissSeconds: 1, reviveSeconds: 60 });
      run(tracker, 1, 10, () => [car()]);
      run(tracker, 11, 30, () => []);
      tracker.reset();
      expect(run(tracker, 31, 33, () => [car()]).at(-1)).toEqual([2]);
    });
  });

  it('forgets tracks on reset and when capture time goes backwards, without reusing ids', () => {
    const tracker = new TrackAnalyzer({ minHits: 1 });
    step(tracker, 10, [detection(100, 100)]);
    tracker.reset();
    expect(step(tracker, 11, [detection(100, 100)])[0].trackId).toBe(2);
    expect(step(tracker, 1, [detection(100, 100)])[0].trackId).toBe(3);
  });

  it('treats absent detections (motion disabled) as an empty frame', () => {
    const tracker = new TrackAnalyzer({ minHits: 1, maxMisses: 0, maxMissSeconds: 0 });
    step(tracker, 1, [detection(100, 100)]);
    const out = tracker.analyze({
      streamId: 's',
      frameSequence: 2,
      captureTimeUs: 2 * FRAME_US,
      frameWidth: 640,
      frameHeight: 480,
      image: { width: 1, height: 1, data: new Uint8Array(3) },
      scale: 1,
      earlier: {},
    });
    expect(out.tracks!.tracks).toEqual([]);
  });

  it('does not turn a frame repeated 1 ms later into a velocity: the step is too short to measure', () => {
    const tracker = new TrackAnalyzer({ minHits: 2 });
    // 100 px/s to the right at 10 fps...
    for (let f = 1; f <= 4; f++) step(tracker, f, [detection(100 + 10 * f, 200)]);
    // ...then the same frame again 1 ms later, its box 3 px off (segmentation jitter).
    const [t] = stepAt(tracker, 4 * FRAME_US + 1_000, [detection(143, 200)]);
    expect(t.velocityX).toBeCloseTo(100);
    expect(t.velocityY).toBeCloseTo(0);
    // The next frame is measured from the last measurement (frame 4), over 100 ms.
    const [next] = step(tracker, 5, [detection(150, 200)]);
    expect(next.velocityX).toBeCloseTo(100);
  });

  it('stops a coasting track at the edge of the frame, however long the gap', () => {
    const tracker = new TrackAnalyzer({ minHits: 2, maxMisses: 3 });
    // 600 px/s towards the right edge.
    for (let f = 1; f <= 3; f++) step(tracker, f, [detection(500 + 60 * f, 240)]);
    const [soon] = step(tracker, 4, []);
    expect(soon.box).toEqual({ x: WIDTH - 20, y: 230, width: 20, height: 20 });
    // An hour without frames (a paused source): the box is still in the frame.
    const [later] = stepAt(tracker, 4 * FRAME_US + 3_600_000_000, []);
    expect(later.box).toEqual({ x: WIDTH - 20, y: 230, width: 20, height: 20 });
  });

  it('caps the speed at two frame diagonals per second', () => {
    const tracker = new TrackAnalyzer({ minHits: 1, maxDistance: 100_000 });
    stepAt(tracker, 0, [detection(20, 20)]);
    // Corner to corner in 30 ms: 26,700 px/s measured.
    const [t] = stepAt(tracker, 30_000, [detection(620, 460)]);
    expect(Math.hypot(t.velocityX, t.velocityY)).toBeCloseTo(MAX_SPEED_DIAGONALS_PER_SECOND * Math.hypot(WIDTH, HEIGHT));
  });

  it('cuts detection boxes to the frame and ignores those wholly outside it or not finite', () => {
    const tracker = new TrackAnalyzer({ minHits: 1 });
    const tracks = stepAt(tracker, 0, [
      { ...detection(0, 100), box: { x: -10, y: 90, width: 20, height: 20 } },
      { ...detection(0, 100), box: { x: 700, y: 90, width: 20, height: 20 } },
      { ...detection(0, 100), box: { x: Number.NaN, y: 90, width: 20, height: 20 } },
      { ...detection(0, 100), box: { x: 10, y: 300, width: Number.POSITIVE_INFINITY, height: 20 } },
    ]);
    expect(tracks.map((t) => t.box)).toEqual([
      { x: 0, y: 90, width: 10, height: 20 },
      { x: 10, y: 300, width: WIDTH - 10, height: 20 },
    ]);
  });

  it('keeps every value finite and every box inside the frame whatever the gaps between frames (0, 1 µs, hours, backwards)', () => {
    const gap = fc.oneof(
      fc.constant(0),
      fc.integer({ min: 1, max: 2_000 }),
      fc.integer({ min: 30_000, max: 200_000 }),
      fc.integer({ min: 1_000_000, max: 10_000_000_000 }),
      fc.integer({ min: -10_000_000_000, max: -1 }),
    );
    const frame = fc.record({ width: fc.integer({ min: 16, max: 4096 }), height: fc.integer({ min: 16, max: 4096 }) });
    // Boxes as fractions of the frame, some reaching past its edges.
    const box = fc.record({
      x: fc.double({ min: -0.5, max: 1.2, noNaN: true }),
      y: fc.double({ min: -0.5, max: 1.2, noNaN: true }),
      width: fc.double({ min: 0.001, max: 0.6, noNaN: true }),
      height: fc.double({ min: 0.001, max: 0.6, noNaN: true }),
    });
    const frames = fc.array(fc.record({ gap, boxes: fc.array(box, { maxLength: 4 }) }), { minLength: 1, maxLength: 40 });
    const settings = fc.record({
      minHits: fc.integer({ min: 1, max: 3 }),
      maxMisses: fc.integer({ min: 0, max: 10 }),
      maxMissSeconds: fc.double({ min: 0, max: 5, noNaN: true }),
      fragmentInside: fc.double({ min: 0, max: 1, noNaN: true }),
      maxDistance: fc.integer({ min: 0, max: 5000 }),
    });
    fc.assert(
      fc.property(frame, frames, settings, (size, steps, options) => {
        const tracker = new TrackAnalyzer(options);
        const maxSpeed = MAX_SPEED_DIAGONALS_PER_SECOND * Math.hypot(size.width, size.height);
        let time = 1_700_000_000_000_000;
        for (const { gap: g, boxes } of steps) {
          time += g;
          const detections = boxes.map((b) => ({
            ...detection(0, 0),
            box: { x: b.x * size.width, y: b.y * size.height, width: b.width * size.width, height: b.height * size.height },
          }));
          for (const t of stepAt(tracker, time, detections, size)) {
            const { x, y, width, height } = t.box!;
            expect([x, y, width, height, t.velocityX, t.velocityY].every(Number.isFinite)).toBe(true);
            expect(x).toBeGreaterThanOrEqual(0);
            expect(y).toBeGreaterThanOrEqual(0);
            expect(x + width).toBeLessThanOrEqual(size.width + 1e-9);
            expect(y + height).toBeLessThanOrEqual(size.height + 1e-9);
            const centre = centreOf(t);
            expect(centre.x).toBeLessThanOrEqual(size.width);
            expect(centre.y).toBeLessThanOrEqual(size.height);
            expect(Math.hypot(t.velocityX, t.velocityY)).toBeLessThanOrEqual(maxSpeed * (1 + 1e-9));
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
