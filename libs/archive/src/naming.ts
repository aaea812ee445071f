// File names of an archive: segment names (sortable, parseable) and the sidecars kept beside each
// .bin. The scheme is documented in docs/archive.md; readers in other languages rely on it.
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ArchiveConfigError } from './errors';

export const SEGMENT_EXTENSION = '.bin';
/** framewire's own metadata sidecar. */
export const METADATA_SUFFIX = '.fw.json';
/** The sparse seek index. */
export const INDEX_SUFFIX = '.idx';
/** The RW point-definition sidecar of keypoints archives (formats.md §5). */
export const POINTS_SUFFIX = '.json';

/** Digits of the segment sequence number; more appear after 999999 (order by the parsed number). */
export const SEGMENT_SEQ_DIGITS = 6;
const MAX_NAME_PART_LENGTH = 100;

// The base name may not contain '-', so the first '-' of a segment name ends it; the stream id may.
const BASE_NAME_PATTERN = /^[A-Za-z0-9_.]+$/;
const STREAM_ID_PATTERN = /^[A-Za-z0-9_.-]+$/;
const SEGMENT_TAIL_PATTERN = /^(.+)-(\d{8}T\d{6}Z)-(\d{6,})\.bin$/;

/** The paths of the files that belong to one segment. */
export interface SegmentFiles {
  bin: string;
  metadata: string;
  index: string;
  points: string;
}

/** A segment found on disk, with what its name says. */
export interface SegmentName {
  path: string;
  baseName: string;
  streamId: string;
  /** Creation time from the name, whole seconds, unix ms. */
  createdAtMs: number;
  seq: number;
}

export function validateBaseName(baseName: string): void {
  if (!BASE_NAME_PATTERN.test(baseName) || baseName.length > MAX_NAME_PART_LENGTH) {
    throw new ArchiveConfigError(
      `baseName ${JSON.stringify(baseName)} must be 1-${MAX_NAME_PART_LENGTH} characters of A-Z a-z 0-9 _ . (no '-')`,
    );
  }
}

export function validateStreamId(streamId: string): void {
  if (!STREAM_ID_PATTERN.test(streamId) || streamId.length > MAX_NAME_PART_LENGTH) {
    throw new ArchiveConfigError(
      `streamId ${JSON.stringify(streamId)} must be 1-${MAX_NAME_PART_LENGTH} characters of A-Z a-z 0-9 _ . -`,
    );
  }
}

/** The sidecars of `binPath`: `<name>.fw.json`, `<name>.idx`, `<name>.json` where `<name>` is the
 *  file name without `.bin`. */
export function segmentFiles(binPath: string): SegmentFiles {
  const stem = binPath.endsWith(SEGMENT_EXTENSION) ? binPath.slice(0, -SEGMENT_EXTENSION.length) : binPath;
  return {
    bin: binPath,
    metadata: stem + METADATA_SUFFIX,
    index: stem + INDEX_SUFFIX,
    points: stem + POINTS_SUFFIX,
  };
}

/** UTC `YYYYMMDDTHHMMSSZ`. */
export function formatSegmentStamp(unixMs: number): string {
  return new Date(unixMs).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function parseSegmentStamp(stamp: string): number {
  const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`;
  return Date.parse(iso);
}

/** `<baseName>-<streamId>-<YYYYMMDDTHHMMSSZ>-<seq>.bin`, seq zero-padded to 6 digits. */
export function segmentFileName(baseName: string, streamId: string, createdAtMs: number, seq: number): string {
  return `${baseName}-${streamId}-${formatSegmentStamp(createdAtMs)}-${String(seq).padStart(SEGMENT_SEQ_DIGITS, '0')}${SEGMENT_EXTENSION}`;
}

/** Parses a segment file name (a path is fine); undefined when it does not follow the scheme. */
export function parseSegmentFileName(path: string): SegmentName | undefined {
  const name = basename(path);
  const dash = name.indexOf('-');
  if (dash <= 0) return undefined;
  const baseName = name.slice(0, dash);
  const tail = SEGMENT_TAIL_PATTERN.exec(name.slice(dash + 1));
  if (!tail || !BASE_NAME_PATTERN.test(baseName) || !STREAM_ID_PATTERN.test(tail[1])) return undefined;
  const createdAtMs = parseSegmentStamp(tail[2]);
  if (Number.isNaN(createdAtMs)) return undefined;
  return { path, baseName, streamId: tail[1], createdAtMs, seq: Number(tail[3]) };
}

/** The segments of one stream in `directory`, in write order (by sequence number, not by name:
 *  a clock set back would otherwise reorder them). Empty when the directory does not exist. */
export async function listSegments(directory: string, baseName: string, streamId: string): Promise<SegmentName[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const segments: SegmentName[] = [];
  for (const name of names) {
    const parsed = parseSegmentFileName(join(directory, name));
    if (parsed && parsed.baseName === baseName && parsed.streamId === streamId) segments.push(parsed);
  }
  return segments.sort((a, b) => a.seq - b.seq);
}

