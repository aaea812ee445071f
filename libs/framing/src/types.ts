// The shapes every transport shares: a sink writes whole frames, a source yields them.

/** Which length prefix a byte stream uses (formats.md §1). */
export type Framing = 'varint' | 'u32le';

/** Default maximum frame size of every reader: 100 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024;

/** Default bound on a connection's connect or handshake. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Default bound on close(): how long a sink waits for its stream to finish or its peer to close
 *  before it drops the connection. */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;

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
 *  and releases the resource, and is idempotent. A sink may keep a reference to a payload until
 *  its bytes are out (at the latest when the next `flush` resolves), as Node's own streams do: do
 *  not modify a payload after writing it. */
export interface FrameSink {
  write(payload: Uint8Array): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Bytes written so far, prefixes included (the offset the next frame will start at). */
  readonly bytesWritten: number;
}

/** An async iterable of frames. Breaking out of the loop releases the underlying resource. */
export type FrameSource = AsyncIterable<Frame>;

/** A two-way framed connection (TCP, Unix socket or WebSocket): frames from the peer and a sink
 *  to it. The connection owns the underlying socket. */
export interface FrameConnection {
  /** Frames from the peer; iterate once. Ends cleanly when the peer closes at a frame boundary.
   *  Breaking out of it, or a framing error, closes the connection. */
  readonly frames: FrameSource;
  /** Frames to the peer. Closing it ends the connection's sending side. */
  readonly sink: FrameSink;
  /** The peer, for logs ("127.0.0.1:50123", "unix:/run/fw.sock"). */
  readonly peer: string;
  /** Settles when the underlying socket has closed, for whatever reason. */
  readonly closed: Promise<void>;
  /** Flushes and ends the sending side, waits (bounded) for the peer to close, then releases the
   *  socket. Idempotent. */
  close(): Promise<void>;
  /** Releases the socket at once; pending frames in either direction are lost. */
  destroy(): void;
}

/** A listening server: iterate it (or call accept()) to get each accepted connection. */
export interface FrameServer<C extends FrameConnection = FrameConnection> extends AsyncIterable<C> {
  /** The next accepted connection. Rejects once the server is closed. */
  accept(signal?: AbortSignal): Promise<C>;
  /** Stops listening and closes every connection it accepted. Idempotent. */
  close(): Promise<void>;
}
