// ArchiveWriter: the queue and sync state machine over one open segment at a time. Appends run in
// call order, one write call per frame (so a crash can only tear the last frame); fdatasync follows
// the durability policy and reports durable marks; rotation starts a new segment at a frame
// boundary. Options: writer-options.ts; the files of a segment: segment-file.ts.
import { closeSync, fsync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { EmptyFrameError, FrameSink, FrameTooLargeError, encodeFrameInto, encodedFrameLength } from '@framewire/framing';
import { ArchiveBusyError, ArchiveClosedError, ArchiveConfigError, ArchiveWriteError, InvalidPayloadError, MasterRequiredError } from './errors';
import { IndexEntry, indexCheckpointLine, indexEntryLine, isIndexedFrame } from './index-file';
import { listSegments } from './naming';
import { PayloadHeader, inspectPayload } from './protocols';
import { OpenSegment, createSegment, fdatasyncAsync, reopenSegment, writeAll } from './segment-file';
import { writePointDefinition } from './sidecar';
import { AppendOptions, AppendReceipt, ArchiveWriterOptions, ResolvedWriterSettings, resolveSettings } from './writer-options';

const fsyncAsync = promisify(fsync);
const RESOLVED: Promise<void> = Promise.resolve();
/** Frames up to this size are assembled in a reused buffer; larger ones get their own. */
const SCRATCH_MAX_BYTES = 1024 * 1024;
const INITIAL_SCRATCH_BYTES = 64 * 1024;

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

