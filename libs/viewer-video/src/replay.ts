// Replay for the viewer: recorded frames of a stream (the frame archive) and recorded results
// (libs/results' replayResults) merged in capture-time order, optionally at the recorded pace, each
// item ready to send as one ViewerMessage.
import { setTimeout as sleep } from 'node:timers/promises';
import { readArchive } from '@framewire/archive';
import { Result, VideoFrame } from '@framewire/proto';
import { FRAME_ARCHIVE_BASE_NAME } from './frame-recorder';

/** Recorded pace: a gap longer than this between two items is shortened to it. */
export const MAX_VIEWER_REPLAY_GAP_MS = 2_000;
const MICROS_PER_MILLI = 1000;
/** Protobuf tag of ViewerMessage.frame: field 1, wire type 2. */
const VIEWER_MESSAGE_FRAME_TAG = 0x0a;

export type ViewerReplayItem =
  | { kind: 'result'; captureTimeUs: number; result: Result }
  /** `videoFrame`: the VideoFrame bytes exactly as recorded. */
  | { kind: 'frame'; captureTimeUs: number; sequence: number; videoFrame: Uint8Array };

export interface RecordedFramesOptions {
  directory: string;
  streamId: string;
  /** Inclusive capture-time range, µs since the Unix epoch; absent: open. */
  fromTimeUs?: number;
  toTimeUs?: number;
  signal?: AbortSignal;
}

/** The recorded frames of a stream within the time range, in recorded order. Throws the archive's
 *  errors (ArchiveCorruptError) after the frames before the damage. */
export async function* recordedFrames(options: RecordedFramesOptions): AsyncGenerator<ViewerReplayItem, void, undefined> {
  const from = options.fromTimeUs ?? 0;
  const to = options.toTimeUs ?? Number.MAX_SAFE_INTEGER;
  const source = { directory: options.directory, baseName: FRAME_ARCHIVE_BASE_NAME, streamId: options.streamId };
  const seek = from > 0 ? { timestampMs: Math.floor(from / MICROS_PER_MILLI) } : undefined;
  // The index takes the reader to the last indexed frame at or before `from` (or the start).
  const reader = readArchive(source, { protocol: 'result', signal: options.signal, seek });
  for await (const frame of reader) {
    const header = VideoFrame.decode(frame.payload);
    if (header.captureTimeUs < from) continue;
    if (header.captureTimeUs > to) return;
    yield { kind: 'frame', captureTimeUs: header.captureTimeUs, sequence: header.sequence, videoFrame: frame.payload };
  }
}

/** The items of both inputs in capture-time order; on a tie the frame comes first, so a viewer
 *  has the picture before the results drawn on it. Each input must be in capture-time order. */
export async function* mergeByCaptureTime(
  results: AsyncIterable<Result>,
  frames: AsyncIterable<ViewerReplayItem> | undefined,
): AsyncGenerator<ViewerReplayItem, void, undefined> {
  const r = results[Symbol.asyncIterator]();
  const f = frames?.[Symbol.asyncIterator]();
  try {
    let nextResult = await r.next();
    let nextFrame: IteratorResult<ViewerReplayItem> = f ? await f.next() : { done: true, value: undefined };
    while (!nextResult.done || !nextFrame.done) {
      if (!nextFrame.done && (nextResult.done || nextFrame.value.captureTimeUs <= nextResult.value.captureTimeUs)) {
        yield nextFrame.value;
        nextFrame = await (f as AsyncIterator<ViewerReplayItem>).next();
      } else if (!nextResult.done) {
        yield { kind: 'result', captureTimeUs: nextResult.value.captureTimeUs, result: nextResult.value };
        nextResult = await r.next();
      }
    }
  } finally {
    await Promise.allSettled([r.return?.(), f?.return?.()]);
  }
}

/** Sleeps by the capture-time gaps between items (each gap at most MAX_VIEWER_REPLAY_GAP_MS);
 *  ends quietly when `signal` aborts. */
export async function* atRecordedPace<T extends { captureTimeUs: number }>(items: AsyncIterable<T>, signal?: AbortSignal): AsyncGenerator<T, void, undefined> {
  let start = 0;
  let elapsedMs = 0;
  let previousUs: number | undefined;
  for await (const item of items) {
    if (previousUs === undefined) start = performance.now();
    else {
      elapsedMs += Math.min(Math.max(0, (item.captureTimeUs - previousUs) / MICROS_PER_MILLI), MAX_VIEWER_REPLAY_GAP_MS);
      const wait = start + elapsedMs - performance.now();
      if (wait > 0) {
        try {
          await sleep(wait, undefined, { signal });
        } catch {
          return;
        }
      }
    }
    previousUs = item.captureTimeUs;
    if (signal?.aborted) return;
    yield item;
  }
}

/** ViewerMessage{frame} around recorded VideoFrame bytes, without decoding them. */
export function viewerMessageOfVideoFrame(videoFrame: Uint8Array): Uint8Array {
  let length = videoFrame.length;
  const header: number[] = [VIEWER_MESSAGE_FRAME_TAG];
  while (length > 0x7f) {
    header.push((length & 0x7f) | 0x80);
    length >>>= 7;
  }
  header.push(length);
  const out = new Uint8Array(header.length + videoFrame.length);
  out.set(header, 0);
  out.set(videoFrame, header.length);
  return out;
}
