// Optional recording of the frames the relay sends (FW_VIEWER_RECORD_FRAMES): per stream an archive
// of varint-delimited framewire.v1.VideoFrame messages (libs/archive), rotated by size and age and
// deleted by age and total size like the results archives, so replay can show the video under the
// recorded results.
import { ArchiveWriter, DEFAULT_DURABILITY, DurabilityPolicy, RetentionPolicy, RotationPolicy, SegmentRetention } from '@framewire/archive';
import type { RelayedFrame } from './relay';

/** First part of every frame archive segment name: `frames-<stream>-<stamp>-<seq>.bin`. */
export const FRAME_ARCHIVE_BASE_NAME = 'frames';
/** Frames waiting to be written to one stream's archive before new ones are dropped (a stalled
 *  disk must not grow memory). */
export const DEFAULT_MAX_PENDING_FRAMES = 64;
/** Bytes of frames waiting for one stream's archive, and for all streams together. */
export const DEFAULT_MAX_PENDING_FRAME_BYTES_PER_STREAM = 32 * 1024 * 1024;
export const DEFAULT_MAX_PENDING_FRAME_BYTES = 128 * 1024 * 1024;
/** How often retention runs. */
export const DEFAULT_FRAME_SWEEP_INTERVAL_MS = 60_000;
const MICROS_PER_MILLI = 1000;

export interface FrameRecorderOptions {
  directory: string;
  rotation?: RotationPolicy;
  /** Over the frame archives of `directory` (segments named FRAME_ARCHIVE_BASE_NAME). */
  retention?: RetentionPolicy;
  durability?: DurabilityPolicy;
  maxPendingPerStream?: number;
  maxPendingBytesPerStream?: number;
  maxPendingBytes?: number;
  sweepIntervalMs?: number;
  logger?: { warn(message: string): void };
}

export interface FrameRecorderStats {
  recorded: number;
  /** Frames not recorded: a queue was full (count or bytes), or the recorder was closed. */
  dropped: number;
  /** Bytes of the frames waiting for the disk now. */
  pendingBytes: number;
  errors: number;
  bytesRecorded: number;
  openArchives: number;
  segmentsDeleted: number;
  bytesDeleted: number;
}

export class FrameRecorderConfigError extends Error {
  readonly code = 'FRAME_RECORDER_CONFIG_INVALID';
}

interface StreamArchive {
  writer: ArchiveWriter | undefined;
  chain: Promise<void>;
  pending: number;
  pendingBytes: number;
}

/** `record` is synchronous and never throws; writes run in order per stream, failures are counted
 *  and logged once per stream. */
export class FrameRecorder {
  private readonly archives = new Map<string, StreamArchive>();
  private readonly maxPending: number;
  private readonly maxPendingBytesPerStream: number;
  private readonly maxPendingBytes: number;
  private pendingBytes = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly logged = new Set<string>();
  private readonly retention: SegmentRetention;
  private sweeping: Promise<void> | undefined;
  private closed: Promise<void> | undefined;
  private counters = { recorded: 0, dropped: 0, errors: 0, bytesRecorded: 0, segmentsDeleted: 0, bytesDeleted: 0 };

  constructor(private readonly options: FrameRecorderOptions) {
    this.maxPending = options.maxPendingPerStream ?? DEFAULT_MAX_PENDING_FRAMES;
    this.maxPendingBytesPerStream = options.maxPendingBytesPerStream ?? DEFAULT_MAX_PENDING_FRAME_BYTES_PER_STREAM;
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_FRAME_BYTES;
    const sweepMs = options.sweepIntervalMs ?? DEFAULT_FRAME_SWEEP_INTERVAL_MS;
    for (const [name, value] of [
      ['maxPendingPerStream', this.maxPending],
      ['maxPendingBytesPerStream', this.maxPendingBytesPerStream],
      ['maxPendingBytes', this.maxPendingBytes],
      ['sweepIntervalMs', sweepMs],
      ['retention.maxAgeMs', options.retention?.maxAgeMs],
      ['retention.maxBytes', options.retention?.maxBytes],
    ] as const) {
      if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) throw new FrameRecorderConfigError(`${name} must be a positive integer, got ${value}`);
    }
    this.retention = new SegmentRetention({
      directory: options.directory,
      policy: options.retention ?? {},
      includes: (segment) => segment.baseName === FRAME_ARCHIVE_BASE_NAME,
    });
    this.timer = setInterval(() => void this.sweep(), sweepMs).unref();
  }

  record(frame: RelayedFrame): void {
    if (this.closed !== undefined) {
      this.counters.dropped++;
      return;
    }
    let archive = this.archives.get(frame.streamId);
    if (archive === undefined) {
      archive = { writer: undefined, chain: Promise.resolve(), pending: 0, pendingBytes: 0 };
      this.archives.set(frame.streamId, archive);
    }
    // The frame holds its whole ViewerMessage (videoFrame is a view of it). A frame larger than a
    // byte bound is still taken when nothing waits.
    const bytes = frame.message.byteLength;
    if (
      archive.pending >= this.maxPending ||
      (archive.pending > 0 && archive.pendingBytes + bytes > this.maxPendingBytesPerStream) ||
      (this.pendingBytes > 0 && this.pendingBytes + bytes > this.maxPendingBytes)
    ) {
      this.counters.dropped++;
      return;
    }
    const a = archive;
    a.pending++;
    a.pendingBytes += bytes;
    this.pendingBytes += bytes;
    a.chain = a.chain
      .then(async () => {
        a.writer ??= await ArchiveWriter.open({
          directory: this.options.directory,
          baseName: FRAME_ARCHIVE_BASE_NAME,
          streamId: frame.streamId,
          // Delimited protobuf whose fields 2 and 3 are sequence and capture time, as a Result's.
          protocol: 'result',
          durability: this.options.durability ?? DEFAULT_DURABILITY,
          rotation: this.options.rotation,
        });
        await a.writer.append(frame.videoFrame, { timestampMs: Math.floor(frame.captureTimeUs / MICROS_PER_MILLI) });
        this.counters.recorded++;
        this.counters.bytesRecorded += frame.videoFrame.length;
      })
      .catch(async (error: unknown) => {
        this.counters.errors++;
        this.logOnce(`write:${frame.streamId}`, `recording frames of ${frame.streamId} failed (logged once): ${(error as Error).message}`);
        // A failed writer refuses every later call: the next frame opens a new segment.
        const writer = a.writer;
        a.writer = undefined;
        await writer?.close().catch(() => undefined);
      })
      .finally(() => {
        a.pending--;
        a.pendingBytes -= bytes;
        this.pendingBytes -= bytes;
      });
  }

  async flush(): Promise<void> {
    await Promise.all([...this.archives.values()].map((a) => a.chain));
  }

  stats(): FrameRecorderStats {
    return { ...this.counters, pendingBytes: this.pendingBytes, openArchives: [...this.archives.values()].filter((a) => a.writer !== undefined).length };
  }

  /** Writes what is queued, closes every archive (syncing it), stops the sweep. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.timer);
      await this.sweeping;
      await Promise.all(
        [...this.archives.values()].map(async (a) => {
          await a.chain;
          await a.writer?.close().catch((error: unknown) => this.logOnce('close', `closing a frame archive failed: ${(error as Error).message}`));
          a.writer = undefined;
        }),
      );
    })();
    return this.closed;
  }

  /** Runs retention now (the timer runs it every sweep interval). */
  sweep(): Promise<void> {
    this.sweeping ??= this.applyRetention()
      .catch((error: unknown) => this.logOnce('retention', `frame retention failed: ${(error as Error).message}`))
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  /** Deletes whole segments (the .bin first, then its sidecars), oldest first, never an open one. */
  private async applyRetention(): Promise<void> {
    const open = new Set([...this.archives.values()].map((a) => a.writer?.segmentPath).filter((p): p is string => p !== undefined));
    const { segmentsDeleted, bytesDeleted } = await this.retention.sweep({ isOpen: (bin) => open.has(bin) });
    this.counters.segmentsDeleted += segmentsDeleted;
    this.counters.bytesDeleted += bytesDeleted;
  }

  private logOnce(key: string, message: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.options.logger?.warn(message);
  }
}
