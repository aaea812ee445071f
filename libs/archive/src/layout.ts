// How to read one segment: its protocol and framing (from its .fw.json, or from the caller for a
// file without one, such as a .bin written by an RW SDK), index spacing and frame size limit.
import { DEFAULT_MAX_FRAME_BYTES, Framing } from '@framewire/framing';
import { ArchiveMetadataError } from './errors';
import { DEFAULT_INDEX_EVERY_FRAMES } from './index-file';
import { segmentFiles } from './naming';
import type { ArchiveProtocol } from './protocols';
import { ArchiveMetadata, readMetadata } from './sidecar';

export interface SegmentLayout {
  protocol: ArchiveProtocol;
  framing: Framing;
  everyFrames: number;
  maxFrameBytes: number;
}

/** What a caller may say about files it reads. With a .fw.json present, protocol and framing must
 *  agree with it; without one, protocol is required and framing defaults to varint. */
export interface LayoutOptions {
  protocol?: ArchiveProtocol;
  framing?: Framing;
  /** Default DEFAULT_MAX_FRAME_BYTES. */
  maxFrameBytes?: number;
}

export async function resolveLayout(
  binPath: string,
  options: LayoutOptions,
): Promise<{ layout: SegmentLayout; metadata: ArchiveMetadata | undefined }> {
  const metadataPath = segmentFiles(binPath).metadata;
  const metadata = await readMetadata(metadataPath);
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (metadata === undefined) {
    if (options.protocol === undefined) {
      throw new ArchiveMetadataError(`${binPath} has no ${metadataPath}: pass the protocol to read it`, metadataPath);
    }
    return {
      layout: { protocol: options.protocol, framing: options.framing ?? 'varint', everyFrames: DEFAULT_INDEX_EVERY_FRAMES, maxFrameBytes },
      metadata,
    };
  }
  for (const field of ['protocol', 'framing'] as const) {
    const wanted = options[field];
    if (wanted !== undefined && wanted !== metadata[field]) {
      throw new ArchiveMetadataError(`${binPath} holds ${field} ${metadata[field]}, not ${wanted} (${metadataPath})`, metadataPath);
    }
  }
  return {
    layout: { protocol: metadata.protocol, framing: metadata.framing, everyFrames: metadata.indexEveryFrames, maxFrameBytes },
    metadata,
  };
}
