// Replay's logic without a browser: local time inputs, the default range, the query, and the
// status of a replay as its messages arrive.
import { ViewerMessage } from '@framewire/proto/browser';
import { defaultReplayRange, fromLocalInput, pickRecordedStream, ReplayProgress, replayPath, toLocalInput } from './replay-controller';

const AT = Date.UTC(2026, 11, 4, 10, 20, 30) * 1000; // µs

describe('replay times', () => {
  it('shows a time in the page zone to the second, and reads it back', () => {
    expect(toLocalInput(AT, 0)).toBe('2026-12-04T10:20:30');
    expect(toLocalInput(AT, -60)).toBe('2026-12-04T11:20:30');
    expect(fromLocalInput(toLocalInput(AT + 400_000))).toBe(AT);
  });

  it('reads an empty or malformed input as no bound', () => {
    expect(fromLocalInput('')).toBeUndefined();
    expect(fromLocalInput('not a time')).toBeUndefined();
  });

  it('starts with the last 30 s recorded, or all of a shorter recording, to a second past its end', () => {
    expect(defaultReplayRange({ streamId: 'a', fromTimeUs: AT - 100e6, toTimeUs: AT, frames: true }, 0)).toEqual({ from: '2026-12-04T10:20:00', to: '2026-12-04T10:20:31' });
    expect(defaultReplayRange({ streamId: 'a', fromTimeUs: AT - 5e6, toTimeUs: AT, frames: true }, 0).from).toBe('2026-12-04T10:20:25');
  });

  it('selects the stream chosen before, else the first', () => {
    const streams = [{ streamId: 'a', fromTimeUs: 0, toTimeUs: 0, frames: false }, { streamId: 'b', fromTimeUs: 0, toTimeUs: 0, frames: true }];
    expect(pickRecordedStream(streams, 'b')?.streamId).toBe('b');
    expect(pickRecordedStream(streams, 'gone')?.streamId).toBe('a');
    expect(pickRecordedStream([], 'a')).toBeUndefined();
  });
});

describe('replayPath', () => {
  it('asks for the stream, pace, video and the range given', () => {
    const path = replayPath({ streamId: 'cam 1', pace: 'fast', video: false, from: toLocalInput(AT), to: '' });
    const [base, query] = path.split('?');
    expect(base).toBe('/ws/replay');
    expect(Object.fromEntries(new URLSearchParams(query))).toEqual({ stream: 'cam 1', pace: 'fast', video: 'off', from: String(AT) });
  });
});

describe('ReplayProgress', () => {
  const frame = ViewerMessage.fromPartial({ frame: { sequence: 1 } });
  const result = ViewerMessage.fromPartial({ result: { frameSequence: 1, workerId: 'w' } });

  it('counts frames and results while playing, and says so', () => {
    const p = new ReplayProgress();
    expect(p.text).toBe('replaying…');
    expect([p.receive(result), p.framesSeen]).toEqual(['result', false]);
    expect([p.receive(frame), p.framesSeen]).toEqual(['frame', true]);
    p.receive(result);
    expect([p.state, p.results, p.frames, p.text]).toEqual(['playing', 2, 1, 'replaying: 2 results, 1 frames']);
  });

  it('finishes with the counts the gateway sent, or fails with its error', () => {
    const done = new ReplayProgress();
    expect(done.receive(ViewerMessage.fromPartial({ replayEnd: { resultsSent: 5, framesSent: 3 } }))).toBe('end');
    expect([done.state, done.ok, done.text]).toEqual(['finished', true, 'finished: 5 results, 3 frames']);
    const failed = new ReplayProgress();
    failed.receive(ViewerMessage.fromPartial({ replayEnd: { error: 'segment unreadable' } }));
    expect([failed.state, failed.ok, failed.text]).toEqual(['failed', false, 'replay failed: segment unreadable']);
  });

  it('fails when its socket fails while playing, and not after it finished', () => {
    const refused = new ReplayProgress();
    refused.socketFailed();
    expect([refused.state, refused.text]).toEqual(['failed', 'replay refused (see the gateway log or the range)']);
    const done = new ReplayProgress();
    done.receive(ViewerMessage.fromPartial({ replayEnd: {} }));
    done.socketFailed();
    expect(done.state).toBe('finished');
  });
});
