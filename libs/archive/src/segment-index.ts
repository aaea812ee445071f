// Brings a segment's index up to date with its .bin: a fresh index is used as is, a lagging one is
// extended by scanning from the offset it covers, a missing, invalid or inconsistent one is rebuilt
// by scanning the whole file. Optionally the result replaces the .idx file.
import { stat } from 'node:fs/promises';
import { ArchiveCorruptError, InvalidPayloadError } from './errors';
import { IndexEntry, SegmentIndex, isIndexedFrame, loadIndex, writeIndex } from './index-file';
import { segmentFiles } from './naming';
import { inspectPayload } from './protocols';
import { LayoutOptions, SegmentLayout, resolveLayout } from './layout';
import { ScanOutcome, TornTail, scanFrames } from './scan';

/** What the index file on disk was when a reader looked at it. */
export type IndexStatus = 'fresh' | 'stale' | 'missing' | 'invalid';

export interface ResolvedIndex {
  index: SegmentIndex;
  /** The state of the .idx file before this call. */
  status: IndexStatus;
  /** Size of the .bin when it was examined. */
  binBytes: number;
  /** Set when the scan that extended or rebuilt the index ended in a torn tail. */
  tornTail: TornTail | undefined;
}

export async function resolveSegmentIndex(
  binPath: string,
  layout: SegmentLayout,
  options: { rewrite: boolean; signal?: AbortSignal },
): Promise<ResolvedIndex> {
  const indexPath = segmentFiles(binPath).index;
  const binBytes = (await stat(binPath)).size;
  const load = await loadIndex(indexPath);
  const loaded =
    load.status === 'loaded' && load.index.protocol === layout.protocol && load.index.framing === layout.framing
      ? load.index
      : undefined;

  if (loaded && loaded.covered.bytes === binBytes) {
    return { index: loaded, status: 'fresh', binBytes, tornTail: undefined };
  }
  let status: IndexStatus;
  let index: SegmentIndex;
  let knownTimes = new Map<number, number>();
  if (loaded && loaded.covered.bytes < binBytes) {
    // Lagging: everything up to the checkpoint is vouched for; scan only the rest.
    status = 'stale';
    index = { ...loaded, entries: [...loaded.entries] };
  } else {
    // Missing, unreadable, of another layout, or covering more than the file holds (the .bin was
    // truncated or replaced): start over, keeping the times of entries that still match.
    status = load.status === 'missing' ? 'missing' : load.status === 'invalid' || !loaded ? 'invalid' : 'stale';
    if (loaded) knownTimes = timesByOffset(loaded.entries);
    index = {
      protocol: layout.protocol,
      framing: layout.framing,
      everyFrames: loaded?.everyFrames ?? layout.everyFrames,
      entries: [],
      covered: { bytes: 0, frames: 0 },
    };
  }
  const tornTail = await extendIndex(binPath, index, binBytes, layout, knownTimes, options.signal);
  if (options.rewrite) await writeIndex(indexPath, index);
  return { index, status, binBytes, tornTail };
}

function timesByOffset(entries: readonly IndexEntry[]): Map<number, number> {
  const times = new Map<number, number>();
  for (const entry of entries) if (entry.timestampMs !== null) times.set(entry.offset, entry.timestampMs);
  return times;
}

/** Scans from `index.covered` to the end of the file, adding entries and moving the coverage. */
async function extendIndex(
  binPath: string,
  index: SegmentIndex,
  binBytes: number,
  layout: SegmentLayout,
  knownTimes: Map<number, number>,
  signal: AbortSignal | undefined,
): Promise<TornTail | undefined> {
  const outcome: ScanOutcome = { end: index.covered.bytes, tornTail: undefined };
  let frames = index.covered.frames;
  let end = index.covered.bytes;
  const scan = scanFrames(
    binPath,
    { framing: layout.framing, maxFrameBytes: layout.maxFrameBytes, startOffset: index.covered.bytes, signal },
    outcome,
  );
  for await (const frame of scan) {
    let header;
    try {
      header = inspectPayload(layout.protocol, frame.payload);
    } catch (error) {
      if (!(error instanceof InvalidPayloadError)) throw error;
      if (frame.end >= binBytes) {
        // The last frame: complete by length but not a payload, the mark of an interrupted write.
        index.covered = { bytes: end, frames };
        return { reason: 'undecodable-tail', offset: frame.offset, expected: frame.end - frame.offset, available: frame.end - frame.offset };
      }
      throw new ArchiveCorruptError('undecodable-payload', error.message, binPath, frame.offset, { cause: error });
    }
    if (isIndexedFrame(layout.protocol, frames, index.everyFrames, header.seekPoint)) {
      index.entries.push({
        frameNumber: frames,
        offset: frame.offset,
        frameId: header.frameId,
        timestampMs: header.timestampMs ?? knownTimes.get(frame.offset) ?? null,
        seekPoint: header.seekPoint,
      });
    }
    frames++;
    end = frame.end;
  }
  index.covered = { bytes: end, frames };
  return outcome.tornTail;
}

/** The index of `binPath` brought up to date (see resolveSegmentIndex), reading the layout from the
 *  .fw.json or `options`; with `rewrite` (default true) the result replaces the .idx file. Do not
 *  rewrite the index of a segment a writer still has open. */
export async function rebuildIndex(binPath: string, options: LayoutOptions & { rewrite?: boolean } = {}): Promise<ResolvedIndex> {
  const { layout } = await resolveLayout(binPath, options);
  return resolveSegmentIndex(binPath, layout, { rewrite: options.rewrite ?? true });
}
