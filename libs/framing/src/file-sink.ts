// Frames into a file: frames are gathered in a buffer and written in large sequential writes;
// flush() hands them to the OS (and fsyncs when asked), close() flushes and closes the file.
import { FileHandle, open } from 'node:fs/promises';
import { encodedFrameLength, encodeFrameInto } from './encode';
import { EmptyFrameError, FrameTooLargeError, SinkClosedError } from './errors';
import { MAX_PREFIX_VALUE } from './length-prefix';
import { FrameSink, Framing } from './types';

/** Write buffer: frames up to this size are batched; a larger frame is written on its own. */
export const DEFAULT_FILE_BUFFER_BYTES = 64 * 1024;

export interface FileSinkOptions {
  /** Length prefix (default 'varint', the file format of formats.md §1). */
  framing?: Framing;
  /** Append to an existing file instead of truncating it (default false). */
  append?: boolean;
  /** fsync the file on every flush() and on close() (default false). */
  fsyncOnFlush?: boolean;
  bufferBytes?: number;
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * State: the open file, the write buffer and its fill, and a chain of file operations that keeps
 * them in call order. A write that fits in the buffer while nothing is queued is a synchronous copy
 * (no allocation); otherwise it joins the chain. After an I/O error every call rejects with it.
 */
export class FileFrameSink implements FrameSink {
  private buffer: Buffer;
  private fill = 0;
  private written = 0;
  private queuedOperations = 0;
  private chain: Promise<void> = RESOLVED;
  private failure: unknown = undefined;
  private closing: Promise<void> | undefined = undefined;

  constructor(
    private readonly file: FileHandle,
    readonly framing: Framing,
    /** File offset where this sink's first frame starts (the file size when appending). */
    readonly startOffset: number,
    private readonly fsyncOnFlush: boolean,
    bufferBytes: number,
  ) {
    this.buffer = Buffer.allocUnsafe(bufferBytes);
  }

  /** Bytes this sink has accepted, prefixes included; the next frame starts at startOffset + this. */
  get bytesWritten(): number {
    return this.written;
  }

  write(payload: Uint8Array): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new SinkClosedError(this.written));
    if (payload.length === 0) return Promise.reject(new EmptyFrameError(this.written));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (payload.length > MAX_PREFIX_VALUE) {
      return Promise.reject(new FrameTooLargeError(payload.length, MAX_PREFIX_VALUE, this.written));
    }
    const frameBytes = encodedFrameLength(payload.length, this.framing);
    this.written += frameBytes;
    if (this.queuedOperations === 0 && frameBytes <= this.buffer.length - this.fill) {
      this.fill = encodeFrameInto(payload, this.framing, this.buffer, this.fill);
      return RESOLVED;
    }
    return this.enqueue(() => this.writeThrough(payload, frameBytes));
  }

  flush(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return this.enqueue(async () => {
      await this.writeBuffer();
      if (this.fsyncOnFlush) await this.file.sync();
    });
  }

  /** Flushes and closes the file; rejects with a flush failure, but closes the file anyway. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      const flushed = this.flush();
      this.closing = flushed.finally(() => this.file.close());
    }
    return this.closing;
  }

  private async writeThrough(payload: Uint8Array, frameBytes: number): Promise<void> {
    if (frameBytes > this.buffer.length - this.fill) await this.writeBuffer();
    if (frameBytes <= this.buffer.length) {
      this.fill = encodeFrameInto(payload, this.framing, this.buffer, this.fill);
      return;
    }
    // Larger than the buffer: one buffer holding prefix and payload, one write.
    const frame = Buffer.allocUnsafe(frameBytes);
    encodeFrameInto(payload, this.framing, frame, 0);
    await this.writeAll(frame);
  }

  private async writeBuffer(): Promise<void> {
    if (this.fill === 0) return;
    const filled = this.buffer.subarray(0, this.fill);
    await this.writeAll(filled);
    this.fill = 0;
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.file.write(bytes, done, bytes.length - done, null);
      done += bytesWritten;
    }
  }

  /** Runs `operation` after every earlier one; the first failure poisons the sink. */
  private enqueue(operation: () => Promise<void>): Promise<void> {
    this.queuedOperations++;
    const run = this.chain.then(async () => {
      try {
        if (this.failure !== undefined) throw this.failure;
        await operation();
      } catch (error) {
        this.failure ??= error;
        throw error;
      } finally {
        this.queuedOperations--;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/** Opens (creating or truncating, or appending to) `path` for writing frames. */
export async function openFileSink(path: string, options: FileSinkOptions = {}): Promise<FileFrameSink> {
  const bufferBytes = options.bufferBytes ?? DEFAULT_FILE_BUFFER_BYTES;
  if (!Number.isInteger(bufferBytes) || bufferBytes < 1) {
    throw new RangeError(`bufferBytes must be a positive integer, got ${bufferBytes}`);
  }
  const file = await open(path, options.append === true ? 'a' : 'w');
  try {
    const startOffset = options.append === true ? (await file.stat()).size : 0;
    const framing = options.framing ?? 'varint';
    return new FileFrameSink(file, framing, startOffset, options.fsyncOnFlush ?? false, bufferBytes);
  } catch (error) {
    await file.close();
    throw error;
  }
}
