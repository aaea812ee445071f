// Frames from a file of varint-framed payloads (an archive .bin): bounded reads, and the file is
// open only while it is being iterated.
import { open } from 'node:fs/promises';
import { FrameDecoder } from './frame-decoder';
import { Frame, FrameReaderOptions, FrameSource, Framing } from './types';

/** Read size: large enough for few syscalls, small enough to bound memory per open file. */
export const DEFAULT_FILE_CHUNK_BYTES = 64 * 1024;

export interface FileSourceOptions extends FrameReaderOptions {
  /** Length prefix (default 'varint', the file format of formats.md §1). */
  framing?: Framing;
  /** Bytes per read (default DEFAULT_FILE_CHUNK_BYTES). */
  chunkBytes?: number;
  /** File offset of the first frame to read, e.g. from an index (default 0). Frame offsets and
   *  errors stay in file coordinates. */
  startOffset?: number;
}

/**
 * The frames of the file at `path`. Each iteration opens the file, reads it in chunks of at most
 * `chunkBytes`, and closes it when the loop completes, breaks or throws. A file ending inside a
 * frame yields every complete frame, then throws TruncatedFrameError. Frames are views of the
 * read chunk when they fit in one, so a kept frame keeps its chunk alive.
 */
export function openFileSource(path: string, options: FileSourceOptions = {}): FrameSource {
  return { [Symbol.asyncIterator]: () => readFileFrames(path, options) };
}

async function* readFileFrames(path: string, options: FileSourceOptions): AsyncGenerator<Frame, void, undefined> {
  const { signal } = options;
  const chunkBytes = options.chunkBytes ?? DEFAULT_FILE_CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) {
    throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  }
  const decoder = new FrameDecoder(options);
  signal?.throwIfAborted();
  const file = await open(path, 'r');
  try {
    let position = decoder.offset;
    for (;;) {
      signal?.throwIfAborted();
      // A fresh chunk per read: frames handed out earlier may be views of the previous one.
      const chunk = Buffer.allocUnsafe(chunkBytes);
      const { bytesRead } = await file.read(chunk, 0, chunkBytes, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      decoder.push(bytesRead === chunkBytes ? chunk : chunk.subarray(0, bytesRead));
      for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
        yield frame;
        signal?.throwIfAborted();
      }
    }
    decoder.finish();
  } finally {
    await file.close();
  }
}
