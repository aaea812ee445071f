// The tracker on detections recorded from real video (fixtures/vtest-motion-detections.json: the
// motion analyzer on the first 30 s of vtest.avi: pedestrians crossing, walking in pairs, passing
// behind a lamp post; fixtures/README.md). The same people must get about as many ids whatever the
// rate the frames come at, and every box must stay centred in the frame.
import { Detection } from '@framewire/proto';
import { TrackAnalyzer } from './tracker';
import { summarizeTracks, TrackedFrame, TrackQuality } from './track-quality';
import fixture from './fixtures/vtest-motion-detections.json';

/** Issue 18's goal for motion + tracks. */
const MAX_NEW_IDS_PER_SECOND = 2;

/** Replays every `step`-th recorded frame at its recorded capture time (the file's 10 fps, so
 *  step 2 is a 5 fps capture of the same scene) through a tracker with default settings. */
function replayEvery(step: number): TrackQuality {
  const tracker = new TrackAnalyzer();
  const tracked: TrackedFrame[] = [];
  for (let k = 0; k < fixture.frames.length; k += step) {
    const boxes = fixture.frames[k];
    const detections: Detection[] = [];
    for (let i = 0; i < boxes.length; i += 4) detections.push({ box: { x: boxes[i], y: boxes[i + 1], width: boxes[i + 2], height: boxes[i + 3] }, score: 1, classId: 1, label: 'motion' });
    const captureTimeUs = k * fixture.frameIntervalUs;
    const { tracks } = tracker.analyze({
      streamId: 'vtest',
      frameSequence: k,
      captureTimeUs,
      frameWidth: fixture.frameWidth,
      frameHeight: fixture.frameHeight,
      image: { width: 1, height: 1, data: new Uint8Array(3) },
      scale: 1,
      earlier: { detections: { detections } },
    });
    tracked.push({ captureTimeUs, tracks: tracks!.tracks });
  }
  return summarizeTracks(tracked, fixture.frameWidth, fixture.frameHeight);
}

describe('TrackAnalyzer on detections recorded from vtest.avi', () => {
  it('gives the same 30 s of pedestrians at most a quarter more ids at 10 fps than at 5 fps', () => {
    // The people are the same; only the frame rate differs. A miss budget counted in frames alone
    // gave an occluded walker 0.5 s at 10 fps and 1 s at 5 fps: 49 ids against 34.
    const at10 = replayEvery(1);
    const at5 = replayEvery(2);
    expect(at10.ids).toBeLessThanOrEqual(1.25 * at5.ids);
  });

  it.each([
    { step: 1, fps: '10' },
    { step: 2, fps: '5' },
    { step: 3, fps: '3.3' },
  ])('meets ≤ 2 new ids per second with every box centred in the frame and no id given twice at $fps fps', ({ step }) => {
    const quality = replayEvery(step);
    expect(quality.newIdsPerSecond).toBeLessThanOrEqual(MAX_NEW_IDS_PER_SECOND);
    expect(quality.centresOutside).toBe(0);
    expect(quality.reusedIds).toBe(0);
  });
});
