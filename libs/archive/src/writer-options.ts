// The options of an ArchiveWriter (durability, rotation, keypoints sidecars, callbacks), and their
// validation into the settings a writer and its segments run with.
import { DEFAULT_MAX_FRAME_BYTES, Framing } from '@framewire/framing';
import { ArchiveConfigError } from './errors';
import { DEFAULT_INDEX_EVERY_FRAMES } from './index-file';
import { validateBaseName, validateStreamId } from './naming';
import { ARCHIVE_PROTOCOLS, ArchiveProtocol } from './protocols';
import type { TornTail } from './scan';

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


export interface ResolvedWriterSettings {
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

export function positiveInteger(value: number | undefined, name: string): void {
  if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1)) {
    throw new ArchiveConfigError(`${name} must be a positive integer, got ${value}`);
  }
}

export function resolveSettings(options: ArchiveWriterOptions): ResolvedWriterSettings {
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

