// Frames and results entering the page's state, without a browser: worker choice, stage decoding,
// trails, decodes in flight, relay gaps and ages, pictures closed when the page has moved on.
import { Result, VideoFrame } from '@framewire/proto/browser';
import { StageEncoder } from '@framewire/overlay-codecs';
import { chooseWorker, createViewState, FrameIntake, MAX_DECODES_IN_FLIGHT, receiveFrame, receiveResult, resetView } from './stream-controller';
import { FakePicture } from './testing/fakes';

const tracks = (workerId: string, frameSequence: number, x = 10) =>
  Result.fromPartial({ workerId, frameSequence, captureTimeUs: frameSequence * 1000, tracks: { tracks: [{ trackId: 1, box: { x, y: 0, width: 2, height: 2 } }] } });
const frame = (sequence: number, extra: Partial<VideoFrame> = {}) =>
  VideoFrame.fromPartial({ sequence, captureTimeUs: sequence * 1000, width: 64, height: 48, jpeg: new Uint8Array([sequence]), relaySequence: sequence, ...extra });

function intake(overrides: Partial<FrameIntake<FakePicture>> = {}) {
  const sizes: string[] = [];
  const value: FrameIntake<FakePicture> = {
    decode: async (jpeg) => new FakePicture(`picture ${jpeg[0]}`),
    isCurrent: () => true,
    resize: (w, h) => sizes.push(`${w}x${h}`),
    nowMs: 0,
    wallClockMs: 0,
    ...overrides,
  };
  return { value, sizes };
}

describe('receiveResult', () => {
  it('draws the first worker that answers, lists each worker once and leaves the others out', () => {
    const state = createViewState<FakePicture>();
    expect(receiveResult(state, tracks('w1', 1), 0)).toEqual({ newWorker: 'w1', chosenWorker: 'w1' });
    expect(receiveResult(state, tracks('w2', 1), 0)).toEqual({ newWorker: 'w2' });
    expect(receiveResult(state, tracks('w2', 2), 0)).toEqual({});
    expect(state.matcher.resultsHeld('w1', 'tracks')).toBe(1);
    expect(state.matcher.resultsHeld('w2', 'tracks')).toBe(0);
  });

  it('takes every worker once every worker is chosen, forgetting what was matched', () => {
    const state = createViewState<FakePicture>();
    receiveResult(state, tracks('w1', 1), 0);
    chooseWorker(state, '');
    expect(state.matcher.resultsHeld('w1', 'tracks')).toBe(0);
    receiveResult(state, tracks('w1', 2), 0);
    receiveResult(state, tracks('w2', 2), 0);
    expect([state.matcher.resultsHeld('w1', 'tracks'), state.matcher.resultsHeld('w2', 'tracks')]).toEqual([1, 1]);
  });

  it('keeps track positions as trails of the worker', () => {
    const state = createViewState<FakePicture>();
    receiveResult(state, tracks('w1', 1, 10), 0);
    receiveResult(state, tracks('w1', 2, 20), 0);
    expect(state.trails.upTo('w1', 1, 2).map((p) => p.x)).toEqual([11, 21]);
  });

  it('resolves stage messages per worker and leaves out one that does not decode', () => {
    const state = createViewState<FakePicture>();
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const encoder = new StageEncoder();
    encoder.beginFrame(1);
    encoder.layer(0).drawCircle(1, 2, 3);
    const good = encoder.finishFrame().slice();
    receiveResult(state, Result.fromPartial({ workerId: 'w1', frameSequence: 1, stage: good }), 0);
    receiveResult(state, Result.fromPartial({ workerId: 'w1', frameSequence: 2, stage: new Uint8Array([0xff, 0xff, 0xff]) }), 0);
    expect(state.matcher.resultsHeld('w1', 'stage')).toBe(1);
    expect(state.stages.has('w1')).toBe(true);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('stage message of w1 at frame 2 does not decode'));
    warn.mockRestore();
  });

  it('ignores a result with no payload it can show', () => {
    const state = createViewState<FakePicture>();
    receiveResult(state, Result.fromPartial({ workerId: 'w1', frameSequence: 1 }), 0);
    expect(state.matcher.resultsHeld('w1', 'tracks')).toBe(0);
    expect(state.workers.has('w1')).toBe(true);
  });
});

describe('receiveFrame', () => {
  it(`decodes at most ${MAX_DECODES_IN_FLIGHT} frames at once and counts the others as dropped in the page`, async () => {
    const state = createViewState<FakePicture>();
    const pending: ((p: FakePicture) => void)[] = [];
    const i = intake({ decode: () => new Promise((resolve) => pending.push(resolve)) });
    const decodes = [1, 2, 3].map((s) => receiveFrame(state, frame(s), 0, i.value));
    expect(decodes[2]).toBeUndefined();
    expect([state.decoding, state.browserDrops, i.sizes.length]).toEqual([2, 1, 2]);
    pending.forEach((resolve, n) => resolve(new FakePicture(`p${n}`)));
    await Promise.all(decodes);
    expect(state.decoding).toBe(0);
    expect(receiveFrame(state, frame(4), 0, i.value)).toBeDefined();
  });

  it('counts frames missing between relay sequences, and the ages at display and at the relay', () => {
    const state = createViewState<FakePicture>();
    const i = intake({ wallClockMs: 5_000 });
    void receiveFrame(state, frame(1, { relaySequence: 1, captureTimeUs: 4_000_000, relayReceivedTimeUs: 4_020_000 }), 0, i.value);
    void receiveFrame(state, frame(2, { relaySequence: 2 }), 0, i.value);
    void receiveFrame(state, frame(3, { relaySequence: 5, captureTimeUs: 4_900_000 }), 0, i.value);
    expect(state.relayGaps).toBe(2);
    expect(state.lastFrameAgeMs).toBe(100);
    expect(state.lastRelayAgeMs).toBe(20);
  });

  it('holds a decoded picture for matching, and closes one whose page has moved on', async () => {
    const state = createViewState<FakePicture>();
    const pictures: FakePicture[] = [];
    const decode = async (jpeg: Uint8Array) => {
      const p = new FakePicture(`picture ${jpeg[0]}`);
      pictures.push(p);
      return p;
    };
    await receiveFrame(state, frame(1), 0, intake({ decode }).value);
    await receiveFrame(state, frame(2), 0, intake({ decode, isCurrent: () => false }).value);
    expect(pictures.map((p) => p.closed)).toEqual([false, true]);
    expect(state.matcher.next(10_000)?.frame.picture).toBe(pictures[0]);
  });

  it('frees the decode slot of a frame that does not decode', async () => {
    const state = createViewState<FakePicture>();
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    await receiveFrame(state, frame(7), 0, intake({ decode: () => Promise.reject(new Error('bad jpeg')) }).value);
    expect(state.decoding).toBe(0);
    expect(warn).toHaveBeenCalledWith('frame 7 does not decode: Error: bad jpeg');
    warn.mockRestore();
  });
});

describe('resetView', () => {
  it('closes the picture shown and held ones, and restarts relay gap counting', async () => {
    const state = createViewState<FakePicture>();
    const held = new FakePicture('held');
    const shown = new FakePicture('shown');
    state.matcher.addFrame(5, 5000, held, 0);
    state.shown = { sequence: 4, captureTimeUs: 4000, picture: shown };
    state.lastRelaySequence = 9;
    resetView(state);
    expect([held.closed, shown.closed, state.shown, state.lastRelaySequence]).toEqual([true, true, undefined, 0]);
    void receiveFrame(state, frame(1, { relaySequence: 1 }), 0, intake().value);
    expect(state.relayGaps).toBe(0);
  });
});
