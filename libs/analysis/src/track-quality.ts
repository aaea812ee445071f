// How well a tracker kept its ids over a recorded run: new ids per second, analysed frames per id,
// boxes centred outside the frame, and ids that came back after a frame without them: in their
// place (a still object revived) or elsewhere (an id given to another object: a bug). Read by the real-video
// benchmark, the real-video end-to-end test and the tracker's tests on recorded detections.
import { Box, Track } from '@framewire/proto';
import { iou } from './tracker';

/** An id that comes back overlapping its last box by at least this much came back in its place. */
export const REVIVED_MIN_IOU = 0.3;

/** The tracks output of one analysed frame, in the order the frames were analysed. */
export interface TrackedFrame {
  captureTimeUs: number;
  tracks: readonly Track[];
}

export interface TrackQuality {
  frames: number;
  /** Capture time from the first to the last frame, plus one frame interval (the span the frames cover). */
  seconds: number;
  ids: number;
  newIdsPerSecond: number;
  /** Median, over ids, of the analysed frames in which the id was output. */
  medianFramesPerId: number;
  /** Track boxes whose centre lies outside the frame (must be 0). */
  centresOutside: number;
  /** Ids output again after a frame without them, overlapping their last box (IoU >= REVIVED_MIN_IOU):
   *  still objects found again in their place (the tracker's reviveSeconds). */
  revivedIds: number;
  /** Ids output again after a frame without them somewhere else: an id given to another object (the
   *  tracker never does: must be 0). */
  reusedIds: number;
}

/** Summarizes one tracker's frames (one worker's, one stream's), which must be in analysis order. */
export function summarizeTracks(frames: readonly TrackedFrame[], frameWidth: number, frameHeight: number): TrackQuality {
  const framesPerId = new Map<number, number>();
  const lastFrameOf = new Map<number, number>();
  const lastBoxOf = new Map<number, Box | undefined>();
  const revived = new Set<number>();
  const reused = new Set<number>();
  let centresOutside = 0;
  frames.forEach((frame, index) => {
    for (const track of frame.tracks) {
      const id = track.trackId;
      const last = lastFrameOf.get(id);
      if (last !== undefined && last !== index - 1) {
        const before = lastBoxOf.get(id);
        if (before !== undefined && track.box !== undefined && iou(before, track.box) >= REVIVED_MIN_IOU) revived.add(id);
        else reused.add(id);
      }
      lastFrameOf.set(id, index);
      lastBoxOf.set(id, track.box);
      framesPerId.set(id, (framesPerId.get(id) ?? 0) + 1);
      const box = track.box;
      const cx = box === undefined ? NaN : box.x + box.width / 2;
      const cy = box === undefined ? NaN : box.y + box.height / 2;
      if (!(cx >= 0 && cx < frameWidth && cy >= 0 && cy < frameHeight)) centresOutside++;
    }
  });
  const seconds = frames.length === 0 ? 0 : spanSeconds(frames);
  const counts = [...framesPerId.values()].sort((a, b) => a - b);
  return {
    frames: frames.length,
    seconds,
    ids: framesPerId.size,
    newIdsPerSecond: seconds > 0 ? framesPerId.size / seconds : 0,
    medianFramesPerId: counts.length === 0 ? 0 : counts.length % 2 ? counts[counts.length >> 1] : (counts[counts.length / 2 - 1] + counts[counts.length / 2]) / 2,
    centresOutside,
    revivedIds: revived.size,
    reusedIds: reused.size,
  };
}

/** First to last capture time plus the median frame interval, so that n frames at f fps span n / f seconds. */
function spanSeconds(frames: readonly TrackedFrame[]): number {
  const intervals: number[] = [];
  for (let i = 1; i < frames.length; i++) intervals.push(frames[i].captureTimeUs - frames[i - 1].captureTimeUs);
  intervals.sort((a, b) => a - b);
  const interval = intervals.length === 0 ? 0 : intervals[intervals.length >> 1];
  return (frames[frames.length - 1].captureTimeUs - frames[0].captureTimeUs + interval) / 1e6;
}
