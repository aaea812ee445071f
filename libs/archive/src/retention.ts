// Segment retention over a directory tree of archives: deletes whole segments (a .bin with its
// sidecars, and the segments that go with it), oldest last write first, by age and by total bytes,
// never one open for writing; then removes the directories that deletion emptied.
import { readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ArchiveConfigError } from './errors';
import { SegmentName, parseSegmentFileName, segmentFiles } from './naming';
import { positiveInteger } from './writer-options';

export interface RetentionPolicy {
  /** Segments whose last write is older than this are deleted. */
  maxAgeMs?: number;
  /** The oldest segments are deleted until the segments under the directory fit. */
  maxBytes?: number;
}

export interface SegmentRetentionOptions {
  directory: string;
  /** Directory levels between `directory` and the segments: 0 when the segments are in it, 2 for
   *  `<directory>/<stream>/<worker>/`. Emptied directories below `directory` are removed. */
  depth?: number;
  policy: RetentionPolicy;
  /** Only the segments it accepts are counted and deleted. Default: every segment. */
  includes?: (segment: SegmentName) => boolean;
  /** Segments of one directory with the same key are one unit: deleted together, and kept together
   *  when one of them is open. Default: each segment alone. */
  unitKey?: (segment: SegmentName) => string;
  /** Unix ms; default Date.now. */
  clock?: () => number;
}

/** What the owner of the writers knows at the time of a sweep. */
export interface RetentionSweep {
  /** The .bin is open for writing (or its writer is still closing): its unit is kept. */
  isOpen(binPath: string): boolean;
  /** A directory at the segments' depth (`a/b`, relative to the root) about to get segments: kept
   *  even when empty. Default: none. */
  directoryInUse?(relativePath: string): boolean;
}

export interface RetentionOutcome {
  segmentsDeleted: number;
  bytesDeleted: number;
  /** Directories at the segments' depth that were removed, relative to the root (`a/b`). */
  removedDirectories: string[];
}

/** The files deleted together: one or more segments, each with its sidecars. */
interface RetentionUnit {
  bins: string[];
  files: string[];
  bytes: number;
  lastWriteMs: number;
}

/**
 * Retention of the archives under one directory. `sweep` runs it once; the owner runs sweeps one at
 * a time. Writers that may open in a directory being removed wait for `directoryRemoval` first
 * (ArchiveWriter.open recreates the directory).
 */
export class SegmentRetention {
  private readonly directory: string;
  private readonly depth: number;
  private readonly policy: RetentionPolicy;
  private readonly includes: (segment: SegmentName) => boolean;
  private readonly unitKey: (segment: SegmentName) => string;
  private readonly clock: () => number;
  private removing: Promise<void> | undefined;

  constructor(options: SegmentRetentionOptions) {
    const depth = options.depth ?? 0;
    if (!(Number.isSafeInteger(depth) && depth >= 0)) throw new ArchiveConfigError(`depth must be a non-negative integer, got ${depth}`);
    positiveInteger(options.policy.maxAgeMs, 'retention.maxAgeMs');
    positiveInteger(options.policy.maxBytes, 'retention.maxBytes');
    this.directory = options.directory;
    this.depth = depth;
    this.policy = { ...options.policy };
    this.includes = options.includes ?? (() => true);
    this.unitKey = options.unitKey ?? ((segment) => segment.path);
    this.clock = options.clock ?? Date.now;
  }

  /** Settles when the directory removal running now (if any) is done; never rejects. */
  get directoryRemoval(): Promise<void> | undefined {
    return this.removing;
  }

  /** Deletes what the policy says (nothing without a limit), then removes emptied directories.
   *  Rejects with the first I/O failure other than a file already gone. */
  async sweep(sweep: RetentionSweep): Promise<RetentionOutcome> {
    const outcome: RetentionOutcome = { segmentsDeleted: 0, bytesDeleted: 0, removedDirectories: [] };
    const { maxAgeMs, maxBytes } = this.policy;
    if (maxAgeMs !== undefined || maxBytes !== undefined) await this.deleteSegments(this.clock(), sweep, outcome);
    if (this.depth > 0) await this.removeEmptiedDirectories(sweep, outcome);
    return outcome;
  }

  private async deleteSegments(now: number, sweep: RetentionSweep, outcome: RetentionOutcome): Promise<void> {
    const { maxAgeMs, maxBytes } = this.policy;
    const units = await this.collectUnits();
    let total = units.reduce((sum, u) => sum + u.bytes, 0);
    units.sort((a, b) => a.lastWriteMs - b.lastWriteMs);
    for (const unit of units) {
      const tooOld = maxAgeMs !== undefined && now - unit.lastWriteMs > maxAgeMs;
      const tooBig = maxBytes !== undefined && total > maxBytes;
      if (!tooOld && !tooBig) continue;
      if (unit.bins.some((bin) => sweep.isOpen(bin))) continue;
      for (const file of unit.files) await unlinkIfPresent(file);
      total -= unit.bytes;
      outcome.segmentsDeleted += unit.bins.length;
      outcome.bytesDeleted += unit.bytes;
    }
  }

  private async collectUnits(): Promise<RetentionUnit[]> {
    const units = new Map<string, RetentionUnit>();
    for (const directory of await segmentDirectories(this.directory, this.depth)) {
      for (const name of await listNames(directory)) {
        const parsed = parseSegmentFileName(join(directory, name));
        if (parsed === undefined || !this.includes(parsed)) continue;
        const key = `${directory}\n${this.unitKey(parsed)}`;
        let unit = units.get(key);
        if (unit === undefined) {
          unit = { bins: [], files: [], bytes: 0, lastWriteMs: 0 };
          units.set(key, unit);
        }
        unit.bins.push(parsed.path);
        const files = segmentFiles(parsed.path);
        // The .bin goes first: without it the segment is no longer listed, whatever is left.
        for (const file of [files.bin, files.index, files.points, files.metadata]) {
          try {
            const s = await stat(file);
            unit.files.push(file);
            unit.bytes += s.size;
            unit.lastWriteMs = Math.max(unit.lastWriteMs, s.mtimeMs);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          }
        }
      }
    }
    return [...units.values()];
  }

  /** Removes the empty directories at the segments' depth that are not in use, and above them those
   *  left with no subdirectory; never the root. Writers wait for it through `directoryRemoval`. */
  private async removeEmptiedDirectories(sweep: RetentionSweep, outcome: RetentionOutcome): Promise<void> {
    const inUse = sweep.directoryInUse ?? (() => false);
    const removeBelow = async (directory: string, level: number): Promise<boolean> => {
      let kept = 0;
      for (const child of await listDirectories(directory)) {
        if (level + 1 === this.depth) {
          const relativePath = relative(this.directory, child);
          if (inUse(relativePath) || !(await removeIfEmpty(child))) kept++;
          else outcome.removedDirectories.push(relativePath);
        } else if (!(await removeBelow(child, level + 1))) {
          kept++;
        }
      }
      return kept === 0 && level > 0 && (await removeIfEmpty(directory));
    };
    const removal = removeBelow(this.directory, 0);
    const barrier = removal.then(
      () => undefined,
      () => undefined,
    );
    this.removing = barrier;
    try {
      await removal;
    } finally {
      if (this.removing === barrier) this.removing = undefined;
    }
  }
}

/** The directories `depth` levels below `root` (root itself for 0). */
async function segmentDirectories(root: string, depth: number): Promise<string[]> {
  let level = [root];
  for (let i = 0; i < depth; i++) {
    const next: string[] = [];
    for (const directory of level) next.push(...(await listDirectories(directory)));
    level = next;
  }
  return level;
}

async function listNames(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function listDirectories(path: string): Promise<string[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(path, e.name));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** rmdir that answers whether the directory is gone (false when it is not empty). */
async function removeIfEmpty(path: string): Promise<boolean> {
  try {
    await rmdir(path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw error;
  }
}
