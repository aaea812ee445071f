// Reads the complete frames of one .bin from a given offset and tells how the file ends: cleanly,
// in a torn tail (an event: the writer died mid-frame), or in corruption (an error).
import { open } from 'node:fs/promises';
import {
  EmptyFrameError,
  FramingError,
  Framing,
  TruncatedFrameError,
  openFileSource,
  prefixLength,
} from '@framewire/framing';
import { ArchiveCorruptError, CorruptionReason } from './errors';

/** Bytes per read while scanning; also the step of the zero-fill check. */
export const SCAN_CHUNK_BYTES = 256 * 1024;

/** How a torn tail looks:
 *  - truncated-prefix: the file ends inside a length prefix;
 *  - truncated-payload: it ends inside a payload;
 *  - zero-fill: from a frame boundary to the end every byte is zero (a file system that extended
 *    the file before the data reached the disk, then crashed);
 *  - undecodable-tail: the last frame is complete by length but its payload does not decode. */
export type TornTailReason = 'truncated-prefix' | 'truncated-payload' | 'zero-fill' | 'undecodable-tail';

export interface TornTail {
  reason: TornTailReason;
  /** Offset of the torn frame's length prefix: where the valid data ends. */
  offset: number;
  /** Bytes the torn frame needed from `offset`, prefix included; -1 when unknown (the file ends
   *  inside the prefix, or in zero fill). */
  expected: number;
  /** Bytes present from `offset` to the end of the file. */
  available: number;
}

export interface ScannedFrame {
  payload: Uint8Array;
  /** Offset of the length prefix. */
  offset: number;
  /** Offset just after the payload. */
  end: number;
}

export interface ScanOptions {
  framing: Framing;
  maxFrameBytes: number;
  /** Offset of a frame boundary to start at. */
  startOffset: number;
  signal?: AbortSignal;
}

/** Filled in as the scan proceeds: where the last complete frame ends, and the torn tail if the
 *  scan ended in one. */
export interface ScanOutcome {
  end: number;
  tornTail: TornTail | undefined;
}

const CORRUPTION_REASONS: Partial<Record<FramingError['code'], CorruptionReason>> = {
  VARINT_TOO_LONG: 'varint-too-long',
  FRAME_TOO_LARGE: 'frame-too-large',
  EMPTY_FRAME: 'empty-frame',
};

/**
 * Yields every complete frame of `path` from `options.startOffset`. A file ending inside a frame, or
 * in zeros from a frame boundary on, ends the iteration with `outcome.tornTail` set; an invalid
 * length prefix followed by other bytes throws ArchiveCorruptError naming its offset.
 */
export async function* scanFrames(path: string, options: ScanOptions, outcome: ScanOutcome): AsyncGenerator<ScannedFrame, void, undefined> {
  const { framing } = options;
  outcome.end = options.startOffset;
  outcome.tornTail = undefined;
  const source = openFileSource(path, {
    framing,
    maxFrameBytes: options.maxFrameBytes,
    startOffset: options.startOffset,
    chunkBytes: SCAN_CHUNK_BYTES,
    signal: options.signal,
  });
  try {
    for await (const frame of source) {
      const end = frame.offset + prefixLength(framing, frame.payload.length) + frame.payload.length;
      outcome.end = end;
      yield { payload: frame.payload, offset: frame.offset, end };
    }
  } catch (error) {
    if (error instanceof TruncatedFrameError) {
      outcome.tornTail = {
        reason: error.expected < 0 ? 'truncated-prefix' : 'truncated-payload',
        offset: error.offset,
        expected: error.expected,
        available: error.available,
      };
      return;
    }
    if (error instanceof EmptyFrameError) {
      const zeroBytes = await zeroBytesToEnd(path, error.offset);
      if (zeroBytes !== undefined) {
        outcome.tornTail = { reason: 'zero-fill', offset: error.offset, expected: -1, available: zeroBytes };
        return;
      }
    }
    const reason = error instanceof FramingError ? CORRUPTION_REASONS[error.code] : undefined;
    if (reason !== undefined) {
      throw new ArchiveCorruptError(reason, (error as Error).message, path, (error as FramingError).offset, { cause: error });
    }
    throw error;
  }
}

/** The number of bytes from `offset` to the end of the file when all of them are zero, else
 *  undefined. */
async function zeroBytesToEnd(path: string, offset: number): Promise<number | undefined> {
  const file = await open(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(SCAN_CHUNK_BYTES);
    let position = offset;
    for (;;) {
      const { bytesRead } = await file.read(chunk, 0, SCAN_CHUNK_BYTES, position);
      if (bytesRead === 0) return position - offset;
      for (let i = 0; i < bytesRead; i++) if (chunk[i] !== 0) return undefined;
      position += bytesRead;
    }
  } finally {
    await file.close();
  }
}
