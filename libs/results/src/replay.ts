// Replays recorded results of one stream: every worker and kind merged in capture-time order (then
// frame sequence), filtered by kind, frame-sequence and capture-time ranges, as fast as possible or
// at the recorded pace. RW archives are joined with their envelopes, so results come back as they
// were published.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyPointsFrame, SegmentationFrame } from '@framewire/overlay-codecs';
import {
  ArchiveFrame,
  SegmentName,
  listSegments,
  loadIndex,
  readArchive,
  readPointDefinition,
  segmentFiles,
} from '@framewire/archive';
import { Result, ResultKind } from '@framewire/proto';
import { joinKeypoints, joinSegmentation, PointNameBook } from './envelope';
import { isRwKind, resultArchiveBaseName, rwArchiveBaseName, workerDirectory } from './layout';
import { ID_PATTERN, RESULT_KINDS, resultKindOf } from './validate';

/** Recorded pace: a gap between two results longer than this is shortened to it (a recording that
 *  paused for an hour replays without the hour). */
export const MAX_REPLAY_PACE_GAP_MS = 2_000;
const MICROS_PER_MILLI = 1000;

export interface ReplayOptions {
  directory: string;
  streamId: string;
  /** Absent or empty: every kind. */
  kinds?: readonly ResultKind[];
  /** Inclusive frame-sequence range; absent: open. */
  fromSequence?: number;
  toSequence?: number;
  /** Inclusive capture-time range, µs since the Unix epoch; absent: open. */
  fromTimeUs?: number;
  toTimeUs?: number;
  /** Sleep by the capture-time gaps between results (each gap at most MAX_REPLAY_PACE_GAP_MS). */
  recordedPace?: boolean;
  /** Stops the replay: iteration ends quietly. */
  signal?: AbortSignal;
}

/** A replay request that cannot be served; `field` names the option. */
export class ReplayRequestError extends Error {
  readonly code = 'REPLAY_REQUEST_INVALID';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ReplayRequestError';
  }
}

/** A recorded Result that does not decode as protobuf (ArchiveCorruptError covers broken framing). */
export class ReplayDecodeError extends Error {
  readonly code = 'REPLAY_UNDECODABLE_RESULT';
  constructor(
    readonly segment: string,
    readonly offset: number,
    options: { cause: unknown },
  ) {
    super(`recorded result at offset ${offset} of ${segment} does not decode: ${(options.cause as Error).message}`, options);
    this.name = 'ReplayDecodeError';
  }
}

interface Range {
  fromSequence: number;
  toSequence: number;
  fromTimeUs: number;
  toTimeUs: number;
}

function checkBound(value: number | undefined, field: string): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new ReplayRequestError(field, `must be a non-negative integer (got ${value})`);
  }
}

/** Checks the options; throws ReplayRequestError naming the first bad one. */
export function validateReplayOptions(options: ReplayOptions): void {
  const { streamId } = options;
  if (typeof streamId !== 'string' || !ID_PATTERN.test(streamId) || streamId === '.' || streamId === '..') {
    throw new ReplayRequestError('stream_id', `must be 1-64 of A-Z a-z 0-9 . _ - (got ${JSON.stringify(streamId)})`);
  }
  for (const kind of options.kinds ?? []) {
    if (!RESULT_KINDS.includes(kind)) throw new ReplayRequestError('kinds', `unknown result kind ${String(kind)}`);
  }
  checkBound(options.fromSequence, 'from_sequence');
  checkBound(options.toSequence, 'to_sequence');
  checkBound(options.fromTimeUs, 'from_time_us');
  checkBound(options.toTimeUs, 'to_time_us');
  if (options.fromSequence !== undefined && options.toSequence !== undefined && options.fromSequence > options.toSequence) {
    throw new ReplayRequestError('from_sequence', `${options.fromSequence} is after to_sequence ${options.toSequence}`);
  }
  if (options.fromTimeUs !== undefined && options.toTimeUs !== undefined && options.fromTimeUs > options.toTimeUs) {
    throw new ReplayRequestError('from_time_us', `${options.fromTimeUs} is after to_time_us ${options.toTimeUs}`);
  }
}

/**
 * The recorded results of `streamId`, merged over workers and kinds in replayOrder (capture time,
 * frame sequence, kind, worker; each archive is assumed to be in that order already, as a worker publishes it).
 * Throws ReplayRequestError at once for bad options; while iterating, ArchiveCorruptError,
 * ReplayDecodeError or EnvelopeMismatchError for damaged archives. A torn tail (a crash of the
 * writer) ends its segment quietly with every complete result before it.
 */
export function replayResults(options: ReplayOptions): AsyncIterable<Result> {
  validateReplayOptions(options);
  const range: Range = {
    fromSequence: options.fromSequence ?? 0,
    toSequence: options.toSequence ?? Number.MAX_SAFE_INTEGER,
    fromTimeUs: options.fromTimeUs ?? 0,
    toTimeUs: options.toTimeUs ?? Number.MAX_SAFE_INTEGER,
  };
  const kinds = options.kinds && options.kinds.length > 0 ? options.kinds : RESULT_KINDS;
  return { [Symbol.asyncIterator]: () => replayGenerator(options, range, kinds) };
}

async function* replayGenerator(options: ReplayOptions, range: Range, kinds: readonly ResultKind[]): AsyncGenerator<Result, void, undefined> {
  const { signal } = options;
  const sources: Array<AsyncGenerator<Result, void, undefined>> = [];
  for (const workerId of await listWorkers(options.directory, options.streamId)) {
    const directory = workerDirectory(options.directory, options.streamId, workerId);
    for (const kind of kinds) sources.push(archiveResults(directory, options.streamId, kind, range, signal));
  }
  try {
    const heads: Array<Result | undefined> = await Promise.all(sources.map(async (s) => (await s.next()).value ?? undefined));
    let paceStart = 0;
    let paceElapsedMs = 0;
    let previousCaptureUs: number | undefined;
    for (;;) {
      if (signal?.aborted) return;
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h === undefined) continue;
        if (best < 0 || replayOrder(h, heads[best] as Result) < 0) best = i;
      }
      if (best < 0) return;
      const result = heads[best] as Result;
      if (options.recordedPace) {
        if (previousCaptureUs === undefined) {
          paceStart = performance.now();
        } else {
          const gapMs = Math.max(0, (result.captureTimeUs - previousCaptureUs) / MICROS_PER_MILLI);
          paceElapsedMs += Math.min(gapMs, MAX_REPLAY_PACE_GAP_MS);
          const wait = paceStart + paceElapsedMs - performance.now();
          if (wait > 0) {
            try {
              await sleep(wait, undefined, { signal });
            } catch {
              return; // aborted
            }
          }
        }
        previousCaptureUs = result.captureTimeUs;
      }
      yield result;
      heads[best] = (await sources[best].next()).value ?? undefined;
    }
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  } finally {
    await Promise.allSettled(sources.map((s) => s.return(undefined)));
  }
}

/** Replay order: capture time, then frame sequence, then kind, then worker id. */
export function replayOrder(a: Result, b: Result): number {
  return (
    a.captureTimeUs - b.captureTimeUs ||
    a.frameSequence - b.frameSequence ||
    resultKindOf(a) - resultKindOf(b) ||
    (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0)
  );
}

async function listWorkers(directory: string, streamId: string): Promise<string[]> {
  try {
    const entries = await readdir(join(directory, streamId), { withFileTypes: true });
    return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

function inRange(result: Result, range: Range): boolean {
  return (
    result.frameSequence >= range.fromSequence &&
    result.frameSequence <= range.toSequence &&
    result.captureTimeUs >= range.fromTimeUs &&
    result.captureTimeUs <= range.toTimeUs
  );
}

/** Earliest capture time (µs) of a segment according to its index; undefined when unknown. */
async function firstIndexedTimeMs(segment: SegmentName): Promise<number | undefined> {
  const load = await loadIndex(segmentFiles(segment.path).index);
  if (load.status !== 'loaded') return undefined;
  return load.index.entries.find((e) => e.timestampMs !== null)?.timestampMs ?? undefined;
}

/** The segments that can hold results in the time range, by the index: a segment whose successor
 *  starts before the range, or that itself starts after it, is skipped unread (capture times do
 *  not decrease within one worker's archive). */
async function segmentsInTimeRange(segments: SegmentName[], range: Range): Promise<SegmentName[]> {
  if (range.fromTimeUs === 0 && range.toTimeUs === Number.MAX_SAFE_INTEGER) return segments;
  const starts = await Promise.all(segments.map(firstIndexedTimeMs));
  return segments.filter((_, i) => {
    const start = starts[i];
    if (start !== undefined && start * MICROS_PER_MILLI > range.toTimeUs) return false;
    const nextStart = starts[i + 1];
    // Index times are whole ms: the next segment's first result is before (nextStart + 1) ms.
    return !(nextStart !== undefined && (nextStart + 1) * MICROS_PER_MILLI - 1 < range.fromTimeUs);
  });
}

function decodeRecorded(frame: ArchiveFrame): Result {
  try {
    return Result.decode(frame.payload);
  } catch (error) {
    throw new ReplayDecodeError(frame.segment, frame.offset, { cause: error });
  }
}

/**
 * A keypoints segment's point names from its RW sidecar, for the frames that take their names from
 * it (no names in their envelope). The book of a segment being written grows, so a frame holding an
 * id the book does not name makes it look at the sidecar again, read anew when it has changed. An
 * id such a frame held unnamed stays unnamed for the rest of the segment (the recorder never names
 * it later), so it is looked up once, not on every frame.
 */
class SidecarBook {
  private book = new PointNameBook();
  private readMtimeMs: number | undefined;
  private readonly unnamedIds = new Set<number>();

  constructor(private readonly path: string) {}

  async for(points: readonly { id: number }[]): Promise<PointNameBook> {
    const unknown = points.filter((p) => !this.unnamedIds.has(p.id) && this.book.nameOf(p.id) === undefined);
    if (this.readMtimeMs !== undefined && unknown.length === 0) return this.book;
    const mtimeMs = (await stat(this.path).catch(() => undefined))?.mtimeMs ?? 0;
    if (mtimeMs !== this.readMtimeMs) {
      this.book = new PointNameBook((await readPointDefinition(this.path))?.points ?? {});
      this.readMtimeMs = mtimeMs;
    }
    for (const p of unknown) if (this.book.nameOf(p.id) === undefined) this.unnamedIds.add(p.id);
    return this.book;
  }
}

/** The results of one archive (a worker's kind), in recorded order, within `range`. */
async function* archiveResults(
  directory: string,
  streamId: string,
  kind: ResultKind,
  range: Range,
  signal: AbortSignal | undefined,
): AsyncGenerator<Result, void, undefined> {
  const segments = await segmentsInTimeRange(await listSegments(directory, resultArchiveBaseName(kind), streamId), range);
  if (!isRwKind(kind)) {
    for (const segment of segments) {
      for await (const frame of readArchive(segment.path, { protocol: 'result', signal })) {
        const result = decodeRecorded(frame);
        if (inRange(result, range)) yield result;
      }
    }
    return;
  }
  const rwSegments = new Map((await listSegments(directory, rwArchiveBaseName(kind), streamId)).map((s) => [s.seq, s.path]));
  for (const segment of segments) {
    const rwPath = rwSegments.get(segment.seq);
    // No RW partner: the recorder crashed between opening the two; the envelope segment is empty.
    if (rwPath === undefined) continue;
    const sidecar = new SidecarBook(segmentFiles(rwPath).points);
    const rwFrames = readArchive(rwPath, { protocol: kind === ResultKind.RESULT_KIND_KEYPOINTS ? 'keypoints' : 'segmentation', signal })[Symbol.asyncIterator]();
    try {
      for await (const frame of readArchive(segment.path, { protocol: 'result', signal })) {
        // The two archives hold the same frames in the same order; after a crash one may have a
        // frame more at its end, and the pair ends at the shorter.
        const rw = await rwFrames.next();
        if (rw.done) break;
        const envelope = decodeRecorded(frame);
        if (!inRange(envelope, range)) continue;
        if (kind === ResultKind.RESULT_KIND_KEYPOINTS) {
          const keypoints = rw.value.decoded as KeyPointsFrame;
          const ownNames = Object.keys(envelope.keypoints?.pointNames ?? {}).length > 0;
          yield joinKeypoints(envelope, keypoints, ownNames ? undefined : await sidecar.for(keypoints.keypoints), rwPath);
        } else {
          yield joinSegmentation(envelope, rw.value.decoded as SegmentationFrame, rwPath);
        }
      }
    } finally {
      await rwFrames.return?.();
    }
  }
}

/** What the archive holds for one stream: the span replay can cover. */
export interface RecordedStream {
  streamId: string;
  workers: string[];
  /** Capture time of the earliest recorded result (from the segment indexes), µs; 0 when unknown. */
  fromTimeUs: number;
  /** Last write to any of the stream's segments, µs since the Unix epoch. */
  toTimeUs: number;
  segments: number;
  bytes: number;
}

/** The streams recorded under `directory`, each with the time span of its archives. */
export async function recordedStreams(directory: string): Promise<RecordedStream[]> {
  let streamIds: string[];
  try {
    streamIds = (await readdir(directory, { withFileTypes: true })).filter((e) => e.isDirectory() && ID_PATTERN.test(e.name)).map((e) => e.name).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: RecordedStream[] = [];
  for (const streamId of streamIds) {
    const workers = await listWorkers(directory, streamId);
    const entry: RecordedStream = { streamId, workers, fromTimeUs: 0, toTimeUs: 0, segments: 0, bytes: 0 };
    for (const workerId of workers) {
      const workerDir = workerDirectory(directory, streamId, workerId);
      for (const kind of RESULT_KINDS) {
        const segments = await listSegments(workerDir, resultArchiveBaseName(kind), streamId);
        if (segments.length === 0) continue;
        const firstMs = await firstIndexedTimeMs(segments[0]);
        if (firstMs !== undefined && (entry.fromTimeUs === 0 || firstMs * MICROS_PER_MILLI < entry.fromTimeUs)) entry.fromTimeUs = firstMs * MICROS_PER_MILLI;
        for (const segment of segments) {
          const s = await stat(segment.path).catch(() => undefined);
          if (s === undefined) continue;
          entry.segments++;
          entry.bytes += s.size;
          entry.toTimeUs = Math.max(entry.toTimeUs, Math.round(s.mtimeMs * MICROS_PER_MILLI));
        }
      }
    }
    if (entry.segments > 0) out.push(entry);
  }
  return out;
}
