// The tracker on hand-made detections: confirmation, missed frames, crossing objects, id stability,
// velocity from capture times.
import { Detection, Track } from '@framewire/proto';
import { AnalyzerInput } from './analyzer';
import { TrackAnalyzer } from './tracker';

const FRAME_US = 100_000; // 10 fps

function detection(cx: number, cy: number, size = 20): Detection {
  return { box: { x: cx - size / 2, y: cy - size / 2, width: size, height: size }, score: 1, classId: 1, label: 'motion' };
}

function step(tracker: TrackAnalyzer, frame: number, detections: Detection[]): Track[] {
  const input: AnalyzerInput = {
    streamId: 's',
    frameSequence: frame,
    captureTimeUs: frame * FRAME_US,
    frameWidth: 640,
    frameHeight: 480,
    image: { width: 1, height: 1, data: new Uint8Array(3) },
    scale: 1,
    earlier: { detections: { detections } },
  };
  return tracker.analyze(input).tracks!.tracks;
}

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
    const tracker = new TrackAnalyzer({ minHits: 2, maxMisses: 2 });
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

  it('forgets tracks on reset and when capture time goes backwards, without reusing ids', () => {
    const tracker = new TrackAnalyzer({ minHits: 1 });
    step(tracker, 10, [detection(100, 100)]);
    tracker.reset();
    expect(step(tracker, 11, [detection(100, 100)])[0].trackId).toBe(2);
    expect(step(tracker, 1, [detection(100, 100)])[0].trackId).toBe(3);
  });

  it('treats absent detections (motion disabled) as an empty frame', () => {
    const tracker = new TrackAnalyzer({ minHits: 1, maxMisses: 0 });
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
});
