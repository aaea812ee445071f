// summarizeTracks on hand-made tracks outputs: the figures the real-video benchmark and test report.
import { Track } from '@framewire/proto';
import { summarizeTracks, TrackedFrame } from './track-quality';

function track(trackId: number, cx: number, cy: number): Track {
  return { trackId, box: { x: cx - 5, y: cy - 5, width: 10, height: 10 }, velocityX: 0, velocityY: 0, ageFrames: 0, hits: 3, misses: 0 };
}

/** Frames at 10 fps. */
const at = (index: number, tracks: Track[]): TrackedFrame => ({ captureTimeUs: 1_000_000 + index * 100_000, tracks });

describe('summarizeTracks', () => {
  it('counts ids over the span the frames cover and the median frames per id', () => {
    const frames = [at(0, [track(1, 10, 10)]), at(1, [track(1, 12, 10), track(2, 50, 50)]), at(2, [track(1, 14, 10), track(2, 52, 50)]), at(3, [track(3, 90, 90)])];
    expect(summarizeTracks(frames, 100, 100)).toEqual({ frames: 4, seconds: 0.4, ids: 3, newIdsPerSecond: 7.5, medianFramesPerId: 2, centresOutside: 0, revivedIds: 0, reusedIds: 0 });
  });

  it('counts boxes centred outside the frame, and a box that is missing', () => {
    const noBox: Track = { ...track(3, 0, 0), box: undefined };
    const frames = [at(0, [track(1, 100, 50), track(2, -1, 50), noBox, track(4, 99.5, 99.5)])];
    expect(summarizeTracks(frames, 100, 100).centresOutside).toBe(3);
  });

  it('counts an id that comes back after a frame without it in its place as revived, elsewhere as reused', () => {
    const frames = [at(0, [track(1, 10, 10), track(2, 50, 50)]), at(1, []), at(2, [track(1, 12, 10), track(2, 80, 50), track(3, 20, 20)]), at(3, [track(3, 20, 20)])];
    // Track 1 moved 2 px of its 10 (IoU 0.67): revived; track 2 came back 30 px away: reused.
    expect(summarizeTracks(frames, 100, 100)).toMatchObject({ ids: 3, revivedIds: 1, reusedIds: 1, medianFramesPerId: 2 });
  });

  it('reports zeros for no frames', () => {
    expect(summarizeTracks([], 100, 100)).toEqual({ frames: 0, seconds: 0, ids: 0, newIdsPerSecond: 0, medianFramesPerId: 0, centresOutside: 0, revivedIds: 0, reusedIds: 0 });
  });
});
