// `fw archive info` / `fw archive verify`: one pass over a .bin that decodes every frame and
// reports what is there, where it ends and how, without changing any file.
import { stat } from 'node:fs/promises';
import { Framing, prefixLength } from '@framewire/framing';
import { ArchiveCorruptError, CorruptionReason } from './errors';
import { loadIndex } from './index-file';
import { LayoutOptions, resolveLayout } from './layout';
import { segmentFiles } from './naming';
import { ArchiveProtocol, inspectPayload } from './protocols';
import { readArchive } from './reader';
import type { TornTail } from './scan';
import type { IndexStatus } from './segment-index';
import type { KeyPointsSidecar } from '@framewire/overlay-codecs';
import { ArchiveMetadata, readPointDefinition } from './sidecar';

export interface ArchiveReport {
  path: string;
  /** No corruption and no torn tail. */
  ok: boolean;
  protocol: ArchiveProtocol;
  framing: Framing;
  /** The .fw.json, when there is one. */
  metadata: ArchiveMetadata | undefined;
  /** Keypoints: the RW point-definition sidecar, when there is one. */
  pointDefinition: KeyPointsSidecar | undefined;
  /** Size of the .bin. */
  bytes: number;
  /** End of the last complete, decodable frame before any torn tail or corruption. */
  validBytes: number;
  frames: number;
  /** Keypoints master frames; undefined for other protocols. */
  masters: number | undefined;
  firstFrameId: bigint | undefined;
  lastFrameId: bigint | undefined;
  /** Unix ms of the first and last frame: from Result payloads, else from the index (exact for
   *  segments closed cleanly, whose last frame the writer indexes; otherwise the last indexed one). */
  firstTimestampMs: number | undefined;
  lastTimestampMs: number | undefined;
  tornTail: TornTail | undefined;
  corruption: { offset: number; reason: CorruptionReason; message: string } | undefined;
  index: { status: IndexStatus; entries: number; coveredBytes: number };
}

/** Reads the whole of `binPath` once and reports on it; corruption and torn tails are in the report.
 *  Throws only when the file cannot be read at all (ArchiveMetadataError for a missing or bad
 *  sidecar, system errors for a missing file). */
export async function verifyArchive(binPath: string, options: LayoutOptions = {}): Promise<ArchiveReport> {
  const { layout, metadata } = await resolveLayout(binPath, options);
  const files = segmentFiles(binPath);
  const bytes = (await stat(binPath)).size;
  const report: ArchiveReport = {
    path: binPath,
    ok: true,
    protocol: layout.protocol,
    framing: layout.framing,
    metadata,
    pointDefinition: layout.protocol === 'keypoints' ? await readPointDefinition(files.points) : undefined,
    bytes,
    validBytes: 0,
    frames: 0,
    masters: layout.protocol === 'keypoints' ? 0 : undefined,
    firstFrameId: undefined,
    lastFrameId: undefined,
    firstTimestampMs: undefined,
    lastTimestampMs: undefined,
    tornTail: undefined,
    corruption: undefined,
    index: { status: 'missing', entries: 0, coveredBytes: 0 },
  };

  const reader = readArchive(binPath, { ...options, protocol: layout.protocol, framing: layout.framing });
  try {
    for await (const frame of reader) {
      report.frames++;
      if (frame.seekPoint && report.masters !== undefined) report.masters++;
      report.firstFrameId ??= frame.frameId;
      report.lastFrameId = frame.frameId;
      report.validBytes = frame.offset + prefixLength(layout.framing, frame.payload.length) + frame.payload.length;
      if (layout.protocol === 'result') {
        const { timestampMs } = inspectPayload('result', frame.payload);
        if (timestampMs !== undefined) {
          report.firstTimestampMs ??= timestampMs;
          report.lastTimestampMs = timestampMs;
        }
      }
    }
  } catch (error) {
    if (!(error instanceof ArchiveCorruptError)) throw error;
    report.corruption = { offset: error.offset, reason: error.reason, message: error.message };
  }
  report.tornTail = reader.tornTails[0];
  report.ok = report.corruption === undefined && report.tornTail === undefined;

  const load = await loadIndex(files.index);
  if (load.status === 'loaded') {
    const { entries, covered } = load.index;
    report.index = {
      status: covered.bytes === bytes ? 'fresh' : covered.bytes < bytes ? 'stale' : 'invalid',
      entries: entries.length,
      coveredBytes: covered.bytes,
    };
    if (layout.protocol !== 'result') {
      const timed = entries.filter((entry) => entry.timestampMs !== null && entry.offset < report.validBytes);
      report.firstTimestampMs = timed[0]?.timestampMs ?? undefined;
      report.lastTimestampMs = timed[timed.length - 1]?.timestampMs ?? undefined;
    }
  } else {
    report.index.status = load.status;
  }
  return report;
}
