// Appends frames of one protocol to archive segments: one write call per frame (so a crash can only
// tear the last frame), a configurable fdatasync policy with durable marks, rotation at frame
// boundaries into independently readable segments, and the sidecars and index beside each .bin.
import { closeSync, fdatasync, fsync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  DEFAULT_MAX_FRAME_BYTES,
  EmptyFrameError,
  FrameSink,
  FrameTooLargeError,
  Framing,
  encodeFrameInto,
  encodedFrameLength,
} from '@framewire/framing';
import {
  ArchiveBusyError,
  ArchiveClosedError,
  ArchiveConfigError,
  ArchiveMetadataError,
  ArchiveWriteError,
  InvalidPayloadError,
  MasterRequiredError,
} from './errors';
import {
  DEFAULT_INDEX_EVERY_FRAMES,
  IndexEntry,
  indexCheckpointLine,
  indexEntryLine,
  indexHeaderLine,
  isIndexedFrame,
} from './index-file';
import {
  SegmentFiles,
  listSegments,
  segmentFileName,
  segmentFiles,
  validateBaseName,
  validateStreamId,
} from './naming';
import { ARCHIVE_PROTOCOLS, ArchiveProtocol, PayloadHeader, inspectPayload } from './protocols';
import { repairSegment } from './repair';
import { resolveSegmentIndex } from './segment-index';
import {
  ArchiveMetadata,
  METADATA_FORMAT,
  METADATA_FORMAT_VERSION,
  TIME_BASE,
  readMetadata,
  writeMetadata,
  writePointDefinition,
} from './sidecar';
import type { TornTail } from './scan';

const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);

/** When appended frames reach the disk:
 *  - every-frame: an fdatasync after each frame; append() resolves once it is durable;
 *  - interval: an fdatasync at most every `ms` (a timer, cleared on close), when there is new data;
 *  - on-close: only when a segment is closed (rotation or close()).
 *  Every policy syncs a segment when it is closed. */
export type DurabilityPolicy = { kind: 'every-frame' } | { kind: 'interval'; ms: number } | { kind: 'on-close' };

export const DEFAULT_DURABILITY: DurabilityPolicy = { kind: 'interval', ms: 1000 };

/** Rotation starts a new segment before the frame that would cross a limit. Keypoints segments can
 *  only start at a master frame, so for keypoints the rotation waits for the next master (see
 *  ArchiveWriterOptions.onRotationDue). */
export interface RotationPolicy {
  /** A segment is closed before a frame that would make it larger than this. */
  maxSegmentBytes?: number;
  /** A segment is closed before the first frame appended this long after it was created. */
  maxSegmentAgeMs?: number;
}

export interface ArchiveWriterOptions {
  directory: string;
  /** First part of every segment name: A-Z a-z 0-9 _ . (no '-'). */
  baseName: string;
  streamId: string;
  protocol: ArchiveProtocol;
  /** Default 'varint' (formats.md §1 for files). */
  framing?: Framing;
  durability?: DurabilityPolicy;
  rotation?: RotationPolicy;
  /** Continue the newest existing segment of this stream (after cutting a torn tail off) instead of
   *  starting a new one. */
  append?: boolean;
  /** Index every N-th frame (and every keypoints master). Default DEFAULT_INDEX_EVERY_FRAMES. */
  indexEveryFrames?: number;
  /** Larger payloads are refused. Default DEFAULT_MAX_FRAME_BYTES, the readers' limit. */
  maxFrameBytes?: number;
  /** Keypoints: the worker's name, recorded in .fw.json and in the RW point definition. */
  computeModuleName?: string;
  /** Keypoints: point names to ids; when given, each segment gets the RW `<name>.json` sidecar. */
  pointNames?: Record<string, number>;
  /** Unix ms; drives segment age, names and default timestamps. Default Date.now. */
  clock?: () => number;
  /** A segment was created or reopened. */
  onSegmentStarted?: (segment: SegmentStart) => void;
  /** An fdatasync completed: every frame up to `mark` is on disk. */
  onDurable?: (mark: DurableMark) => void;
  /** Keypoints only: a rotation limit was reached, and the rotation waits for the next master
   *  frame. An encoder that cannot be told to emit a master can be replaced by a new one (its
   *  first frame is a master). Called once per pending rotation. */
  onRotationDue?: () => void;
}

export interface SegmentStart {
  path: string;
  seq: number;
  /** True when an existing segment was reopened in append mode. */
  reopened: boolean;
  /** Frames and bytes already in the segment (0 for a new one). */
  frames: number;
  bytes: number;
  /** The torn tail cut off when reopening, if there was one. */
  repairedTornTail: TornTail | undefined;
}

export interface DurableMark {
  segment: string;
  /** Frames and bytes of `segment` that are durable (its first `frames` frames). */
  frames: number;
  bytes: number;
  /** Frames this writer appended that are durable, over all its segments. */
  writerFrames: number;
}

export interface AppendReceipt {
  segment: string;
  /** Offset of the frame's length prefix in the segment. */
  offset: number;
  /** Position of the frame in the segment, from 0. */
  frameNumber: number;
  frameId: bigint;
}

export interface AppendOptions {
  /** Unix ms of the frame (its capture time). Default: a Result's capture_time_us, else the clock. */
  timestampMs?: number;
}

/** The one open segment and everything the writer knows about it. */
interface OpenSegment {
  readonly files: SegmentFiles;
  readonly seq: number;
  readonly createdAtMs: number;
  readonly fd: number;
  readonly indexFd: number;
  bytes: number;
  frames: number;
  /** Frames the segment held when this writer opened it (non-zero when reopened). */
  readonly initialFrames: number;
  durableBytes: number;
  durableFrames: number;
  /** Index lines of frames written but not yet synced (the index never gets ahead of the data). */
  pendingIndex: Array<{ offset: number; line: string }>;
  /** The last frame written, to index it at close if it is not already. */
  lastFrame: IndexEntry | undefined;
  lastIndexedFrame: number;
  /** Keypoints: the next frame must be a master (new segment, or reopened in append mode). */
  masterRequired: boolean;
  /** A rotation limit was reached; keypoints wait for a master to rotate. */
  rotationDue: boolean;
  /** Index writes failed once; the index is left stale and readers rebuild it. */
  indexBroken: boolean;
  /** The chain of fdatasyncs of this segment: one at a time. */
  syncChain: Promise<void>;
  closing: boolean;
  closed: boolean;
}

/** Frames up to this size are assembled in a reused buffer; larger ones get their own. */
const SCRATCH_MAX_BYTES = 1024 * 1024;
const INITIAL_SCRATCH_BYTES = 64 * 1024;
const RESOLVED: Promise<void> = Promise.resolve();

/** The archives (directory, base name, stream) open for writing in this process: one writer each. */
const openArchives = new Set<string>();
const archiveIdentity = (s: { directory: string; baseName: string; streamId: string }): string => `${resolve(s.directory)}\0${s.baseName}\0${s.streamId}`;

/**
 * An archive writer. Create with `ArchiveWriter.open(options)`; `append` frames; `close` once.
 * It is also a FrameSink, so protocol sinks (KeyPointsSink, ...) can write into it directly.
 *
 * Appends run in call order. The frame's bytes go to the OS in one synchronous write (a page-cache
 * write of one frame costs microseconds, less than a thread-pool round trip); fdatasync runs on
 * the thread pool so the event loop is not held for the disk.
 */
export class ArchiveWriter implements FrameSink {
  private segment: OpenSegment;
  private scratch: Buffer = Buffer.allocUnsafe(INITIAL_SCRATCH_BYTES);
  private queue: Promise<unknown> = RESOLVED;
  private queued = 0;
  private framesAppendedTotal = 0;
  private durableFramesBeforeSegment = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The first I/O failure; every later call rejects with it. */
  private failure: unknown = undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly settings: ResolvedWriterSettings,
    first: OpenSegment,
  ) {
    this.segment = first;
    const { durability } = settings;
    if (durability.kind === 'interval') {
      // unref: a forgotten writer must not keep the process alive; close() syncs anyway.
      this.timer = setInterval(() => this.syncFromTimer(), durability.ms).unref();
    }
  }

  /** Creates the directory if needed and opens a new segment, or with `append` reopens the newest
   *  one after cutting off a torn tail. Rejects with ArchiveBusyError while another writer of this
   *  process has the same archive open (its segment numbers would collide). */
  static async open(options: ArchiveWriterOptions): Promise<ArchiveWriter> {
    const settings = resolveSettings(options);
    const identity = archiveIdentity(settings);
    if (openArchives.has(identity)) throw new ArchiveBusyError(settings.directory, settings.baseName, settings.streamId);
    openArchives.add(identity);
    try {
      await mkdir(settings.directory, { recursive: true });
      const existing = await listSegments(settings.directory, settings.baseName, settings.streamId);
      const newest = existing[existing.length - 1];
      const segment =
        settings.append && newest
          ? await reopenSegment(settings, newest.path, newest.seq)
          : await createSegment(settings, newest ? newest.seq + 1 : 0);
      return new ArchiveWriter(settings, segment);
    } catch (error) {
      openArchives.delete(identity);
      throw error;
    }
  }

  /** Path of the segment being written. */
  get segmentPath(): string {
    return this.segment.files.bin;
  }

  /** Bytes in the current segment: the offset the next frame will start at (FrameSink). */
  get bytesWritten(): number {
    return this.segment.bytes;
  }

  /** Frames in the current segment. */
  get segmentFrames(): number {
    return this.segment.frames;
  }

  /** Frames of the current segment known to be on disk. */
  get durableFrames(): number {
    return this.segment.durableFrames;
  }

  /** Frames appended by this writer, over all segments. */
  get framesAppended(): number {
    return this.framesAppendedTotal;
  }

  /** Keypoints: a rotation is waiting for a master frame. Encode the next frame as a master to let
   *  it happen now. */
  get rotationDue(): boolean {
    return this.segment.rotationDue;
  }

  /** Keypoints: the next frame must be a master (the segment is new or was reopened). */
  get masterRequired(): boolean {
    return this.segment.masterRequired;
  }

  /**
   * Appends one frame. Resolves when it is written (and, under every-frame, durable). Rejects with
   * EmptyFrameError, FrameTooLargeError, InvalidPayloadError (nothing written), MasterRequiredError
   * (keypoints delta where a master must be), ArchiveWriteError (I/O; the file is cut back to the
   * frame boundary), ArchiveClosedError.
   */
  append(payload: Uint8Array, options: AppendOptions = {}): Promise<AppendReceipt> {
    let header: PayloadHeader;
    try {
      header = this.checkAppend(payload);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.queued === 0 && !this.rotationNeeded(payload, header)) {
      // Fast path: nothing queued ahead and no rotation, so the write can happen right now.
      let receipt: AppendReceipt;
      try {
        receipt = this.writeFrame(payload, header, options.timestampMs);
      } catch (error) {
        return Promise.reject(error);
      }
      if (this.settings.durability.kind !== 'every-frame') return Promise.resolve(receipt);
      const segment = this.segment;
      return this.enqueue(() => this.syncSegment(segment).then(() => receipt));
    }
    // Queued behind earlier operations (a close() called later is queued after this, so the
    // writer is still open when this runs).
    return this.enqueue(async () => {
      if (this.rotationNeeded(payload, header)) await this.rotate();
      const receipt = this.writeFrame(payload, header, options.timestampMs);
      if (this.settings.durability.kind === 'every-frame') await this.syncSegment(this.segment);
      return receipt;
    });
  }

  /** FrameSink.write: append with default options. */
  async write(payload: Uint8Array): Promise<void> {
    await this.append(payload);
  }

  /** FrameSink.flush: waits until every append called so far has been written. Frames are never
   *  buffered in the process, so there is nothing else to push; use sync() for durability. */
  flush(): Promise<void> {
    try {
      this.checkOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.enqueue(async () => undefined);
  }

  /**
   * Keypoints: replaces the point names of the current segment's RW sidecar (and of the segments
   * rotation starts later), after every append called before it. The sidecar is rewritten
   * atomically, so an RW reader sees the old names or the new, never a torn file. Callers only
   * ever add names (a name keeps its id), so the new sidecar stays true of every earlier frame.
   */
  setPointNames(pointNames: Record<string, number>): Promise<void> {
    try {
      this.checkOpen();
      if (this.settings.protocol !== 'keypoints') throw new ArchiveConfigError(`pointNames apply to keypoints archives only, not ${this.settings.protocol}`);
    } catch (error) {
      return Promise.reject(error);
    }
    const names = { ...pointNames };
    return this.enqueue(async () => {
      this.settings.pointNames = names;
      await writePointDefinition(this.segment.files.points, this.settings.computeModuleName ?? '', names);
    });
  }

  /** Makes every frame appended so far durable now, whatever the policy. */
  sync(): Promise<void> {
    try {
      this.checkOpen();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.enqueue(() => this.syncSegment(this.segment));
  }

  /** Waits for queued appends, syncs and closes the segment (index checkpoint included), stops the
   *  timer. Idempotent. Rejects with the first I/O failure, but releases the files anyway. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      clearInterval(this.timer);
      this.closing = this.enqueueAlways(() => this.finishSegment(this.segment)).finally(() => openArchives.delete(archiveIdentity(this.settings)));
    }
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private checkOpen(): void {
    if (this.closing !== undefined) throw new ArchiveClosedError(this.segment.files.bin, this.segment.bytes);
    if (this.failure !== undefined) throw this.failure;
  }

  private checkAppend(payload: Uint8Array): PayloadHeader {
    this.checkOpen();
    const { bytes, files } = this.segment;
    if (payload.length === 0) throw new EmptyFrameError(bytes);
    if (payload.length > this.settings.maxFrameBytes) {
      throw new FrameTooLargeError(payload.length, this.settings.maxFrameBytes, bytes);
    }
    try {
      return inspectPayload(this.settings.protocol, payload);
    } catch (error) {
      if (!(error instanceof InvalidPayloadError)) throw error;
      throw new InvalidPayloadError(error.protocol, error.detail, error.payloadOffset, files.bin, bytes);
    }
  }

  /** Decides whether `payload` goes into a new segment; for keypoints, a due rotation waits for a
   *  master and the caller is told once. */
  private rotationNeeded(payload: Uint8Array, header: PayloadHeader): boolean {
    const segment = this.segment;
    const { rotation } = this.settings;
    if (segment.frames === 0) return false;
    if (!segment.rotationDue) {
      const frameBytes = encodedFrameLength(payload.length, this.settings.framing);
      const bySize = rotation.maxSegmentBytes !== undefined && segment.bytes + frameBytes > rotation.maxSegmentBytes;
      const byAge =
        rotation.maxSegmentAgeMs !== undefined && this.settings.clock() - segment.createdAtMs >= rotation.maxSegmentAgeMs;
      if (!bySize && !byAge) return false;
      segment.rotationDue = true;
      if (this.settings.protocol === 'keypoints' && !header.seekPoint) this.settings.onRotationDue?.();
    }
    return this.settings.protocol !== 'keypoints' || header.seekPoint;
  }

  /** Writes one frame with one write call at the segment's end. Synchronous. */
  private writeFrame(payload: Uint8Array, header: PayloadHeader, timestampMs: number | undefined): AppendReceipt {
    const segment = this.segment;
    const { framing, protocol } = this.settings;
    const offset = segment.bytes;
    if (protocol === 'keypoints' && segment.masterRequired && !header.seekPoint) {
      throw new MasterRequiredError(segment.files.bin, offset);
    }
    const frameBytes = encodedFrameLength(payload.length, framing);
    let frame: Buffer;
    if (frameBytes <= SCRATCH_MAX_BYTES) {
      if (this.scratch.length < frameBytes) this.scratch = Buffer.allocUnsafe(Math.min(SCRATCH_MAX_BYTES, 2 ** Math.ceil(Math.log2(frameBytes))));
      frame = this.scratch;
    } else {
      frame = Buffer.allocUnsafe(frameBytes);
    }
    encodeFrameInto(payload, framing, frame, 0);
    writeAll(segment, frame, frameBytes, offset);

    const frameNumber = segment.frames;
    const entry: IndexEntry = {
      frameNumber,
      offset,
      frameId: header.frameId,
      timestampMs: timestampMs ?? header.timestampMs ?? this.settings.clock(),
      seekPoint: header.seekPoint,
    };
    if (isIndexedFrame(protocol, frameNumber, this.settings.indexEveryFrames, header.seekPoint)) {
      segment.pendingIndex.push({ offset, line: indexEntryLine(entry) });
      segment.lastIndexedFrame = frameNumber;
    }
    segment.lastFrame = entry;
    segment.bytes = offset + frameBytes;
    segment.frames = frameNumber + 1;
    segment.masterRequired = false;
    this.framesAppendedTotal++;
    return { segment: segment.files.bin, offset, frameNumber, frameId: header.frameId };
  }

  private async rotate(): Promise<void> {
    const previous = this.segment;
    await this.finishSegment(previous);
    try {
      this.segment = await createSegment(this.settings, previous.seq + 1);
    } catch (error) {
      // No segment is open any more: the writer cannot continue.
      this.failure ??= error;
      throw error;
    }
  }

  /** fdatasync of everything written to `segment` so far, serialised with other syncs of it. */
  private syncSegment(segment: OpenSegment): Promise<void> {
    const run = segment.syncChain.then(() => this.syncOnce(segment));
    segment.syncChain = run.catch(() => undefined);
    return run;
  }

  private async syncOnce(segment: OpenSegment): Promise<void> {
    if (segment.closed || segment.durableBytes === segment.bytes) return;
    // What the fdatasync will cover: writes made while it runs are not included.
    const bytes = segment.bytes;
    const frames = segment.frames;
    try {
      await fdatasyncAsync(segment.fd);
    } catch (error) {
      // After a failed fdatasync the kernel may have dropped the dirty pages: nothing written since
      // the last good sync can be trusted, so the writer stops.
      const failure = new ArchiveWriteError('fdatasync', segment.files.bin, segment.durableBytes, error);
      this.failure ??= failure;
      throw failure;
    }
    segment.durableBytes = bytes;
    segment.durableFrames = frames;
    if (segment.pendingIndex.length > 0) this.flushIndex(segment, false);
    this.settings.onDurable?.({
      segment: segment.files.bin,
      frames,
      bytes,
      writerFrames: this.durableFramesBeforeSegment + frames - segment.initialFrames,
    });
  }

  /** Writes the index lines of durable frames, then a checkpoint covering the durable bytes. The
   *  index is advisory: if writing it fails, it is left stale (readers rebuild it) and the data path
   *  goes on. */
  private flushIndex(segment: OpenSegment, closing: boolean): void {
    if (segment.indexBroken) return;
    let text = '';
    let flushed = 0;
    for (const pending of segment.pendingIndex) {
      if (pending.offset >= segment.durableBytes) break;
      text += pending.line;
      flushed++;
    }
    if (flushed === 0 && !closing) return;
    segment.pendingIndex.splice(0, flushed);
    text += indexCheckpointLine({ bytes: segment.durableBytes, frames: segment.durableFrames });
    try {
      writeSync(segment.indexFd, text);
    } catch {
      segment.indexBroken = true;
    }
  }

  private syncFromTimer(): void {
    const segment = this.segment;
    if (segment.closing || this.failure !== undefined || segment.durableBytes === segment.bytes) return;
    // A failure is kept in this.failure by syncOnce and reported by the next call.
    this.syncSegment(segment).catch(() => undefined);
  }

  /** Syncs `segment`, indexes its last frame, writes the final checkpoint, closes its files. */
  private async finishSegment(segment: OpenSegment): Promise<void> {
    if (segment.closed) return;
    segment.closing = true;
    try {
      await this.syncSegment(segment);
      const last = segment.lastFrame;
      if (last && last.frameNumber !== segment.lastIndexedFrame) {
        segment.pendingIndex.push({ offset: last.offset, line: indexEntryLine(last) });
      }
      this.flushIndex(segment, true);
      if (!segment.indexBroken) await fsyncAsync(segment.indexFd).catch(() => undefined);
      this.durableFramesBeforeSegment += segment.durableFrames - segment.initialFrames;
    } finally {
      segment.closed = true;
      closeSync(segment.fd);
      closeSync(segment.indexFd);
    }
  }

  /** Runs `operation` after everything queued before it, if the writer is still usable. */
  private enqueue<T>(operation: () => Promise<T>): Promise<T> {
    return this.enqueueAlways(async () => {
      if (this.failure !== undefined) throw this.failure;
      return operation();
    });
  }

  private enqueueAlways<T>(operation: () => Promise<T>): Promise<T> {
    this.queued++;
    const run = this.queue.then(operation).finally(() => this.queued--);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

interface ResolvedWriterSettings {
  directory: string;
  baseName: string;
  streamId: string;
  protocol: ArchiveProtocol;
  framing: Framing;
  durability: DurabilityPolicy;
  rotation: RotationPolicy;
  append: boolean;
  indexEveryFrames: number;
  maxFrameBytes: number;
  computeModuleName: string | undefined;
  pointNames: Record<string, number> | undefined;
  clock: () => number;
  onSegmentStarted: ((segment: SegmentStart) => void) | undefined;
  onDurable: ((mark: DurableMark) => void) | undefined;
  onRotationDue: (() => void) | undefined;
}

function positiveInteger(value: number | undefined, name: string): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
    throw new ArchiveConfigError(`${name} must be a positive integer, got ${value}`);
  }
}

function resolveSettings(options: ArchiveWriterOptions): ResolvedWriterSettings {
  validateBaseName(options.baseName);
  validateStreamId(options.streamId);
  if (!ARCHIVE_PROTOCOLS.includes(options.protocol)) {
    throw new ArchiveConfigError(`protocol must be one of ${ARCHIVE_PROTOCOLS.join(', ')}, got ${String(options.protocol)}`);
  }
  const framing = options.framing ?? 'varint';
  if (framing !== 'varint' && framing !== 'u32le') throw new ArchiveConfigError(`framing must be varint or u32le, got ${String(framing)}`);
  const durability = options.durability ?? DEFAULT_DURABILITY;
  if (durability.kind === 'interval') positiveInteger(durability.ms, 'durability.ms');
  else if (durability.kind !== 'every-frame' && durability.kind !== 'on-close') {
    throw new ArchiveConfigError(`durability.kind must be every-frame, interval or on-close, got ${String((durability as { kind: unknown }).kind)}`);
  }
  const rotation = options.rotation ?? {};
  positiveInteger(rotation.maxSegmentBytes, 'rotation.maxSegmentBytes');
  positiveInteger(rotation.maxSegmentAgeMs, 'rotation.maxSegmentAgeMs');
  positiveInteger(options.indexEveryFrames, 'indexEveryFrames');
  positiveInteger(options.maxFrameBytes, 'maxFrameBytes');
  if (options.pointNames !== undefined && options.protocol !== 'keypoints') {
    throw new ArchiveConfigError(`pointNames apply to keypoints archives only, not ${options.protocol}`);
  }
  return {
    directory: options.directory,
    baseName: options.baseName,
    streamId: options.streamId,
    protocol: options.protocol,
    framing,
    durability,
    rotation,
    append: options.append ?? false,
    indexEveryFrames: options.indexEveryFrames ?? DEFAULT_INDEX_EVERY_FRAMES,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    computeModuleName: options.computeModuleName,
    pointNames: options.pointNames,
    clock: options.clock ?? Date.now,
    onSegmentStarted: options.onSegmentStarted,
    onDurable: options.onDurable,
    onRotationDue: options.onRotationDue,
  };
}

/** Writes `length` bytes of `frame` at `position`, retrying short writes. On failure the file is
 *  cut back to `position`, so it still ends at a frame boundary. */
function writeAll(segment: OpenSegment, frame: Buffer, length: number, position: number): void {
  let done = 0;
  try {
    while (done < length) done += writeSync(segment.fd, frame, done, length - done, position + done);
  } catch (error) {
    if (done > 0) {
      try {
        ftruncateSync(segment.fd, position);
      } catch {
        // The cut failed too: readers will see a torn tail here, which they handle.
      }
    }
    throw new ArchiveWriteError('write', segment.files.bin, position, error);
  }
}

function newSegmentState(
  files: SegmentFiles,
  seq: number,
  createdAtMs: number,
  fd: number,
  indexFd: number,
  frames: number,
  bytes: number,
  masterRequired: boolean,
): OpenSegment {
  return {
    files,
    seq,
    createdAtMs,
    fd,
    indexFd,
    bytes,
    frames,
    initialFrames: frames,
    durableBytes: bytes,
    durableFrames: frames,
    pendingIndex: [],
    lastFrame: undefined,
    lastIndexedFrame: -1,
    masterRequired,
    rotationDue: false,
    indexBroken: false,
    syncChain: RESOLVED,
    closing: false,
    closed: false,
  };
}

/** Makes new directory entries durable: without it a crash could lose a whole new file. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Sidecars first, then the .bin and the .idx, then a directory sync: a .bin never exists without
 *  its metadata, and every frame later reported durable is in a file whose name is durable. */
async function createSegment(settings: ResolvedWriterSettings, seq: number): Promise<OpenSegment> {
  const createdAtMs = settings.clock();
  const files = segmentFiles(join(settings.directory, segmentFileName(settings.baseName, settings.streamId, createdAtMs, seq)));
  const metadata: ArchiveMetadata = {
    format: METADATA_FORMAT,
    formatVersion: METADATA_FORMAT_VERSION,
    protocol: settings.protocol,
    framing: settings.framing,
    streamId: settings.streamId,
    timeBase: TIME_BASE,
    createdAt: new Date(createdAtMs).toISOString(),
    baseName: settings.baseName,
    segmentSeq: seq,
    computeModuleName: settings.computeModuleName ?? null,
    indexEveryFrames: settings.indexEveryFrames,
  };
  await writeMetadata(files.metadata, metadata);
  if (settings.pointNames !== undefined) {
    await writePointDefinition(files.points, settings.computeModuleName ?? '', settings.pointNames);
  }
  // 'wx': never overwrite frames, even if two writers picked the same name.
  const fd = openSync(files.bin, 'wx', 0o644);
  let indexFd: number;
  try {
    indexFd = openSync(files.index, 'w', 0o644);
    try {
      writeSync(indexFd, indexHeaderLine(settings.protocol, settings.framing, settings.indexEveryFrames));
      await syncDirectory(settings.directory);
    } catch (error) {
      closeSync(indexFd);
      throw error;
    }
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const segment = newSegmentState(files, seq, createdAtMs, fd, indexFd, 0, 0, settings.protocol === 'keypoints');
  settings.onSegmentStarted?.({ path: files.bin, seq, reopened: false, frames: 0, bytes: 0, repairedTornTail: undefined });
  return segment;
}

/** Append mode: cut a torn tail off, bring the index up to date, continue after the last frame. */
async function reopenSegment(settings: ResolvedWriterSettings, binPath: string, seq: number): Promise<OpenSegment> {
  const files = segmentFiles(binPath);
  const metadata = await readMetadata(files.metadata);
  if (metadata === undefined) throw new ArchiveMetadataError(`cannot append to ${binPath}: ${files.metadata} is missing`, files.metadata);
  for (const field of ['protocol', 'framing', 'streamId'] as const) {
    if (metadata[field] !== settings[field]) {
      throw new ArchiveMetadataError(
        `cannot append ${settings[field]} to ${binPath}: its ${field} is ${metadata[field]}`,
        files.metadata,
      );
    }
  }
  const layout = {
    protocol: settings.protocol,
    framing: settings.framing,
    everyFrames: metadata.indexEveryFrames,
    maxFrameBytes: settings.maxFrameBytes,
  };
  const repaired = await repairSegment(binPath, layout);
  const { index } = await resolveSegmentIndex(binPath, layout, { rewrite: true });
  const fd = openSync(binPath, 'r+');
  let indexFd: number;
  try {
    // The previous writer's last frames may still be only in the page cache.
    await fdatasyncAsync(fd);
    indexFd = openSync(files.index, 'a');
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const { bytes, frames } = index.covered;
  const segment = newSegmentState(files, seq, Date.parse(metadata.createdAt), fd, indexFd, frames, bytes, settings.protocol === 'keypoints');
  segment.lastIndexedFrame = index.entries[index.entries.length - 1]?.frameNumber ?? -1;
  settings.onSegmentStarted?.({ path: binPath, seq, reopened: true, frames, bytes, repairedTornTail: repaired });
  return segment;
}
