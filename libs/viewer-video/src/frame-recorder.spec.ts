import { mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Frame, PixelFormat, Result, ViewerMessage, VideoFrame } from '@framewire/proto';
import { FrameRecorder } from './frame-recorder';
import { encodeRelayedFrame } from './relay';
import { atRecordedPace, mergeByCaptureTime, recordedFrames, viewerMessageOfVideoFrame, ViewerReplayItem } from './replay';

const T0 = 1_700_000_000_000_000;
const FRAME_US = 66_666;

function relayed(sequence: number, bytes = 2000, streamId = 'cam-1') {
  const frame: Frame = {
    streamId,
    sequence,
    captureTimeUs: T0 + sequence * FRAME_US,
    width: 64,
    height: 48,
    pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG,
    sizeBytes: bytes,
    data: Buffer.alloc(bytes, sequence & 0xff),
  } as Frame;
  return encodeRelayedFrame({ frame, droppedSinceLast: 0, receivedTimeUs: frame.captureTimeUs + 1000 }, sequence);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('FrameRecorder and recorded frames', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-frames-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('records relayed frames and replays them within a time range, bytes unchanged', async () => {
    const recorder = new FrameRecorder({ directory: dir });
    for (let s = 1; s <= 30; s++) recorder.record(relayed(s));
    recorder.record(relayed(1, 100, 'cam-2'));
    await recorder.close();
    expect(recorder.stats()).toMatchObject({ recorded: 31, dropped: 0, errors: 0 });

    const all = await collect(recordedFrames({ directory: dir, streamId: 'cam-1' }));
    expect(all.map((f) => (f.kind === 'frame' ? f.sequence : -1))).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const first = all[0] as Extract<ViewerReplayItem, { kind: 'frame' }>;
    expect(Buffer.from(first.videoFrame).equals(Buffer.from(relayed(1).videoFrame))).toBe(true);

    const some = await collect(recordedFrames({ directory: dir, streamId: 'cam-1', fromTimeUs: T0 + 10 * FRAME_US, toTimeUs: T0 + 20 * FRAME_US }));
    expect(some.map((f) => (f.kind === 'frame' ? f.sequence : -1))).toEqual(Array.from({ length: 11 }, (_, i) => i + 10));
    expect(await collect(recordedFrames({ directory: dir, streamId: 'cam-9' }))).toEqual([]);
  });

  it('rotates by size and deletes the oldest segments beyond the total size, never the open one', async () => {
    const recorder = new FrameRecorder({ directory: dir, rotation: { maxSegmentBytes: 8 * 1024 }, retention: { maxBytes: 20 * 1024 } });
    for (let s = 1; s <= 40; s++) recorder.record(relayed(s));
    await recorder.flush();
    const bins = () => readdirSync(dir).filter((n) => n.endsWith('.bin'));
    const before = bins().length;
    expect(before).toBeGreaterThan(3);
    await recorder.sweep();
    const after = bins().length;
    expect(after).toBeLessThan(before);
    expect(recorder.stats().segmentsDeleted).toBe(before - after);
    // What is left is the newest frames, readable to the end.
    const left = await collect(recordedFrames({ directory: dir, streamId: 'cam-1' }));
    expect(left[left.length - 1]).toMatchObject({ sequence: 40 });
    recorder.record(relayed(41));
    await recorder.close();
    expect(recorder.stats().errors).toBe(0);
  });

  it('deletes segments older than the age limit', async () => {
    const recorder = new FrameRecorder({ directory: dir, rotation: { maxSegmentBytes: 8 * 1024 }, retention: { maxAgeMs: 60_000 } });
    for (let s = 1; s <= 20; s++) recorder.record(relayed(s));
    await recorder.flush();
    const old = new Date(Date.now() - 3_600_000);
    for (const name of readdirSync(dir)) utimesSync(join(dir, name), old, old);
    await recorder.sweep();
    // Only the open segment is left.
    expect(readdirSync(dir).filter((n) => n.endsWith('.bin'))).toHaveLength(1);
    await recorder.close();
  });

  it('drops frames beyond its queue instead of holding them, and counts them', async () => {
    const recorder = new FrameRecorder({ directory: dir, maxPendingPerStream: 2 });
    for (let s = 1; s <= 10; s++) recorder.record(relayed(s));
    await recorder.close();
    expect(recorder.stats().recorded + recorder.stats().dropped).toBe(10);
    expect(recorder.stats().dropped).toBeGreaterThan(0);
    recorder.record(relayed(11));
    expect(recorder.stats().dropped).toBeGreaterThan(7);
  });

  it('bounds the frames waiting for the disk in bytes, per stream and over all streams', async () => {
    const frameBytes = relayed(1, 100_000).message.byteLength;
    const perStream = new FrameRecorder({ directory: dir, maxPendingBytesPerStream: 3 * frameBytes });
    const total = new FrameRecorder({ directory: join(dir, 'total'), maxPendingBytes: 4 * frameBytes });
    // Offered in one go: nothing is written before all are.
    for (let s = 1; s <= 10; s++) {
      for (const streamId of ['cam-1', 'cam-2']) {
        perStream.record(relayed(s, 100_000, streamId));
        total.record(relayed(s, 100_000, streamId));
      }
    }
    expect(perStream.stats()).toMatchObject({ pendingBytes: 6 * frameBytes, dropped: 14 });
    expect(total.stats()).toMatchObject({ pendingBytes: 4 * frameBytes, dropped: 16 });
    await Promise.all([perStream.close(), total.close()]);
    expect(perStream.stats()).toMatchObject({ recorded: 6, pendingBytes: 0 });
    expect(total.stats()).toMatchObject({ recorded: 4, pendingBytes: 0 });
  });
});

describe('viewer replay', () => {
  const result = (sequence: number): Result => ({ streamId: 'cam-1', frameSequence: sequence, captureTimeUs: T0 + sequence * FRAME_US, workerId: 'w', processingUs: 1, publishedTimeUs: T0 + sequence * FRAME_US + 1 });
  async function* from<T>(items: T[]): AsyncGenerator<T> {
    for (const i of items) yield i;
  }
  const frameItem = (sequence: number): ViewerReplayItem => ({ kind: 'frame', captureTimeUs: T0 + sequence * FRAME_US, sequence, videoFrame: relayed(sequence).videoFrame });

  it('merges results and frames in capture-time order, the frame before its results', async () => {
    const merged = await collect(mergeByCaptureTime(from([result(1), result(1), result(3), result(4)]), from([frameItem(1), frameItem(2), frameItem(4), frameItem(5)])));
    expect(merged.map((m) => `${m.kind[0]}${m.kind === 'frame' ? m.sequence : m.result.frameSequence}`)).toEqual(['f1', 'r1', 'r1', 'f2', 'r3', 'f4', 'r4', 'f5']);
    expect((await collect(mergeByCaptureTime(from([result(2)]), undefined))).map((m) => m.kind)).toEqual(['result']);
  });

  it('paces items by their capture-time gaps, and stops when aborted', async () => {
    const items = [0, 100_000, 200_000].map((us) => ({ captureTimeUs: T0 + us }));
    const started = performance.now();
    expect(await collect(atRecordedPace(from(items)))).toHaveLength(3);
    // At least the recorded 200 ms (a busy machine only makes it longer).
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    const abort = new AbortController();
    abort.abort();
    expect(await collect(atRecordedPace(from(items), abort.signal))).toHaveLength(0);
  });

  it('wraps recorded VideoFrame bytes as the ViewerMessage the live relay sends', () => {
    for (const bytes of [10, 200, 20_000]) {
      const r = relayed(3, bytes);
      const wrapped = viewerMessageOfVideoFrame(r.videoFrame);
      expect(Buffer.from(wrapped).equals(Buffer.from(r.message))).toBe(true);
      expect(VideoFrame.decode(r.videoFrame).jpeg.length).toBe(bytes);
      expect(ViewerMessage.decode(wrapped).frame?.sequence).toBe(3);
    }
  });
});
