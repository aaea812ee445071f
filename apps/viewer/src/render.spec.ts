// Rendering orchestration without a browser: which frame is shown, what is drawn, and what the
// canvas's and the replay status line's data attributes say (the browser test reads them).
import { Result } from '@framewire/proto/browser';
import { DEFAULT_HOLD_MS } from './frame-matcher';
import { redraw, RATE_WINDOW_MS, RenderTarget, renderTick } from './render';
import { createViewState, receiveResult } from './stream-controller';
import { COCO_KEYPOINT_NAMES } from './skeleton';
import { FakePicture } from './testing/fakes';
import { recordingContext } from './testing/recording-context';

/** A held frame is shown after this whatever answered (result sources are remembered far longer). */
const LATER_MS = DEFAULT_HOLD_MS;

function page() {
  const { ctx, calls } = recordingContext();
  const target: RenderTarget = { ctx, canvas: { width: 64, height: 48, dataset: {} }, replayStatus: {} };
  const state = createViewState<FakePicture>();
  const keypoints = (frameSequence: number) =>
    Result.fromPartial({ workerId: 'w1', frameSequence, captureTimeUs: frameSequence * 1000, keypoints: { points: [{ id: 0, x: 5, y: 6, confidence: 1 }], pointNames: { c: 0 } } });
  return { state, target, calls, keypoints };
}

describe('renderTick', () => {
  it('draws the matched frame with its overlays and says what is on the canvas', () => {
    const { state, target, calls, keypoints } = page();
    receiveResult(state, keypoints(3), 0);
    state.matcher.addFrame(3, 3000, new FakePicture('three'), 0);
    renderTick(state, target, LATER_MS);
    expect(calls).toContain('image 0,0 64x48');
    expect(calls.some((c) => c.startsWith('arc 5,6'))).toBe(true);
    expect(target.canvas.dataset).toEqual({ frameSequence: '3', frameCaptureUs: '3000', overlayExact: 'keypoints', framesShown: '1', limbs: '0', labels: '[]' });
    expect(state.shown?.sequence).toBe(3);
    expect(target.replayStatus).toEqual({}); // live: the replay line is left alone
  });

  it('says how many skeleton limbs and which labels it drew, and keeps the points drawn for the tooltip', () => {
    const { state, target } = page();
    const pointNames = Object.fromEntries(COCO_KEYPOINT_NAMES.map((name, k) => [name, k]));
    // Person 2's left shoulder, elbow and wrist: two limbs.
    const points = ['left_shoulder', 'left_elbow', 'left_wrist'].map((name, i) => ({ id: 2 * 17 + pointNames[name], x: 10 + i, y: 20 + 10 * i, confidence: 0.75 }));
    receiveResult(state, Result.fromPartial({ workerId: 'w1', frameSequence: 4, captureTimeUs: 4000, keypoints: { points, pointNames } }), 0);
    receiveResult(state, Result.fromPartial({ workerId: 'w1', frameSequence: 4, captureTimeUs: 4000, detections: { detections: [{ box: { x: 1, y: 2, width: 3, height: 4 }, score: 0.5, classId: 2, label: 'car' }] } }), 0);
    state.matcher.addFrame(4, 4000, null, 0);
    renderTick(state, target, 0);
    expect(target.canvas.dataset).toMatchObject({ overlayExact: 'detections,keypoints', limbs: '2', labels: '["car 0.50"]' });
    expect(state.drawn.points.map((p) => p.text)).toEqual(['person 2 left_shoulder 0.75', 'person 2 left_elbow 0.75', 'person 2 left_wrist 0.75']);
  });

  it('draws nothing while no frame is ready', () => {
    const { state, target, calls } = page();
    renderTick(state, target, LATER_MS);
    expect(calls).toEqual([]);
    expect(state.framesShown).toBe(0);
  });

  it('closes the picture shown when a newer frame replaces it', () => {
    const { state, target } = page();
    const first = new FakePicture('1');
    const second = new FakePicture('2');
    state.matcher.addFrame(1, 1000, first, 0);
    renderTick(state, target, LATER_MS);
    state.matcher.addFrame(2, 2000, second, LATER_MS);
    renderTick(state, target, 2 * LATER_MS);
    expect([first.closed, second.closed]).toEqual([true, false]);
  });

  it('in a replay, counts frames shown and those shown with results of exactly that frame', () => {
    const { state, target, keypoints } = page();
    state.mode = 'replay';
    receiveResult(state, keypoints(1), 0);
    state.matcher.addFrame(1, 1000, null, 0);
    renderTick(state, target, LATER_MS);
    state.matcher.addFrame(5, 5000, null, LATER_MS); // no result of frame 5, and frame 1's is too old to draw
    renderTick(state, target, 2 * LATER_MS);
    expect(target.replayStatus).toEqual({ shown: '2', matched: '1' });
    expect(target.canvas.dataset.overlayExact).toBe('');
  });

  it('measures the frame rate over the last window only', () => {
    const { state, target } = page();
    state.shownTimes.push(0, 100);
    renderTick(state, target, RATE_WINDOW_MS + 50);
    expect(state.shownTimes).toEqual([100]);
  });
});

describe('redraw', () => {
  it('draws the frame shown again without the kinds switched off', () => {
    const { state, target, calls, keypoints } = page();
    receiveResult(state, keypoints(3), 0);
    state.matcher.addFrame(3, 3000, null, 0);
    renderTick(state, target, LATER_MS);
    state.enabled.delete('keypoints');
    calls.length = 0;
    redraw(state, target);
    expect(calls.some((c) => c.startsWith('arc'))).toBe(false);
    expect(target.canvas.dataset.overlayExact).toBe('');
    expect(target.canvas.dataset.frameSequence).toBe('3');
  });
});
