// Clients that stop reading, for tests of what a stalled subscriber costs the gateway: a
// SubscribeResults call over bare HTTP/2 whose response is never read (only HTTP/2's 64 KiB
// flow-control window takes anything off the server; a grpc-js client would buffer 16 messages of
// its own), and a /ws client whose socket is paused. Each reports how the gateway ended it.
import { connect as connectHttp2, constants as http2Constants } from 'node:http2';
import WebSocket from 'ws';

/** How the gateway ended a stalled SubscribeResults call: RST_STREAM's code, or the trailers' status. */
export interface StalledCallEnd {
  rstCode?: number;
  grpcStatus?: number;
  grpcMessage?: string;
}

export interface StalledSubscribeResults {
  /** Settles when the server ended the call (never rejects). */
  ended: Promise<StalledCallEnd>;
  /** Starts reading again: the rest of the response, the trailers included, can arrive. */
  resume(): void;
  close(): void;
}

/** Five bytes: an uncompressed gRPC message of length 0, the empty SubscribeResultsRequest (everything). */
const EMPTY_GRPC_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

/** A SubscribeResults call for every result on `address` (host:port), on its own connection, that reads nothing. */
export function stalledSubscribeResults(address: string): StalledSubscribeResults {
  const session = connectHttp2(`http://${address}`);
  session.on('error', () => undefined);
  const stream = session.request({ ':method': 'POST', ':path': '/framewire.v1.ResultHub/SubscribeResults', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  stream.pause();
  stream.end(EMPTY_GRPC_MESSAGE);
  const end: StalledCallEnd = {};
  stream.on('trailers', (trailers) => {
    end.grpcStatus = Number(trailers['grpc-status']);
    end.grpcMessage = decodeURIComponent(String(trailers['grpc-message'] ?? ''));
  });
  const ended = new Promise<StalledCallEnd>((resolve) =>
    stream.once('close', () => {
      if (stream.rstCode !== undefined && stream.rstCode !== http2Constants.NGHTTP2_NO_ERROR) end.rstCode = stream.rstCode;
      resolve(end);
    }),
  );
  return {
    ended,
    resume: () => {
      stream.on('data', () => undefined);
      stream.resume();
    },
    close: () => {
      if (!stream.closed) stream.close(http2Constants.NGHTTP2_CANCEL);
      session.destroy();
    },
  };
}

/** How the gateway closed a WebSocket: the close frame's code and reason (1006 and '' without one). */
export interface WebSocketEnd {
  code: number;
  reason: string;
}

export interface StalledWebSocket {
  socket: WebSocket;
  opened: Promise<void>;
  /** Settles when the socket closed (never rejects). */
  ended: Promise<WebSocketEnd>;
  /** Reads again: what the socket holds arrives, then the close frame if one was sent. */
  resume(): void;
  close(): void;
}

/** A WebSocket client of `url` (ws://…) that stops reading once open: its socket is paused, so it
 *  neither takes messages nor answers pings (a frozen tab, a dead peer). */
export function stalledWebSocket(url: string): StalledWebSocket {
  const socket = new WebSocket(url);
  socket.on('error', () => undefined);
  const raw = (): { pause(): void; resume(): void } => (socket as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => {
      raw().pause();
      resolve();
    });
    socket.once('error', reject);
  });
  const ended = new Promise<WebSocketEnd>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { socket, opened, ended, resume: () => raw().resume(), close: () => socket.terminate() };
}
