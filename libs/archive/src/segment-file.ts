// One segment on disk as a writer holds it open: its state, creating it (sidecars, .bin, .idx and a
// directory sync, in the order that keeps a crash readable), reopening it in append mode after
// cutting a torn tail off, and writing one frame with one write call.
import { closeSync, fdatasync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ArchiveMetadataError, ArchiveWriteError } from './errors';
import { IndexEntry, indexHeaderLine } from './index-file';
import { SegmentFiles, segmentFiles, segmentFileName } from './naming';
import { repairSegment } from './repair';
import { resolveSegmentIndex } from './segment-index';
import { ArchiveMetadata, METADATA_FORMAT, METADATA_FORMAT_VERSION, TIME_BASE, readMetadata, writeMetadata, writePointDefinition } from './sidecar';
import type { ResolvedWriterSettings } from './writer-options';

export const fdatasyncAsync = promisify(fdatasync);
const RESOLVED: Promise<void> = Promise.resolve();

/** The one open segment and everything the writer knows about it. */
export interface OpenSegment {
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


/** Writes `length` bytes of `frame` at `position`, retrying short writes. On failure the file is
 *  cut back to `position`, so it still ends at a frame boundary. */
export function writeAll(segment: OpenSegment, frame: Buffer, length: number, position: number): void {
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
export async function createSegment(settings: ResolvedWriterSettings, seq: number): Promise<OpenSegment> {
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
export async function reopenSegment(settings: ResolvedWriterSettings, binPath: string, seq: number): Promise<OpenSegment> {
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
