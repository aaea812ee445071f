// Reads archives: one .bin or an ordered set of segments, as an async iterable of frames, with
// seeking by frame id or time through the sparse index. A torn tail is an event, corruption an error.
import { stat } from 'node:fs/promises';
import { ProtocolDecodeError } from '@framewire/overlay-codecs';
import { ArchiveCorruptError, InvalidPayloadError } from './errors';
import type { IndexEntry } from './index-file';
import { LayoutOptions, SegmentLayout, resolveLayout } from './layout';
import { listSegments } from './naming';
import { DecodedPayload, createPayloadDecoder } from './payload-decoder';
import { PayloadHeader, inspectPayload } from './protocols';
import { ScanOutcome, TornTail, scanFrames } from './scan';
import { IndexStatus, resolveSegmentIndex } from './segment-index';

/** What to read: one .bin path, .bin paths in order, or every segment of a stream in a directory. */
export type ArchiveSource = string | readonly string[] | { directory: string; baseName: string; streamId: string };

/** Where to start. By frame id: the first frame whose id is >= frameId (ids are assumed not to
 *  decrease through the archive, as frame sequence numbers do). By time: the last indexed frame
 *  at or before timestampMs (the index holds the times; frames between entries have none). */
export type SeekTarget = { frameId: bigint } | { timestampMs: number };

export interface ReadArchiveOptions extends LayoutOptions {
  seek?: SeekTarget;
  /** Decode (and so validate) every payload with @framewire/overlay-codecs; default true. Without it only
   *  the payload header is checked, and `decoded` is undefined. */
  decode?: boolean;
  /** When a seek finds an index missing or stale, write the rebuilt one back; default false (a
   *  live writer may be appending to it). */
  rewriteIndex?: boolean;
  /** Called for each event as it happens; they are also collected in ArchiveReader.events. */
  onEvent?: (event: ArchiveEvent) => void;
  signal?: AbortSignal;
}

export interface ArchiveFrame {
  payload: Uint8Array;
  /** Offset of the frame's length prefix in its segment. */
  offset: number;
  /** The .bin the frame is in. */
  segment: string;
  /** Position of the frame in its segment, from 0. */
  frameNumber: number;
  frameId: bigint;
  /** A keypoints master (decoding can start here); true for every frame of other protocols. */
  seekPoint: boolean;
  /** The protocol library's decoded frame (keypoints with absolute values); undefined for `result`
   *  archives and when decode is off. */
  decoded: DecodedPayload;
}

export type TornTailEvent = { kind: 'torn-tail'; segment: string } & TornTail;

export type ArchiveEvent =
  | TornTailEvent
  /** A seek needed a segment's index and found it missing, invalid or stale: it was rebuilt. */
  | { kind: 'index-rebuilt'; segment: string; status: Exclude<IndexStatus, 'fresh'> };

interface StartPoint {
  segment: number;
  offset: number;
  frameNumber: number;
  /** Frames before this one are decoded (keypoints state) but not yielded. */
  yieldFrom: (frame: { offset: number; frameId: bigint }) => boolean;
}

const YIELD_ALL = (): boolean => true;

/**
 * An archive being read. Iterate it with `for await`; each iteration reads the files afresh.
 * Throws ArchiveCorruptError after yielding every frame before the corruption; a torn tail ends
 * its segment with an event and reading goes on with the next segment.
 */
export class ArchiveReader implements AsyncIterable<ArchiveFrame> {
  /** Events of the latest iteration, in order. */
  readonly events: ArchiveEvent[] = [];

  constructor(
    private readonly source: ArchiveSource,
    private readonly options: ReadArchiveOptions = {},
  ) {}

  /** The torn tails met so far in the latest iteration. */
  get tornTails(): TornTailEvent[] {
    return this.events.filter((event): event is TornTailEvent => event.kind === 'torn-tail');
  }

  [Symbol.asyncIterator](): AsyncIterator<ArchiveFrame> {
    return this.frames();
  }

  private emit(event: ArchiveEvent): void {
    this.events.push(event);
    this.options.onEvent?.(event);
  }

  private async *frames(): AsyncGenerator<ArchiveFrame, void, undefined> {
    this.events.length = 0;
    const { signal } = this.options;
    const decode = this.options.decode ?? true;
    const paths = await resolveSource(this.source);
    const layouts: SegmentLayout[] = [];
    for (const path of paths) layouts.push((await resolveLayout(path, this.options)).layout);
    const start = this.options.seek
      ? await this.planSeek(paths, layouts, this.options.seek)
      : { segment: 0, offset: 0, frameNumber: 0, yieldFrom: YIELD_ALL };

    for (let s = start.segment; s < paths.length; s++) {
      const path = paths[s];
      const layout = layouts[s];
      const first = s === start.segment;
      const decoder = createPayloadDecoder(layout.protocol);
      let yieldFrom = first ? start.yieldFrom : YIELD_ALL;
      let frameNumber = first ? start.frameNumber : 0;
      const outcome: ScanOutcome = { end: 0, tornTail: undefined };
      const scan = scanFrames(
        path,
        { framing: layout.framing, maxFrameBytes: layout.maxFrameBytes, startOffset: first ? start.offset : 0, signal },
        outcome,
      );
      for await (const frame of scan) {
        let header: PayloadHeader;
        let decoded: DecodedPayload;
        let yielding: boolean;
        try {
          header = inspectPayload(layout.protocol, frame.payload);
          yielding = yieldFrom({ offset: frame.offset, frameId: header.frameId });
          // Skipped keypoints frames are still decoded: they build the state of the first yielded one.
          if (decode && (yielding || layout.protocol === 'keypoints')) decoded = decoder.decode(frame.payload, frame.offset);
        } catch (error) {
          if (!(error instanceof InvalidPayloadError || error instanceof ProtocolDecodeError)) throw error;
          if ((await stat(path)).size <= frame.end) {
            // Complete by length but undecodable, and nothing after it: the writer was interrupted.
            const frameBytes = frame.end - frame.offset;
            outcome.tornTail = { reason: 'undecodable-tail', offset: frame.offset, expected: frameBytes, available: frameBytes };
            break;
          }
          throw new ArchiveCorruptError('undecodable-payload', error.message, path, frame.offset, { cause: error });
        }
        const number = frameNumber++;
        if (!yielding) continue;
        yieldFrom = YIELD_ALL;
        yield {
          payload: frame.payload,
          offset: frame.offset,
          segment: path,
          frameNumber: number,
          frameId: header.frameId,
          seekPoint: header.seekPoint,
          decoded,
        };
      }
      if (outcome.tornTail) this.emit({ kind: 'torn-tail', segment: path, ...outcome.tornTail });
    }
  }

  /** Picks the segment (the last whose first indexed key is at or before the target), then the
   *  entry to start from: for keypoints the nearest master at or before the target entry. */
  private async planSeek(paths: readonly string[], layouts: readonly SegmentLayout[], target: SeekTarget): Promise<StartPoint> {
    const byId = 'frameId' in target;
    const keyOf = (entry: IndexEntry): bigint | number | null => (byId ? entry.frameId : entry.timestampMs);
    const wanted = byId ? target.frameId : target.timestampMs;
    let chosen: { segment: number; entries: IndexEntry[]; all: IndexEntry[] } | undefined;
    for (let s = 0; s < paths.length; s++) {
      const resolved = await resolveSegmentIndex(paths[s], layouts[s], {
        rewrite: this.options.rewriteIndex ?? false,
        signal: this.options.signal,
      });
      if (resolved.status !== 'fresh') this.emit({ kind: 'index-rebuilt', segment: paths[s], status: resolved.status });
      const keyed = resolved.index.entries.filter((entry) => keyOf(entry) !== null);
      if (keyed.length === 0) continue;
      if ((keyOf(keyed[0]) as bigint | number) > wanted) break;
      chosen = { segment: s, entries: keyed, all: resolved.index.entries };
    }
    const idFilter = byId ? (frame: { frameId: bigint }) => frame.frameId >= target.frameId : YIELD_ALL;
    if (chosen === undefined) return { segment: 0, offset: 0, frameNumber: 0, yieldFrom: idFilter };

    let entry = chosen.entries[0];
    for (const candidate of chosen.entries) {
      if ((keyOf(candidate) as bigint | number) > wanted) break;
      entry = candidate;
    }
    let start: IndexEntry | undefined = entry;
    if (layouts[chosen.segment].protocol === 'keypoints' && !entry.seekPoint) {
      // Every entry (not only those with a key) may be the master to start from.
      start = undefined;
      for (const candidate of chosen.all) {
        if (candidate.offset > entry.offset) break;
        if (candidate.seekPoint) start = candidate;
      }
    }
    const targetOffset = entry.offset;
    return {
      segment: chosen.segment,
      offset: start?.offset ?? 0,
      frameNumber: start?.frameNumber ?? 0,
      yieldFrom: byId ? idFilter : (frame) => frame.offset >= targetOffset,
    };
  }
}

/** Reads `source`; see ArchiveReader. */
export function readArchive(source: ArchiveSource, options: ReadArchiveOptions = {}): ArchiveReader {
  return new ArchiveReader(source, options);
}

async function resolveSource(source: ArchiveSource): Promise<readonly string[]> {
  if (typeof source === 'string') return [source];
  if (Array.isArray(source)) return source as readonly string[];
  const set = source as { directory: string; baseName: string; streamId: string };
  return (await listSegments(set.directory, set.baseName, set.streamId)).map((segment) => segment.path);
}

