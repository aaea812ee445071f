// Frames over TCP and Unix domain sockets (formats.md §1: uint32 LE prefixes). A connection gives
// the peer's frames as an async iterable and a sink to it; a server yields accepted connections.
import { AddressInfo, createServer, Server, Socket, connect as connectSocket } from 'node:net';
import { AcceptedConnections } from './accepted-connections';
import { FrameDecoder, FrameDecoderOptions, resolveMaxFrameBytes } from './frame-decoder';
import { InboundQueue } from './inbound-queue';
import { StreamFrameSink } from './stream-sink';
import {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  Frame,
  FrameConnection, FrameReaderOptions, FrameServer, FrameSink, FrameSource, Framing } from './types';
import { waitForEvent } from './waiting';

/** A TCP address or a Unix domain socket path. */
export type SocketEndpoint = { host: string; port: number } | { path: string };

/** Received chunks (each one socket read, usually at most 64 KiB) buffered before the socket is
 *  paused, so a slow consumer applies TCP backpressure instead of filling memory. */
const RECEIVED_CHUNKS_HIGH_WATER = 16;

export interface SocketFramingOptions extends FrameReaderOptions {
  /** Length prefix (default 'u32le', the socket format of formats.md §1). */
  framing?: Framing;
  /** Bound on close()'s wait for the peer (default DEFAULT_CLOSE_TIMEOUT_MS). */
  closeTimeoutMs?: number;
}

export interface SocketConnectOptions extends SocketFramingOptions {
  connectTimeoutMs?: number;
}

/**
 * One framed socket. It reads as soon as it exists (into a bounded queue, then pauses the socket)
 * so that the peer closing is noticed even if nobody iterates `frames`. `options.signal` aborts the
 * iteration of `frames` and destroys the connection.
 */
export class SocketFrameConnection implements FrameConnection {
  readonly sink: StreamFrameSink;
  readonly frames: FrameSource;
  readonly closed: Promise<void>;
  private readonly decoderOptions: FrameDecoderOptions;
  private readonly received: InboundQueue<Uint8Array>;
  private readonly closeTimeoutMs: number;
  private framesTaken = false;
  private closing: Promise<void> | undefined = undefined;

  constructor(
    readonly socket: Socket,
    readonly peer: string,
    options: SocketFramingOptions = {},
  ) {
    const framing = options.framing ?? 'u32le';
    this.decoderOptions = { framing, maxFrameBytes: resolveMaxFrameBytes(options.maxFrameBytes) };
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.sink = new StreamFrameSink(socket, { framing, closeTimeoutMs: this.closeTimeoutMs });
    this.received = new InboundQueue<Uint8Array>({
      highWaterMark: RECEIVED_CHUNKS_HIGH_WATER,
      pause: () => socket.pause(),
      resume: () => socket.resume(),
    });
    this.closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.received.push(chunk));
    socket.on('end', () => this.received.end());
    socket.on('error', (error: Error) => this.received.fail(error));
    socket.on('close', () => this.received.end());
    const signal = options.signal;
    this.frames = { [Symbol.asyncIterator]: () => this.readFrames(signal) };
  }

  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  destroy(): void {
    this.received.discard();
    this.socket.destroy();
  }

  private async *readFrames(signal: AbortSignal | undefined): AsyncGenerator<Frame, void, undefined> {
    if (this.framesTaken) throw new Error(`the frames of connection ${this.peer} are already being read`);
    this.framesTaken = true;
    const decoder = new FrameDecoder(this.decoderOptions);
    let completed = false;
    try {
      for (;;) {
        const chunk = await this.received.take(signal);
        if (chunk === undefined) break;
        decoder.push(chunk);
        for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) yield frame;
      }
      decoder.finish();
      completed = true;
    } finally {
      // A consumer that stops early, a malformed stream or an abort ends the connection.
      if (!completed) this.destroy();
    }
  }

  private async closeOnce(): Promise<void> {
    if (!this.framesTaken) {
      // Nobody reads: drop what arrives so that the peer's end (and so 'close') gets through.
      this.received.discard();
      this.socket.resume();
    }
    try {
      await this.sink.close();
    } catch {
      this.socket.destroy();
    }
    if (this.socket.closed) return;
    try {
      await waitForEvent(this.socket, 'close', { timeoutMs: this.closeTimeoutMs });
    } catch {
      this.socket.destroy();
    }
  }
}

function describeSocketPeer(socket: Socket, endpoint: SocketEndpoint | undefined): string {
  if (socket.remoteAddress !== undefined) return `${socket.remoteAddress}:${socket.remotePort}`;
  return endpoint !== undefined && 'path' in endpoint ? `unix:${endpoint.path}` : 'unix';
}

/** Connects to `endpoint` and resolves once connected (rejects on error, timeout or abort). */
export async function connectFrames(
  endpoint: SocketEndpoint,
  options: SocketConnectOptions = {},
): Promise<SocketFrameConnection> {
  resolveMaxFrameBytes(options.maxFrameBytes);
  options.signal?.throwIfAborted();
  const isUnix = 'path' in endpoint;
  const socket = isUnix
    ? connectSocket({ path: endpoint.path })
    : connectSocket({ host: endpoint.host, port: endpoint.port, noDelay: true });
  const peer = isUnix ? `unix:${endpoint.path}` : `${endpoint.host}:${endpoint.port}`;
  // Built before connecting so that its listeners catch every socket error.
  const connection = new SocketFrameConnection(socket, peer, options);
  try {
    await waitForEvent(socket, 'connect', {
      failOn: ['error', 'close'],
      timeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      signal: options.signal,
    });
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return connection;
}

/**
 * The frames a peer sends on a new connection to `endpoint`: connects when iterated, and closes
 * the connection when the loop ends, breaks or throws. For readers that never write back.
 */
export function connectFrameSource(endpoint: SocketEndpoint, options: SocketConnectOptions = {}): FrameSource {
  return {
    async *[Symbol.asyncIterator]() {
      const connection = await connectFrames(endpoint, options);
      try {
        yield* connection.frames;
      } finally {
        await connection.close();
      }
    },
  };
}

/** A sink over a new connection to `endpoint` for writers that never read; its close() closes
 *  the connection (whatever the peer sends is discarded). */
export async function connectFrameSink(
  endpoint: SocketEndpoint,
  options: SocketConnectOptions = {},
): Promise<FrameSink> {
  const connection = await connectFrames(endpoint, options);
  return {
    write: (payload) => connection.sink.write(payload),
    flush: () => connection.sink.flush(),
    close: () => connection.close(),
    get bytesWritten() {
      return connection.sink.bytesWritten;
    },
  };
}

/** A listening TCP or Unix socket server of framed connections. */
export class SocketFrameServer implements FrameServer<SocketFrameConnection> {
  private readonly connections = new AcceptedConnections<SocketFrameConnection>();
  private closing: Promise<void> | undefined = undefined;

  constructor(
    readonly server: Server,
    private readonly requested: SocketEndpoint,
    options: SocketFramingOptions,
  ) {
    server.on('connection', (socket: Socket) => {
      this.connections.admit(new SocketFrameConnection(socket, describeSocketPeer(socket, requested), options));
    });
    // After listening, a server error (EMFILE on accept...) affects one connection; keep serving.
    server.on('error', () => undefined);
  }

  /** Where the server listens, with the port the OS chose when `port: 0` was asked. */
  get endpoint(): SocketEndpoint {
    if ('path' in this.requested) return this.requested;
    const address = this.server.address() as AddressInfo;
    return { host: this.requested.host, port: address.port };
  }

  /** Connections currently open. */
  get connectionCount(): number {
    return this.connections.size;
  }

  accept(signal?: AbortSignal): Promise<SocketFrameConnection> {
    return this.connections.accept(signal);
  }

  [Symbol.asyncIterator](): AsyncIterator<SocketFrameConnection> {
    return this.connections.iterate();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
      await this.connections.closeAll();
      await stopped;
    })();
    return this.closing;
  }
}

/** Listens on `endpoint` (`port: 0` picks a free port; see `endpoint` afterwards). */
export async function listenFrames(
  endpoint: SocketEndpoint,
  options: SocketFramingOptions = {},
): Promise<SocketFrameServer> {
  resolveMaxFrameBytes(options.maxFrameBytes);
  const server = createServer({ noDelay: true });
  const frameServer = new SocketFrameServer(server, endpoint, options);
  const listening = waitForEvent(server, 'listening', { failOn: ['error'] });
  if ('path' in endpoint) server.listen(endpoint.path);
  else server.listen(endpoint.port, endpoint.host);
  try {
    await listening;
  } catch (error) {
    server.close();
    throw error;
  }
  return frameServer;
}
