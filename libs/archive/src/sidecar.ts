// The sidecars beside a .bin: framewire's metadata (`<name>.fw.json`) and, for keypoints, the RW
// point-definition file (`<name>.json`, formats.md §5). Both are written once, atomically (temp
// file, fsync, rename), before the first frame, so a .bin never exists without its metadata.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import type { Framing } from '@framewire/framing';
import {
  DEFAULT_SIDECAR_VERSION,
  KeyPointsSidecar,
  SidecarError,
  formatKeyPointsSidecar,
  parseKeyPointsSidecar,
} from '@framewire/overlay-codecs';
import { ArchiveMetadataError } from './errors';
import { ARCHIVE_PROTOCOLS, ArchiveProtocol } from './protocols';

export const METADATA_FORMAT = 'framewire-archive';
/** Readers refuse other versions: a newer writer may have changed a meaning they rely on. */
export const METADATA_FORMAT_VERSION = 1;
/** Timestamps in the index are milliseconds since the Unix epoch. */
export const TIME_BASE = 'unix-ms';

/** Contents of `<name>.fw.json`. */
export interface ArchiveMetadata {
  format: typeof METADATA_FORMAT;
  formatVersion: typeof METADATA_FORMAT_VERSION;
  protocol: ArchiveProtocol;
  framing: Framing;
  streamId: string;
  timeBase: typeof TIME_BASE;
  /** When the segment was created, ISO 8601 UTC with milliseconds. */
  createdAt: string;
  /** Segment naming parts; null for a file written under an explicit name. */
  baseName: string | null;
  segmentSeq: number | null;
  /** The worker that produced keypoints (same value as the RW sidecar); null when unknown. */
  computeModuleName: string | null;
  /** The writer indexed every N-th frame (and, for keypoints, every master). */
  indexEveryFrames: number;
}

/** Temporary files written so far by this process: each write gets its own name. */
let temporaryFiles = 0;

/** Writes `text` to `path` so that a crash leaves either the old file or the whole new one. The
 *  temporary file's name is unique per write (process id and a counter), so concurrent writes of
 *  one path never rename each other's file away. */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${++temporaryFiles}`;
  const handle = await open(temporary, 'w', 0o644);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
}

/** A sidecar's text; undefined when the file does not exist, ArchiveMetadataError when it cannot be read. */
async function readSidecarText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ArchiveMetadataError(`cannot read ${path}: ${(error as Error).message}`, path, { cause: error });
  }
}

export async function writeMetadata(path: string, metadata: ArchiveMetadata): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(metadata, null, 2)}\n`);
}

/** Reads `<name>.fw.json`; undefined when the file does not exist. Throws ArchiveMetadataError
 *  when it is not valid JSON, is another format or version, or has a field of the wrong type. */
export async function readMetadata(path: string): Promise<ArchiveMetadata | undefined> {
  const text = await readSidecarText(path);
  if (text === undefined) return undefined;
  return parseMetadata(text, path);
}

export function parseMetadata(text: string, path: string): ArchiveMetadata {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new ArchiveMetadataError(`${path} is not valid JSON: ${(error as Error).message}`, path, { cause: error });
  }
  const fail = (field: string): never => {
    throw new ArchiveMetadataError(`${path}: invalid ${field}: ${JSON.stringify(value?.[field])}`, path);
  };
  if (typeof value !== 'object' || value === null) fail('document');
  if (value.format !== METADATA_FORMAT) fail('format');
  if (value.formatVersion !== METADATA_FORMAT_VERSION) fail('formatVersion');
  if (!ARCHIVE_PROTOCOLS.includes(value.protocol as ArchiveProtocol)) fail('protocol');
  if (value.framing !== 'varint' && value.framing !== 'u32le') fail('framing');
  if (typeof value.streamId !== 'string') fail('streamId');
  if (value.timeBase !== TIME_BASE) fail('timeBase');
  if (typeof value.createdAt !== 'string' || Number.isNaN(Date.parse(value.createdAt))) fail('createdAt');
  if (value.baseName !== null && typeof value.baseName !== 'string') fail('baseName');
  if (value.segmentSeq !== null && !Number.isInteger(value.segmentSeq)) fail('segmentSeq');
  if (value.computeModuleName !== null && typeof value.computeModuleName !== 'string') fail('computeModuleName');
  if (!Number.isInteger(value.indexEveryFrames) || (value.indexEveryFrames as number) < 1) fail('indexEveryFrames');
  return value as unknown as ArchiveMetadata;
}

/** Writes the RW point-definition sidecar (formats.md §5) with the protocol library's codec. */
export async function writePointDefinition(path: string, computeModuleName: string, points: Record<string, number>): Promise<void> {
  await writeFileAtomic(path, formatKeyPointsSidecar({ version: DEFAULT_SIDECAR_VERSION, computeModuleName, points }));
}

/** Reads the RW point-definition sidecar; undefined when there is none. Throws
 *  ArchiveMetadataError when it does not have the §5 shape. */
export async function readPointDefinition(path: string): Promise<KeyPointsSidecar | undefined> {
  const text = await readSidecarText(path);
  if (text === undefined) return undefined;
  try {
    return parseKeyPointsSidecar(text);
  } catch (error) {
    if (!(error instanceof SidecarError)) throw error;
    throw new ArchiveMetadataError(`${path}: ${error.message}`, path, { cause: error });
  }
}
