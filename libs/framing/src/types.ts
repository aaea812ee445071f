// The shapes every transport shares: a sink writes whole frames, a source yields them.

/** Which length prefix a byte stream uses (formats.md §1). */
export type Framing = 'varint' | 'u32le';

/** Default maximum frame size of every reader: 100 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024;

/** Largest varint length prefix, in bytes. */
export const MAX_VARINT_BYTES = 5;

export interface FrameReaderOptions {
  /** Frames longer than this are rejected before any allocation (default DEFAULT_MAX_FRAME_BYTES). */
  maxFrameBytes?: number;
  /** Aborts the iteration; the source then closes its underlying resource. */
  signal?: AbortSignal;
}

/** A frame as a source yields it: the payload (a view of the receive buffer when the frame lay
 *  in one chunk, a fresh copy otherwise; never reused by the source) and the offset of its length
 *  prefix in the stream (the message index on WebSocket). */
export interface Frame {
  payload: Uint8Array;
  offset: number;
}

/** Writes whole frames. `write` rejects an empty payload with EmptyFrameError; after `close`,
 *  `write` rejects with SinkClosedError. `flush` pushes buffered bytes to the OS; `close` flushes
 *  and releases the resource, and is idempotent. */
export interface FrameSink {
  write(payload: Uint8Array): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Bytes written so far, prefixes included (the offset the next frame will start at). */
  readonly bytesWritten: number;
}

/** An async iterable of frames. Breaking out of the loop releases the underlying resource. */
export type FrameSource = AsyncIterable<Frame>;
