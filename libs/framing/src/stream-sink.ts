// Frames onto a Node Writable (pipes, stdout, sockets): one write() call per frame, so concurrent
// writers never interleave a prefix with another frame, and 'drain' backpressure is awaited.
import { Writable } from 'node:stream';
import { encodeFrame, PrefixSlab, ZERO_COPY_MIN_PAYLOAD_BYTES } from './encode';
import { EmptyFrameError, SinkClosedError } from './errors';
import { DEFAULT_CLOSE_TIMEOUT_MS, FrameSink, Framing } from './types';
import { ioError, waitForEvent } from './waiting';

export interface StreamSinkOptions {
  /** Length prefix (default 'varint'; sockets use 'u32le'). */
  framing?: Framing;
  /** End the stream on close (default true). False leaves it open, e.g. for process.stdout. */
  endOnClose?: boolean;
  closeTimeoutMs?: number;
}

const RESOLVED: Promise<void> = Promise.resolve();
const STREAM_FAILURE_EVENTS = ['error', 'close'] as const;

export class StreamFrameSink implements FrameSink {
  readonly framing: Framing;
  private written = 0;
  private closing: Promise<void> | undefined = undefined;
  private streamError: Error | undefined = undefined;
  private drainWait: Promise<void> | undefined = undefined;
  private readonly endOnClose: boolean;
  private readonly closeTimeoutMs: number;
  private readonly prefixes = new PrefixSlab();

  constructor(
    private readonly stream: Writable,
    options: StreamSinkOptions = {},
  ) {
    this.framing = options.framing ?? 'varint';
    this.endOnClose = options.endOnClose ?? true;
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    // Kept for the stream's lifetime: an 'error' without a listener would crash the process.
    stream.on('error', (error: Error) => {
      this.streamError ??= error;
    });
  }

  get bytesWritten(): number {
    return this.written;
  }

  write(payload: Uint8Array): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new SinkClosedError(this.written));
    if (payload.length === 0) return Promise.reject(new EmptyFrameError(this.written));
    const unusable = this.unusableReason();
    if (unusable !== undefined) return Promise.reject(unusable);
    if (payload.length >= ZERO_COPY_MIN_PAYLOAD_BYTES) return this.writeUncopied(payload);
    let frame: Uint8Array;
    try {
      frame = encodeFrame(payload, this.framing);
    } catch (error) {
      return Promise.reject(error);
    }
    this.written += frame.length;
    if (this.stream.write(frame)) return RESOLVED;
    return this.drained();
  }

  /** Prefix and payload as two writes corked together: nothing can come between them (one
   *  thread, back-to-back calls) and the payload is not copied. */
  private writeUncopied(payload: Uint8Array): Promise<void> {
    let prefix: Uint8Array;
    try {
      prefix = this.prefixes.prefixFor(payload.length, this.framing, this.written);
    } catch (error) {
      return Promise.reject(error);
    }
    this.written += prefix.length + payload.length;
    this.stream.cork();
    this.stream.write(prefix);
    const ok = this.stream.write(payload);
    this.stream.uncork();
    return ok ? RESOLVED : this.drained();
  }

  flush(): Promise<void> {
    const unusable = this.unusableReason();
    if (unusable !== undefined) return Promise.reject(unusable);
    return this.stream.writableNeedDrain ? this.drained() : RESOLVED;
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this.stream.destroyed) return;
    if (!this.endOnClose) {
      await this.flush();
      return;
    }
    if (this.stream.writableFinished) return;
    const finished = waitForEvent(this.stream, 'finish', { failOn: STREAM_FAILURE_EVENTS, timeoutMs: this.closeTimeoutMs });
    this.stream.end();
    try {
      await finished;
    } catch (error) {
      // A peer that stopped reading must not hold the process: drop what is still queued.
      this.stream.destroy();
      throw error;
    }
  }

  /** One shared wait however many writers are blocked, so listeners do not pile up. */
  private drained(): Promise<void> {
    this.drainWait ??= waitForEvent(this.stream, 'drain', { failOn: STREAM_FAILURE_EVENTS }).then(
      () => {
        this.drainWait = undefined;
      },
      (error: unknown) => {
        this.drainWait = undefined;
        throw error;
      },
    );
    return this.drainWait;
  }

  private unusableReason(): Error | undefined {
    if (this.streamError !== undefined) return this.streamError;
    if (this.stream.destroyed || this.stream.writableEnded) {
      return ioError('ERR_STREAM_DESTROYED', `cannot write frames at offset ${this.written}: the stream is closed`);
    }
    return undefined;
  }
}

/** A FrameSink over `stream`; it ends the stream on close unless told otherwise. */
export function createStreamSink(stream: Writable, options: StreamSinkOptions = {}): StreamFrameSink {
  return new StreamFrameSink(stream, options);
}
