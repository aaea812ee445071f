// Opening an archive file for reading: what it holds (from its .fw.json sidecar, else from the
// command line) and its frames in file order with how the file ends. Reading, decoding and the
// torn-tail and corruption rules are @framewire/archive's (readArchive), so `fw` judges a file
// exactly as every other archive reader does.
import { stat } from 'node:fs/promises';
import { ArchiveFrame, ArchiveMetadata, TornTail, readArchive, readMetadata, segmentFiles } from '@framewire/archive';
import { Framing, prefixLength } from '@framewire/framing';
import { DEFAULT_FRAMING, FormatOptions, ProtocolName } from './archive-options';
import { CliError } from './cli-error';

export interface ArchiveFile {
  path: string;
  protocol: ProtocolName;
  framing: Framing;
  /** Where protocol and framing came from. */
  formatSource: 'sidecar' | 'options';
  /** The .fw.json sidecar, when the file has one. */
  metadata: ArchiveMetadata | undefined;
  sizeBytes: number;
}

/**
 * Resolves what `path` holds. The sidecar wins because it was written with the file; an option
 * that contradicts it is an error rather than a silent choice. Without a sidecar, --protocol is
 * required and --framing defaults to varint (formats.md §1: files use varint prefixes).
 */
export async function openArchiveFile(path: string, options: FormatOptions): Promise<ArchiveFile> {
  const info = await stat(path);
  if (!info.isFile()) throw new CliError(path, 'not a regular file');
  const metadataPath = segmentFiles(path).metadata;
  const metadata = await readMetadata(metadataPath);
  if (metadata !== undefined) {
    for (const field of ['protocol', 'framing'] as const) {
      const given = options[field];
      if (given !== undefined && given !== metadata[field]) {
        throw new CliError(path, `--${field} ${given} contradicts the sidecar ${metadataPath}, which says ${metadata[field]}`);
      }
    }
    return { path, protocol: metadata.protocol, framing: metadata.framing, formatSource: 'sidecar', metadata, sizeBytes: info.size };
  }
  if (options.protocol === undefined) {
    throw new CliError(path, `no sidecar ${metadataPath} says what the file holds: give --protocol keypoints|segmentation|stage|result`);
  }
  const framing = options.framing ?? DEFAULT_FRAMING;
  return { path, protocol: options.protocol, framing, formatSource: 'options', metadata: undefined, sizeBytes: info.size };
}

/** How a read of the whole file ended. */
export interface ArchiveEnd {
  /** Offset just after the last complete, decodable frame. */
  validBytes: number;
  /** Set when the file ends inside a frame, in zero fill, or in a last frame that does not decode. */
  tornTail: TornTail | undefined;
}

/**
 * Passes every frame of `file`, decoded by @framewire/overlay-codecs (keypoints deltas applied; `result`
 * payloads are left to the caller), to `visit` in file order, with the offset just after it.
 * Throws ArchiveCorruptError at corruption, after visiting every frame before it.
 */
export async function forEachFrame(
  file: ArchiveFile,
  visit: (frame: ArchiveFrame, end: number) => Promise<void> | void,
): Promise<ArchiveEnd> {
  const reader = readArchive(file.path, { protocol: file.protocol, framing: file.framing, decode: true });
  let validBytes = 0;
  for await (const frame of reader) {
    validBytes = frame.offset + prefixLength(file.framing, frame.payload.length) + frame.payload.length;
    await visit(frame, validBytes);
  }
  return { validBytes, tornTail: reader.tornTails[0] };
}

const TORN_TAIL_DESCRIPTIONS: Record<TornTail['reason'], (tail: TornTail) => string> = {
  'truncated-prefix': (t) => `the file ends inside a length prefix (${t.available} bytes of it)`,
  'truncated-payload': (t) => `the file ends inside a frame (${t.available} of its ${t.expected} bytes)`,
  'zero-fill': (t) => `${t.available} zero bytes where a frame should start`,
  'undecodable-tail': () => 'the last frame is complete by length but its payload does not decode',
};

/** What a torn tail looks like, for the one-line report (`torn tail: <this> at offset N`). */
export function describeTornTail(tail: TornTail): string {
  return TORN_TAIL_DESCRIPTIONS[tail.reason](tail);
}
