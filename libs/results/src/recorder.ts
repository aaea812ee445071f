// Records published results to archives (libs/archive): keypoints and segmentation in the RW
// binary formats with an envelope archive beside them, the other kinds as delimited protobuf
// Results; rotation of both archives of a kind together, retention by age and total size, and
// bounds on what waits for the disk (count and bytes) and on the stream/worker directories created.
import { readdirSync } from 'node:fs';
import { join, sep } from 'node:path';
import {
  ArchiveWriter,
  DEFAULT_DURABILITY,
  DurabilityPolicy,
  RetentionPolicy,
  RotationPolicy,
  SegmentRetention,
  parseSegmentFileName,
} from '@framewire/archive';
import { encodedFrameLength } from '@framewire/framing';
import { KeyPointsEncoder, SegmentationEncoder } from '@framewire/overlay-codecs';
import { Result, ResultKind } from '@framewire/proto';
import type { PublishedResult } from './hub';
import { ENVELOPE_SUFFIX, isRwKind, resultArchiveBaseName, rwArchiveBaseName, workerDirectory } from './layout';
import { ID_PATTERN } from './validate';
import { keypointsEnvelope, PointNameBook, samePointNames, segmentationEnvelope } from './envelope';

const MIB = 1024 * 1024;
/** Results waiting to be written to one archive before new ones are dropped (a stalled disk must
 *  not grow memory). */
export const DEFAULT_MAX_PENDING_PER_ARCHIVE = 1024;
/** Bytes (PublishedResult.retainedBytes) waiting for one archive before new results are dropped. */
export const DEFAULT_MAX_PENDING_BYTES_PER_ARCHIVE = 64 * MIB;
/** Bytes waiting for all archives together before new results are dropped. */
export const DEFAULT_MAX_PENDING_BYTES = 256 * MIB;
/** (stream, worker) directories the archive may hold; results of a new pair beyond it are not
 *  recorded (still fanned out live). Retention removes directories it empties. */
export const DEFAULT_MAX_ARCHIVE_DIRECTORIES = 1024;
/** Archives (stream, worker, kind) open at once; the least recently used is closed beyond it. */
export const MAX_OPEN_ARCHIVES = 256;
/** An archive that received nothing this long is closed (it reopens on the next result). */
export const IDLE_ARCHIVE_CLOSE_MS = 5 * 60_000;
/** How often retention and idle closing run. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000;
/** Keypoints master interval of the RW archives (formats.md §2 default). */
export const RECORDER_KEYPOINTS_MASTER_INTERVAL = 300;
/** Empty segments opened to bring an RW archive and its envelope to the same sequence number. */
const MAX_SEQ_ALIGN_STEPS = 1000;
const MAX_LOGGED_CAUSES = 32;
const MICROS_PER_MILLI = 1000;

export interface RecorderLogger {
  warn(message: string): void;
  log?(message: string): void;
}

export interface ResultRecorderOptions {
  directory: string;
  rotation?: RotationPolicy;
  /** Over every archive under `directory`; the RW segment and its envelope go together. */
  retention?: RetentionPolicy;
  durability?: DurabilityPolicy;
  logger?: RecorderLogger;
  maxPendingPerArchive?: number;
  maxPendingBytesPerArchive?: number;
  /** All archives together. */
  maxPendingBytes?: number;
  /** (stream, worker) directories under `directory`, those already there included. */
  maxDirectories?: number;
  /** Retention and idle-close sweep period; default DEFAULT_SWEEP_INTERVAL_MS. */
  sweepIntervalMs?: number;
  /** Unix ms; default Date.now. */
  clock?: () => number;
}

export interface ResultRecorderStats {
  recorded: number;
  /** Results not recorded because a queue was full (count or bytes) or the recorder was closed. */
  dropped: number;
  /** Results not recorded because their (stream, worker) directory would exceed maxDirectories. */
  directoryCapDrops: number;
  /** Results not recorded because of an I/O or encoding failure. */
  errors: number;
  openArchives: number;
  pending: number;
  pendingBytes: number;
  /** (stream, worker) directories known to hold archives. */
  directories: number;
  segmentsDeleted: number;
  bytesDeleted: number;
}

export class ResultRecorderConfigError extends Error {
  readonly code = 'RESULT_RECORDER_CONFIG_INVALID';
}

/** The open writers of one archive: the protobuf one, and the RW one for keypoints and segmentation.
 *  They rotate together and always hold the same segment sequence number and frame count. */
interface WriterPair {
  results: ArchiveWriter;
  rw: ArchiveWriter | undefined;
  keypoints: KeyPointsEncoder | undefined;
  segmentation: SegmentationEncoder | undefined;
  createdAtMs: number;
  /** Keypoints: the point names of this segment's RW sidecar. */
  book: PointNameBook;
}

interface ArchiveTrack {
  key: string;
  streamId: string;
  workerId: string;
  kind: ResultKind;
  directory: string;
  pair: WriterPair | undefined;
  chain: Promise<void>;
  pending: number;
  pendingBytes: number;
  lastUsedMs: number;
}

/** `<stream>/<worker>`, the key of a directory in the cap. */
const directoryKey = (streamId: string, workerId: string): string => `${streamId}/${workerId}`;

/**
 * Records every result given to `record` (typically a ResultHub tap). `record` is synchronous and
 * never throws: writes are queued per archive and run in order; failures are counted and logged
 * once per cause.
 */
export class ResultRecorder {
  private readonly directory: string;
  private readonly rotation: RotationPolicy;
  private readonly retention: SegmentRetention;
  private readonly durability: DurabilityPolicy;
  private readonly logger: RecorderLogger | undefined;
  private readonly maxPending: number;
  private readonly maxPendingBytesPerArchive: number;
  private readonly maxPendingBytes: number;
  private readonly maxDirectories: number;
  private readonly clock: () => number;
  private readonly tracks = new Map<string, ArchiveTrack>();
  /** Closings of evicted or idle archives still running: close() waits for them. */
  private readonly closings = new Set<Promise<void>>();
  /** The closing of each archive key still running: the key's next writers open after it, so two
   *  writers never share a directory and base name, and segment numbers continue. */
  private readonly closingArchives = new Map<string, Promise<void>>();
  /** (stream, worker) directories holding archives, for the cap. */
  private readonly directories: Set<string>;
  private pendingBytes = 0;
  /** Segments of retired archives whose writers are still closing: retention keeps them. */
  private readonly closingSegments = new Set<string>();
  private readonly loggedCauses = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private sweeping: Promise<void> | undefined;
  private closed: Promise<void> | undefined;
  private counters = { recorded: 0, dropped: 0, directoryCapDrops: 0, errors: 0, segmentsDeleted: 0, bytesDeleted: 0 };

  constructor(options: ResultRecorderOptions) {
    this.directory = options.directory;
    this.rotation = options.rotation ?? {};
    this.durability = options.durability ?? DEFAULT_DURABILITY;
    this.logger = options.logger;
    this.maxPending = options.maxPendingPerArchive ?? DEFAULT_MAX_PENDING_PER_ARCHIVE;
    this.maxPendingBytesPerArchive = options.maxPendingBytesPerArchive ?? DEFAULT_MAX_PENDING_BYTES_PER_ARCHIVE;
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.maxDirectories = options.maxDirectories ?? DEFAULT_MAX_ARCHIVE_DIRECTORIES;
    this.clock = options.clock ?? Date.now;
    const sweepMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    for (const [name, value] of [
      ['rotation.maxSegmentBytes', this.rotation.maxSegmentBytes],
      ['rotation.maxSegmentAgeMs', this.rotation.maxSegmentAgeMs],
      ['retention.maxAgeMs', options.retention?.maxAgeMs],
      ['retention.maxBytes', options.retention?.maxBytes],
      ['maxPendingPerArchive', this.maxPending],
      ['maxPendingBytesPerArchive', this.maxPendingBytesPerArchive],
      ['maxPendingBytes', this.maxPendingBytes],
      ['maxDirectories', this.maxDirectories],
      ['sweepIntervalMs', sweepMs],
    ] as const) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
        throw new ResultRecorderConfigError(`${name} must be a positive integer, got ${value}`);
      }
    }
    this.retention = new SegmentRetention({
      directory: this.directory,
      depth: RECORDER_DIRECTORY_DEPTH,
      policy: options.retention ?? {},
      // The segment of an envelope archive goes with the RW segment of the same number.
      unitKey: (segment) => `${kindArchiveName(segment.baseName)}\n${segment.seq}`,
      clock: this.clock,
    });
    // Once, at start: the directories already there count toward the cap.
    this.directories = existingDirectories(this.directory);
    // unref: a forgotten recorder must not keep the process alive; close() clears it.
    this.timer = setInterval(() => void this.sweep(), sweepMs).unref();
  }

  /** Queues `p` for its archive. Never throws and never waits. */
  record(p: PublishedResult): void {
    if (this.closed !== undefined) {
      this.counters.dropped++;
      return;
    }
    const directory = directoryKey(p.streamId, p.workerId);
    if (!this.directories.has(directory)) {
      if (this.directories.size >= this.maxDirectories) {
        this.counters.directoryCapDrops++;
        this.logOnce(
          'directory-cap',
          `the archive holds ${this.directories.size} stream/worker directories, the limit (maxDirectories): results of new ones, first ${directory}, are not recorded (still delivered live)`,
        );
        return;
      }
      this.directories.add(directory);
    }
    const track = this.trackFor(p);
    const bytes = p.retainedBytes;
    // A result larger than a byte bound is still taken when nothing waits, so that it can be recorded.
    const full =
      track.pending >= this.maxPending ||
      (track.pending > 0 && track.pendingBytes + bytes > this.maxPendingBytesPerArchive) ||
      (this.pendingBytes > 0 && this.pendingBytes + bytes > this.maxPendingBytes);
    if (full) {
      this.counters.dropped++;
      this.logOnce(
        `queue-full:${track.key}`,
        `recorder queue of ${track.key} is full (${track.pending} results, ${track.pendingBytes} bytes; ${this.pendingBytes} bytes for all archives): dropping results until the disk catches up`,
      );
      return;
    }
    track.pending++;
    track.pendingBytes += bytes;
    this.pendingBytes += bytes;
    track.lastUsedMs = this.clock();
    track.chain = track.chain
      .then(() => this.write(track, p))
      .then(
        () => {
          this.counters.recorded++;
        },
        (error: unknown) => this.writeFailed(track, error),
      )
      .finally(() => {
        track.pending--;
        track.pendingBytes -= bytes;
        this.pendingBytes -= bytes;
      });
  }

  /** Resolves when every result recorded so far has been written (not necessarily synced). */
  async flush(): Promise<void> {
    await Promise.all([...this.tracks.values()].map((t) => t.chain));
    await Promise.all([...this.closings]);
  }

  /** Waits for queued writes, closes every archive (syncing it), stops the sweep timer. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.timer);
      await this.sweeping;
      const tracks = [...this.tracks.values()];
      this.tracks.clear();
      await Promise.all(tracks.map((t) => this.closeTrack(t)));
      await Promise.all([...this.closings]);
    })();
    return this.closed;
  }

  stats(): ResultRecorderStats {
    let pending = 0;
    let open = 0;
    for (const t of this.tracks.values()) {
      pending += t.pending;
      if (t.pair) open++;
    }
    return { ...this.counters, openArchives: open, pending, pendingBytes: this.pendingBytes, directories: this.directories.size };
  }

  /** Runs retention and closes idle archives now (the timer does it every sweepIntervalMs). */
  sweep(): Promise<void> {
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private trackFor(p: PublishedResult): ArchiveTrack {
    const key = `${p.streamId}/${p.workerId}/${rwOrResultName(p.kind)}`;
    let track = this.tracks.get(key);
    if (track === undefined) {
      if (this.tracks.size >= MAX_OPEN_ARCHIVES) this.evictLeastRecentlyUsed();
      track = {
        key,
        streamId: p.streamId,
        workerId: p.workerId,
        kind: p.kind,
        directory: workerDirectory(this.directory, p.streamId, p.workerId),
        pair: undefined,
        // The key's previous writers finish closing, and emptied directories are removed, before
        // this archive opens (ArchiveWriter.open numbers the new segment after the last one).
        chain: Promise.all([this.closingArchives.get(key), this.retention.directoryRemoval]).then(() => undefined),
        pending: 0,
        pendingBytes: 0,
        lastUsedMs: this.clock(),
      };
      this.tracks.set(key, track);
    }
    return track;
  }

  private evictLeastRecentlyUsed(): void {
    let oldest: ArchiveTrack | undefined;
    for (const t of this.tracks.values()) if (oldest === undefined || t.lastUsedMs < oldest.lastUsedMs) oldest = t;
    if (oldest) this.retire(oldest);
  }

  /** Forgets `track` and closes its writers after its queued writes. */
  private retire(track: ArchiveTrack): void {
    this.tracks.delete(track.key);
    const paths = track.pair ? [track.pair.results.segmentPath, track.pair.rw?.segmentPath ?? ''] : [];
    for (const path of paths) this.closingSegments.add(path);
    const closing = this.closeTrack(track).finally(() => {
      this.closings.delete(closing);
      if (this.closingArchives.get(track.key) === closing) this.closingArchives.delete(track.key);
      for (const path of paths) this.closingSegments.delete(path);
    });
    this.closings.add(closing);
    this.closingArchives.set(track.key, closing);
  }

  private async closeTrack(track: ArchiveTrack): Promise<void> {
    await track.chain;
    const pair = track.pair;
    track.pair = undefined;
    if (pair) await closePair(pair).catch((error: unknown) => this.logFailure(track, 'close', error));
  }

  private async write(track: ArchiveTrack, p: PublishedResult): Promise<void> {
    const kind = p.kind;
    const timestampMs = Math.floor(p.captureTimeUs / MICROS_PER_MILLI);
    track.pair ??= await this.openPair(track);

    if (!isRwKind(kind)) {
      // The very bytes subscribers received.
      const bytes = p.encoded();
      if (this.rotationDue(track.pair, bytes.length, 0)) {
        await this.rotate(track);
      }
      await (track.pair as WriterPair).results.append(bytes, { timestampMs });
      return;
    }
    // The hub keeps only the bytes of a waiting result: decode it once, here.
    const result = p.result;
    const envelopeOf = async (): Promise<Uint8Array> =>
      Result.encode(
        kind === ResultKind.RESULT_KIND_KEYPOINTS ? keypointsEnvelope(result, await this.notePointNames(track, result)) : segmentationEnvelope(result),
      ).finish();
    let envelope = await envelopeOf();
    let rw = encodeRw(track.pair as WriterPair, result, kind);
    if (this.rotationDue(track.pair as WriterPair, envelope.length, rw.length)) {
      await this.rotate(track);
      // A new segment has a new keypoints encoder (its first frame is a master) and a new book.
      envelope = await envelopeOf();
      rw = encodeRw(track.pair as WriterPair, result, kind);
    }
    const pair = track.pair as WriterPair;
    // RW first: after a crash between the two, the RW archive has the extra frame, and replay
    // stops at the shorter of the two.
    await (pair.rw as ArchiveWriter).append(rw, { timestampMs });
    await pair.results.append(envelope, { timestampMs });
  }

  /**
   * Enters a keypoints frame's point names in its segment's book, rewriting the RW sidecar when the
   * book grows, and starting a new segment when the names contradict the book (a name with another
   * id) or when the frame has no names for points the book names (replay would give it names).
   * Returns whether the frame's names must travel in its envelope (they are not the book's names
   * of its points, e.g. names of points absent from the frame).
   */
  private async notePointNames(track: ArchiveTrack, result: Result): Promise<boolean> {
    const points = result.keypoints?.points ?? [];
    const names = result.keypoints?.pointNames ?? {};
    const hasNames = Object.keys(names).length > 0;
    let pair = track.pair as WriterPair;
    let grew = pair.book.add(names);
    if (grew === undefined || (!hasNames && Object.keys(pair.book.namesOf(points)).length > 0)) {
      await this.rotate(track);
      pair = track.pair as WriterPair;
      // A fresh book refuses only names that contradict themselves (two names for one id).
      grew = pair.book.add(names);
    }
    if (grew === true) await (pair.rw as ArchiveWriter).setPointNames(pair.book.names);
    const ownNames = hasNames && !samePointNames(pair.book.namesOf(points), names);
    if (!ownNames) pair.book.noteRecorded(points);
    return ownNames;
  }

  private rotationDue(pair: WriterPair, resultBytes: number, rwBytes: number): boolean {
    if (pair.results.segmentFrames === 0) return false;
    const { maxSegmentBytes, maxSegmentAgeMs } = this.rotation;
    if (maxSegmentAgeMs !== undefined && this.clock() - pair.createdAtMs >= maxSegmentAgeMs) return true;
    if (maxSegmentBytes === undefined) return false;
    if (pair.results.bytesWritten + encodedFrameLength(resultBytes, 'varint') > maxSegmentBytes) return true;
    return pair.rw !== undefined && pair.rw.bytesWritten + encodedFrameLength(rwBytes, 'varint') > maxSegmentBytes;
  }

  private async rotate(track: ArchiveTrack): Promise<void> {
    const pair = track.pair;
    track.pair = undefined;
    if (pair) await closePair(pair);
    track.pair = await this.openPair(track);
  }

  /** Opens the writers of a new segment; for RW kinds both archives get the same sequence number. */
  private async openPair(track: ArchiveTrack): Promise<WriterPair> {
    const { kind, directory, streamId, workerId } = track;
    const openResults = (): Promise<ArchiveWriter> =>
      ArchiveWriter.open({ directory, baseName: resultArchiveBaseName(kind), streamId, protocol: 'result', durability: this.durability, clock: this.clock });
    const openRw = (): Promise<ArchiveWriter> =>
      ArchiveWriter.open({
        directory,
        baseName: rwArchiveBaseName(kind),
        streamId,
        protocol: kind === ResultKind.RESULT_KIND_KEYPOINTS ? 'keypoints' : 'segmentation',
        durability: this.durability,
        clock: this.clock,
        computeModuleName: kind === ResultKind.RESULT_KIND_KEYPOINTS ? workerId : undefined,
      });
    let results = await openResults();
    let rw: ArchiveWriter | undefined;
    if (isRwKind(kind)) {
      try {
        rw = await openRw();
        // A crash between opening the two may have left one archive a segment ahead: open empty
        // segments on the other until both have the same number, which is how replay pairs them.
        for (let step = 0; seqOf(rw) !== seqOf(results); step++) {
          if (step === MAX_SEQ_ALIGN_STEPS) throw new Error(`cannot align segment numbers of ${track.key}: ${rw.segmentPath} vs ${results.segmentPath}`);
          if (seqOf(rw) < seqOf(results)) {
            await rw.close();
            rw = await openRw();
          } else {
            await results.close();
            results = await openResults();
          }
        }
      } catch (error) {
        await results.close().catch(() => undefined);
        await rw?.close().catch(() => undefined);
        throw error;
      }
    }
    return {
      results,
      rw,
      keypoints: kind === ResultKind.RESULT_KIND_KEYPOINTS ? new KeyPointsEncoder({ masterInterval: RECORDER_KEYPOINTS_MASTER_INTERVAL }) : undefined,
      segmentation: kind === ResultKind.RESULT_KIND_SEGMENTATION ? new SegmentationEncoder() : undefined,
      createdAtMs: this.clock(),
      book: new PointNameBook(),
    };
  }

  private async writeFailed(track: ArchiveTrack, error: unknown): Promise<void> {
    this.counters.errors++;
    this.logFailure(track, 'write', error);
    // A failed writer refuses every later call: start a fresh segment with the next result.
    const pair = track.pair;
    track.pair = undefined;
    if (pair) await closePair(pair).catch(() => undefined);
  }

  private logFailure(track: ArchiveTrack, what: string, error: unknown): void {
    const e = error as { name?: string; code?: string; message?: string };
    this.logOnce(`${track.key}:${what}:${e?.name}:${e?.code}`, `recording ${track.key} failed to ${what} (logged once per cause): ${e?.message ?? String(error)}`);
  }

  private logOnce(cause: string, message: string): void {
    if (this.loggedCauses.has(cause) || this.loggedCauses.size >= MAX_LOGGED_CAUSES) return;
    this.loggedCauses.add(cause);
    this.logger?.warn(message);
  }

  private async runSweep(): Promise<void> {
    const now = this.clock();
    for (const track of [...this.tracks.values()]) {
      if (track.pending === 0 && now - track.lastUsedMs >= IDLE_ARCHIVE_CLOSE_MS) this.retire(track);
    }
    const open = new Set<string>();
    for (const t of this.tracks.values()) {
      if (t.pair) {
        open.add(t.pair.results.segmentPath);
        if (t.pair.rw) open.add(t.pair.rw.segmentPath);
      }
    }
    const hasTrack = (key: string): boolean => [...this.tracks.values()].some((t) => directoryKey(t.streamId, t.workerId) === key);
    try {
      // Deletes whole segments (the RW .bin and its envelope with every sidecar), oldest last write
      // first, never one open or closing; then removes the stream and worker directories it emptied
      // (no archive of theirs open or closing), so that they no longer count toward maxDirectories.
      // Archives opened meanwhile wait for the removal, and recreate their directory.
      const outcome = await this.retention.sweep({
        isOpen: (bin) => open.has(bin) || this.closingSegments.has(bin),
        directoryInUse: (path) => {
          const key = path.split(sep).join('/');
          return hasTrack(key) || [...this.closingArchives.keys()].some((archive) => archive.slice(0, archive.lastIndexOf('/')) === key);
        },
      });
      this.counters.segmentsDeleted += outcome.segmentsDeleted;
      this.counters.bytesDeleted += outcome.bytesDeleted;
      for (const path of outcome.removedDirectories) {
        const key = path.split(sep).join('/');
        // An archive of this directory queued while it was removed recreates it: it still counts.
        if (!hasTrack(key)) this.directories.delete(key);
      }
    } catch (error) {
      this.logOnce(`retention:${(error as Error).name}`, `retention sweep failed: ${(error as Error).message}`);
    }
  }
}

/** `<stream>/<worker>/`: the directory levels between the recorder's directory and its segments. */
const RECORDER_DIRECTORY_DEPTH = 2;

/** The RW archive's base name for an envelope archive's, any other unchanged. */
function kindArchiveName(baseName: string): string {
  return baseName.endsWith(ENVELOPE_SUFFIX) ? baseName.slice(0, -ENVELOPE_SUFFIX.length) : baseName;
}

function rwOrResultName(kind: ResultKind): string {
  return isRwKind(kind) ? rwArchiveBaseName(kind) : resultArchiveBaseName(kind);
}

function encodeRw(pair: WriterPair, result: Result, kind: ResultKind): Uint8Array {
  if (kind === ResultKind.RESULT_KIND_KEYPOINTS) {
    const encoder = pair.keypoints as KeyPointsEncoder;
    encoder.beginFrame(result.frameSequence);
    for (const p of result.keypoints?.points ?? []) encoder.add(p.id, p.x, p.y, p.confidence);
    return encoder.finishFrame();
  }
  const encoder = pair.segmentation as SegmentationEncoder;
  const s = result.segmentation;
  encoder.beginFrame(result.frameSequence, s?.width ?? 0, s?.height ?? 0);
  for (const i of s?.instances ?? []) encoder.addInstance(i.classId, i.instanceId, i.confidence, i.points);
  return encoder.finishFrame();
}

async function closePair(pair: WriterPair): Promise<void> {
  const results = await Promise.allSettled([pair.rw?.close(), pair.results.close()]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

function seqOf(writer: ArchiveWriter): number {
  return parseSegmentFileName(writer.segmentPath)?.seq ?? -1;
}

/** The `<stream>/<worker>` directories under `directory` whose names are ids (as the recorder
 *  makes them). Read once at start-up, synchronously: at most maxDirectories entries matter. */
function existingDirectories(directory: string): Set<string> {
  const found = new Set<string>();
  const subdirectories = (path: string): string[] => {
    try {
      return readdirSync(path, { withFileTypes: true })
        .filter((e) => e.isDirectory() && ID_PATTERN.test(e.name) && e.name !== '.' && e.name !== '..')
        .map((e) => e.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  };
  for (const streamId of subdirectories(directory)) {
    for (const workerId of subdirectories(join(directory, streamId))) found.add(directoryKey(streamId, workerId));
  }
  return found;
}
