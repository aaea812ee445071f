// Frames over WebSocket with `ws` (formats.md §1): one binary message is one frame, without a
// prefix; a text message is a protocol error, not an end of stream. Offsets are message indexes.
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { AcceptedConnections } from './accepted-connections';
import { EmptyFrameError, FrameTooLargeError, FramingError, SinkClosedError, UnexpectedTextMessageError } from './errors';
import { resolveMaxFrameBytes } from './frame-decoder';
import { InboundQueue } from './inbound-queue';
import {
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  Frame,
  FrameConnection, FrameReaderOptions, FrameServer, FrameSink, FrameSource } from './types';
import { ioError, waitForEvent } from './waiting';

/** Close codes of RFC 6455 §7.4.1 sent when the peer breaks the framing rules. */
export const WS_CLOSE_NORMAL = 1000;
export const WS_CLOSE_UNSUPPORTED_DATA = 1003;
export const WS_CLOSE_POLICY_VIOLATION = 1008;
export const WS_CLOSE_MESSAGE_TOO_BIG = 1009;
/** ws reads maxPayload as an int32; larger limits are enforced by our own length check only. */
const WS_MAX_PAYLOAD_CEILING = 0x7fffffff;
/** Code of the error ws raises when a message exceeds maxPayload. */
const WS_PAYLOAD_TOO_BIG_CODE = 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
/** Received messages, and their bytes, buffered before the WebSocket is paused (a peer's large
 *  messages must not reach 64 × the frame size limit). */
const RECEIVED_MESSAGES_HIGH_WATER = 64;
export const RECEIVED_BYTES_HIGH_WATER = 8 * 1024 * 1024;

export interface WebSocketFramingOptions extends FrameReaderOptions {
  /** Bound on close()'s wait for the closing handshake (default DEFAULT_CLOSE_TIMEOUT_MS). */
  closeTimeoutMs?: number;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** ws's maxPayload for a frame limit: the same limit, so an oversized message is refused before
 *  ws buffers it. */
export function webSocketMaxPayload(maxFrameBytes: number | undefined): number {
  return Math.min(resolveMaxFrameBytes(maxFrameBytes), WS_MAX_PAYLOAD_CEILING);
}

/** Sends each frame as one binary message. `bytesWritten` counts payload bytes; error offsets
 *  are message indexes. write() resolves once ws has handed the message to the socket, so the
 *  caller may reuse the payload buffer then. */
export class WebSocketFrameSink implements FrameSink {
  private messagesSent = 0;
  private bytes = 0;
  private lastSend: Promise<void> = RESOLVED;
  private closing: Promise<void> | undefined = undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly closeTimeoutMs = DEFAULT_CLOSE_TIMEOUT_MS,
  ) {}

  get bytesWritten(): number {
    return this.bytes;
  }

  write(payload: Uint8Array): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(new SinkClosedError(this.messagesSent));
    if (payload.length === 0) return Promise.reject(new EmptyFrameError(this.messagesSent));
    if (this.ws.readyState !== WebSocket.OPEN) {
      const state = this.ws.readyState;
      return Promise.reject(ioError('ERR_WEBSOCKET_NOT_OPEN', `cannot send frame ${this.messagesSent}: WebSocket readyState ${state}`));
    }
    this.messagesSent++;
    this.bytes += payload.length;
    const sent = new Promise<void>((resolve, reject) => {
      this.ws.send(payload, { binary: true, compress: false, fin: true }, (error) => (error ? reject(error) : resolve()));
    });
    this.lastSend = sent.catch(() => undefined);
    return sent;
  }

  /** Resolves once every message written so far has been handed to the socket (or failed). */
  flush(): Promise<void> {
    return this.lastSend;
  }

  /** Flushes, then runs the closing handshake (bounded) and releases the WebSocket. */
  close(): Promise<void> {
    this.closing ??= this.lastSend.then(() => closeWebSocket(this.ws, WS_CLOSE_NORMAL, this.closeTimeoutMs));
    return this.closing;
  }
}

async function closeWebSocket(ws: WebSocket, code: number, timeoutMs: number): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  const closed = waitForEvent(ws, 'close', { timeoutMs });
  if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
  else if (ws.readyState === WebSocket.OPEN) ws.close(code);
  try {
    await closed;
  } catch {
    // The peer did not finish the handshake in time: drop the TCP connection.
    ws.terminate();
  }
}

/**
 * A framed WebSocket. It listens for messages from construction on (ws drops messages nobody
 * listens to), buffers at most 64 messages and 8 MiB and pauses the socket beyond that. A text, empty or
 * oversized message fails `frames` after the frames before it, and closes the WebSocket with the
 * matching close code. The peer closing ends `frames` cleanly (messages are whole by construction).
 */
export class WebSocketFrameConnection implements FrameConnection {
  readonly frames: FrameSource;
  readonly sink: WebSocketFrameSink;
  readonly closed: Promise<void>;
  readonly maxFrameBytes: number;
  private readonly received: InboundQueue<Frame>;
  private readonly closeTimeoutMs: number;
  private messagesReceived = 0;
  private framesTaken = false;
  private closing: Promise<void> | undefined = undefined;

  constructor(
    readonly ws: WebSocket,
    readonly peer: string,
    options: WebSocketFramingOptions = {},
  ) {
    this.maxFrameBytes = resolveMaxFrameBytes(options.maxFrameBytes);
    this.closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.sink = new WebSocketFrameSink(ws, this.closeTimeoutMs);
    this.received = new InboundQueue<Frame>({
      highWaterMark: RECEIVED_MESSAGES_HIGH_WATER,
      highWaterBytes: RECEIVED_BYTES_HIGH_WATER,
      sizeOf: (frame) => frame.payload.byteLength,
      pause: () => ws.pause(),
      resume: () => ws.resume(),
    });
    ws.binaryType = 'nodebuffer';
    this.closed =
      ws.readyState === WebSocket.CLOSED ? RESOLVED : new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
    ws.on('error', (error: Error & { code?: string }) => {
      // ws refuses an over-limit message before telling its size: -1 is "unknown length".
      const tooBig = error.code === WS_PAYLOAD_TOO_BIG_CODE;
      this.received.fail(tooBig ? new FrameTooLargeError(-1, this.maxFrameBytes, this.messagesReceived) : error);
    });
    ws.on('close', () => this.received.end());
    const signal = options.signal;
    this.frames = { [Symbol.asyncIterator]: () => this.readFrames(signal) };
  }

  close(): Promise<void> {
    this.closing ??= this.sink.close();
    return this.closing;
  }

  destroy(): void {
    this.received.discard();
    this.ws.terminate();
  }

  private receive(data: Buffer, isBinary: boolean): void {
    const index = this.messagesReceived++;
    if (!isBinary) return this.reject(new UnexpectedTextMessageError(index), WS_CLOSE_UNSUPPORTED_DATA);
    if (data.length === 0) return this.reject(new EmptyFrameError(index), WS_CLOSE_POLICY_VIOLATION);
    if (data.length > this.maxFrameBytes) {
      return this.reject(new FrameTooLargeError(data.length, this.maxFrameBytes, index), WS_CLOSE_MESSAGE_TOO_BIG);
    }
    this.received.push({ payload: data, offset: index });
  }

  private reject(error: FramingError, closeCode: number): void {
    this.received.fail(error);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(closeCode, error.code);
  }

  private async *readFrames(signal: AbortSignal | undefined): AsyncGenerator<Frame, void, undefined> {
    if (this.framesTaken) throw new Error(`the frames of WebSocket ${this.peer} are already being read`);
    this.framesTaken = true;
    let completed = false;
    try {
      for (let frame = await this.received.take(signal); frame !== undefined; frame = await this.received.take(signal)) {
        yield frame;
      }
      completed = true;
    } finally {
      // A consumer that stops early, a protocol error or an abort ends the connection.
      if (!completed) await this.close();
    }
  }
}

/** The frames of an open WebSocket created elsewhere (e.g. by an HTTP framework's upgrade). The
 *  WebSocket is owned by the returned source's connection: stopping the loop closes it. Set ws's
 *  maxPayload to webSocketMaxPayload() where the WebSocket is created. */
export function webSocketFrames(ws: WebSocket, options: WebSocketFramingOptions = {}): FrameSource {
  return new WebSocketFrameConnection(ws, 'websocket', options).frames;
}

export interface WebSocketConnectOptions extends WebSocketFramingOptions {
  connectTimeoutMs?: number;
}

/** Opens a WebSocket to `url` (maxPayload set from maxFrameBytes, no compression) and resolves
 *  once the handshake is done. */
export async function connectWebSocketFrames(
  url: string,
  options: WebSocketConnectOptions = {},
): Promise<WebSocketFrameConnection> {
  const maxPayload = webSocketMaxPayload(options.maxFrameBytes);
  options.signal?.throwIfAborted();
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const ws = new WebSocket(url, { maxPayload, perMessageDeflate: false, handshakeTimeout: timeoutMs });
  // Built before the handshake so that its listeners catch every error.
  const connection = new WebSocketFrameConnection(ws, url, options);
  try {
    await waitForEvent(ws, 'open', { failOn: ['error', 'close'], timeoutMs, signal: options.signal });
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return connection;
}

export type WebSocketListenOptions = WebSocketFramingOptions & { path?: string } & (
    | { host: string; port: number }
    | { server: HttpServer }
  );

/** A WebSocket server of framed connections. */
export class WebSocketFrameServer implements FrameServer<WebSocketFrameConnection> {
  private readonly connections = new AcceptedConnections<WebSocketFrameConnection>();
  private closing: Promise<void> | undefined = undefined;

  constructor(
    readonly wss: WebSocketServer,
    options: WebSocketFramingOptions,
  ) {
    wss.on('connection', (ws: WebSocket, request: IncomingMessage) => {
      const peer = `${request.socket.remoteAddress}:${request.socket.remotePort}`;
      this.connections.admit(new WebSocketFrameConnection(ws, peer, options));
    });
    // After listening, errors concern single handshakes, which ws answers itself.
    wss.on('error', () => undefined);
  }

  /** The port listened on (the OS's choice when `port: 0` was asked). */
  get port(): number {
    return (this.wss.address() as AddressInfo).port;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  accept(signal?: AbortSignal): Promise<WebSocketFrameConnection> {
    return this.connections.accept(signal);
  }

  [Symbol.asyncIterator](): AsyncIterator<WebSocketFrameConnection> {
    return this.connections.iterate();
  }

  /** Stops accepting, closes every connection, and closes the HTTP server if it created it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.connections.closeAll();
      await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    })();
    return this.closing;
  }
}

/** Listens for WebSocket connections on `host:port` (`port: 0` picks one; see `port`), or on an
 *  existing HTTP server; `path` restricts the upgrade URL. */
export async function listenWebSocketFrames(options: WebSocketListenOptions): Promise<WebSocketFrameServer> {
  const maxPayload = webSocketMaxPayload(options.maxFrameBytes);
  const common = { path: options.path, maxPayload, perMessageDeflate: false };
  if ('server' in options) {
    return new WebSocketFrameServer(new WebSocketServer({ ...common, server: options.server }), options);
  }
  const wss = new WebSocketServer({ ...common, host: options.host, port: options.port });
  const server = new WebSocketFrameServer(wss, options);
  try {
    await waitForEvent(wss, 'listening', { failOn: ['error'] });
  } catch (error) {
    wss.close();
    throw error;
  }
  return server;
}
