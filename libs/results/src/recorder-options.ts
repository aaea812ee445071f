// The results recorder's options, their defaults and validation, and its statistics.
import { DEFAULT_DURABILITY, DurabilityPolicy, RetentionPolicy, RotationPolicy } from '@framewire/archive';

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

/** The options with defaults applied and checked (every number a positive integer). */
export interface RecorderSettings {
  directory: string;
  rotation: RotationPolicy;
  retention: RetentionPolicy;
  durability: DurabilityPolicy;
  logger: RecorderLogger | undefined;
  maxPendingPerArchive: number;
  maxPendingBytesPerArchive: number;
  maxPendingBytes: number;
  maxDirectories: number;
  sweepIntervalMs: number;
  clock: () => number;
}

/** Applies the defaults; throws ResultRecorderConfigError naming the first invalid option. */
export function resolveRecorderSettings(options: ResultRecorderOptions): RecorderSettings {
  const settings: RecorderSettings = {
    directory: options.directory,
    rotation: options.rotation ?? {},
    retention: options.retention ?? {},
    durability: options.durability ?? DEFAULT_DURABILITY,
    logger: options.logger,
    maxPendingPerArchive: options.maxPendingPerArchive ?? DEFAULT_MAX_PENDING_PER_ARCHIVE,
    maxPendingBytesPerArchive: options.maxPendingBytesPerArchive ?? DEFAULT_MAX_PENDING_BYTES_PER_ARCHIVE,
    maxPendingBytes: options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES,
    maxDirectories: options.maxDirectories ?? DEFAULT_MAX_ARCHIVE_DIRECTORIES,
    sweepIntervalMs: options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS,
    clock: options.clock ?? Date.now,
  };
  for (const [name, value] of [
    ['rotation.maxSegmentBytes', settings.rotation.maxSegmentBytes],
    ['rotation.maxSegmentAgeMs', settings.rotation.maxSegmentAgeMs],
    ['retention.maxAgeMs', settings.retention.maxAgeMs],
    ['retention.maxBytes', settings.retention.maxBytes],
    ['maxPendingPerArchive', settings.maxPendingPerArchive],
    ['maxPendingBytesPerArchive', settings.maxPendingBytesPerArchive],
    ['maxPendingBytes', settings.maxPendingBytes],
    ['maxDirectories', settings.maxDirectories],
    ['sweepIntervalMs', settings.sweepIntervalMs],
  ] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
      throw new ResultRecorderConfigError(`${name} must be a positive integer, got ${value}`);
    }
  }
  return settings;
}
