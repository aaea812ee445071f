// The sparse seek index `<name>.idx`: JSON lines (a header, entries, checkpoints), appended by the
// writer after each sync, so it lags the data by design. A checkpoint records how many bytes and
// frames of the .bin the lines before it cover; a reader compares that with the .bin size to tell a
// fresh index from a stale one. Format: docs/archive.md.
import { readFile } from 'node:fs/promises';
import type { Framing } from '@framewire/framing';
import { writeFileAtomic } from './sidecar';
import type { ArchiveProtocol } from './protocols';

export const INDEX_FORMAT = 'framewire-archive-index';
export const INDEX_FORMAT_VERSION = 1;
/** About one second of video at 30 fps: the seek granularity by time. */
export const DEFAULT_INDEX_EVERY_FRAMES = 30;

export interface IndexEntry {
  /** Position of the frame in its segment, from 0. */
  frameNumber: number;
  /** Byte offset of the frame's length prefix in the .bin. */
  offset: number;
  frameId: bigint;
  /** Unix ms; null when unknown (an entry rebuilt by scanning a protocol that carries no time). */
  timestampMs: number | null;
  /** Decoding can start at this frame (a keypoints master; every frame of the other protocols). */
  seekPoint: boolean;
}

/** The prefix of the .bin an index describes. */
export interface IndexCoverage {
  bytes: number;
  frames: number;
}

export interface SegmentIndex {
  protocol: ArchiveProtocol;
  framing: Framing;
  everyFrames: number;
  /** In file order. Always holds frame 0 when the segment has frames. */
  entries: IndexEntry[];
  covered: IndexCoverage;
}

export type IndexLoad =
  | { status: 'missing' }
  | { status: 'invalid'; reason: string }
  | { status: 'loaded'; index: SegmentIndex };

/** Which frames the index lists: every N-th frame of a segment, and every keypoints master. */
export function isIndexedFrame(protocol: ArchiveProtocol, frameNumber: number, everyFrames: number, seekPoint: boolean): boolean {
  return frameNumber % everyFrames === 0 || (protocol === 'keypoints' && seekPoint);
}

export function indexHeaderLine(protocol: ArchiveProtocol, framing: Framing, everyFrames: number): string {
  return `${JSON.stringify({ kind: 'header', format: INDEX_FORMAT, version: INDEX_FORMAT_VERSION, protocol, framing, everyFrames })}\n`;
}

export function indexEntryLine(entry: IndexEntry): string {
  return `${JSON.stringify({
    kind: 'entry',
    n: entry.frameNumber,
    o: entry.offset,
    id: entry.frameId.toString(),
    t: entry.timestampMs,
    s: entry.seekPoint,
  })}\n`;
}

export function indexCheckpointLine(covered: IndexCoverage): string {
  return `${JSON.stringify({ kind: 'checkpoint', bytes: covered.bytes, frames: covered.frames })}\n`;
}

/** Replaces the index file with `index` in one atomic step (used after a rebuild). */
export async function writeIndex(path: string, index: SegmentIndex): Promise<void> {
  let text = indexHeaderLine(index.protocol, index.framing, index.everyFrames);
  for (const entry of index.entries) text += indexEntryLine(entry);
  text += indexCheckpointLine(index.covered);
  await writeFileAtomic(path, text);
}

/**
 * Reads an index. A last line without its newline is a torn append and is ignored; entries after
 * the last checkpoint are ignored too (the checkpoint is what vouches for them). Any other defect
 * (bad JSON, wrong header, entries out of order) makes the index invalid: the caller rebuilds it.
 */
export async function loadIndex(path: string): Promise<IndexLoad> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'invalid', reason: (error as Error).message };
  }
  const lines = text.split('\n');
  lines.pop(); // "" after the last newline, or a torn last line
  if (lines.length === 0) return { status: 'invalid', reason: 'no header line' };

  let header: Record<string, unknown>;
  try {
    header = JSON.parse(lines[0]) as Record<string, unknown>;
  } catch {
    return { status: 'invalid', reason: 'header line is not JSON' };
  }
  if (header.kind !== 'header' || header.format !== INDEX_FORMAT || header.version !== INDEX_FORMAT_VERSION) {
    return { status: 'invalid', reason: `unsupported header ${lines[0]}` };
  }
  if (!Number.isInteger(header.everyFrames) || (header.everyFrames as number) < 1) {
    return { status: 'invalid', reason: `everyFrames ${String(header.everyFrames)}` };
  }

  const entries: IndexEntry[] = [];
  let covered: IndexCoverage = { bytes: 0, frames: 0 };
  let coveredEntries = 0;
  for (let i = 1; i < lines.length; i++) {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(lines[i]) as Record<string, unknown>;
    } catch {
      return { status: 'invalid', reason: `line ${i + 1} is not JSON` };
    }
    if (line.kind === 'entry') {
      const entry = parseEntry(line);
      const previous = entries[entries.length - 1];
      if (!entry || (previous && (entry.offset <= previous.offset || entry.frameNumber <= previous.frameNumber))) {
        return { status: 'invalid', reason: `line ${i + 1} is not an entry after the previous one` };
      }
      entries.push(entry);
    } else if (line.kind === 'checkpoint') {
      const bytes = line.bytes as number;
      const frames = line.frames as number;
      if (!Number.isSafeInteger(bytes) || !Number.isSafeInteger(frames) || bytes < covered.bytes || frames < covered.frames) {
        return { status: 'invalid', reason: `line ${i + 1} is not a checkpoint after the previous one` };
      }
      covered = { bytes, frames };
      coveredEntries = entries.length;
    } else {
      return { status: 'invalid', reason: `line ${i + 1} has unknown kind ${String(line.kind)}` };
    }
  }
  entries.length = coveredEntries;
  const last = entries[entries.length - 1];
  if (last && (last.offset >= covered.bytes || last.frameNumber >= covered.frames)) {
    return { status: 'invalid', reason: 'an entry lies beyond its checkpoint' };
  }
  return {
    status: 'loaded',
    index: {
      protocol: header.protocol as ArchiveProtocol,
      framing: header.framing as Framing,
      everyFrames: header.everyFrames as number,
      entries,
      covered,
    },
  };
}

function parseEntry(line: Record<string, unknown>): IndexEntry | undefined {
  const { n, o, id, t, s } = line;
  if (!Number.isSafeInteger(n) || (n as number) < 0 || !Number.isSafeInteger(o) || (o as number) < 0) return undefined;
  if (typeof id !== 'string' || !/^\d{1,20}$/.test(id) || typeof s !== 'boolean') return undefined;
  if (t !== null && typeof t !== 'number') return undefined;
  return { frameNumber: n as number, offset: o as number, frameId: BigInt(id), timestampMs: t, seekPoint: s };
}
