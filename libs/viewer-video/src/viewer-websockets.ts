// The live viewer's WebSockets: /ws/video relays a stream's frames (one ViewerMessage{frame} per
// binary message, latest-frame policy through the VideoRelay, which admits only streams the
// supplier has), /ws/replay plays recorded results and frames (ViewerMessage{result} / {frame}, then
// {replay_end}). Clients send nothing.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { ViewerMessage } from '@framewire/proto';
import { DEFAULT_STALL_TIMEOUT_MS, describeStall, nowMicros, replayResults, ReplayRequestError, TransportMeter, validateReplayOptions } from '@framewire/results';
import {
  CLOSE_HANDSHAKE_TIMEOUT_MS,
  closeStalledSocket,
  parseReplayQuery,
  parseVideoQuery,
  refuseUpgrade,
  ReplayQuery,
  RequestProblem,
  truncateReason,
  WebSocketEndpoint,
  WebSocketKeepalive,
  WS_CLOSE_GOING_AWAY,
  WS_CLOSE_POLICY_VIOLATION,
} from '@framewire/http-edge';
import { RelayClient, VideoRelay, VideoRelayRefusal, VideoRelayRefusalCode } from './relay';
import { atRecordedPace, mergeByCaptureTime, recordedFrames, viewerMessageOfVideoFrame, ViewerReplayItem } from './replay';

export const WS_VIDEO_PATH = '/ws/video';
export const WS_REPLAY_PATH = '/ws/replay';
/** Video clients beyond this are refused with 503. */
export const DEFAULT_VIDEO_MAX_CLIENTS = 64;
/** Replays at once beyond this are refused with 503 (each reads archive files). */
export const DEFAULT_MAX_REPLAYS = 8;
/** A replay pauses reading the archive while its socket holds this many unsent bytes. */
export const REPLAY_MAX_BUFFERED_BYTES = 1024 * 1024;
/** Clients send nothing; anything larger than this closes them. */
const MAX_INBOUND_PAYLOAD_BYTES = 1024;
/** RFC 6455: 1000 normal closure (the replay is over), 1011 server error, 1013 try again later (the
 *  relay's subscription at the supplier failed); 1008 policy violation is websocket-upgrades'. */
const WS_CLOSE_NORMAL = 1000;
const WS_CLOSE_SERVER_ERROR = 1011;
export const WS_CLOSE_TRY_AGAIN_LATER = 1013;
/** The HTTP status that refuses a viewer the relay does not take. */
const REFUSAL_STATUS: Readonly<Record<VideoRelayRefusalCode, number>> = {
  UNKNOWN_STREAM: 404,
  TOO_MANY_STREAMS: 503,
  SOURCE_UNAVAILABLE: 503,
  RELAY_CLOSED: 503,
};
/** How often a paused replay looks at bufferedAmount again. */
const REPLAY_RECHECK_MS = 50;

interface Logger {
  warn(message: unknown, context?: string): void;
}

interface ViewerEndpointOptions {
  logger?: Logger;
  /** Pings the accepted sockets and terminates those that stop answering. */
  keepalive?: WebSocketKeepalive;
}

/** Upgrades and closes the clients of one endpoint; the subclasses decide what a client gets. */
abstract class ViewerEndpoint implements WebSocketEndpoint {
  abstract readonly path: string;
  protected readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INBOUND_PAYLOAD_BYTES, perMessageDeflate: false });
  protected readonly sockets = new Set<WebSocket>();
  private closing: Promise<void> | undefined;
  /** Upgrades being checked (an admission may wait for the supplier): they count against maxClients. */
  private pending = 0;
  protected counters = { connectionsTotal: 0, rejectedTotal: 0 };

  protected readonly logger: Logger | undefined;
  protected readonly keepalive: WebSocketKeepalive | undefined;

  constructor(
    private readonly maxClients: number,
    options: ViewerEndpointOptions,
  ) {
    this.logger = options.logger;
    this.keepalive = options.keepalive;
  }

  async upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    if (this.closing !== undefined) return this.refuse(socket, 503, 'the gateway is shutting down');
    if (this.sockets.size + this.pending >= this.maxClients) return this.refuse(socket, 503, `too many clients of ${this.path} (limit ${this.maxClients})`);
    let accept: (ws: WebSocket) => void;
    this.pending++;
    try {
      accept = await this.prepare(url);
    } catch (error) {
      if (error instanceof RequestProblem) return this.refuse(socket, error.status, error.message, error.field);
      throw error;
    } finally {
      this.pending--;
    }
    if (this.closing !== undefined) return this.refuse(socket, 503, 'the gateway is shutting down');
    // A client that gave up while it was checked: ws destroys its socket.
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      if (this.closing !== undefined) {
        ws.close(WS_CLOSE_GOING_AWAY, 'gateway shutting down');
        return;
      }
      this.counters.connectionsTotal++;
      this.sockets.add(ws);
      ws.on('error', () => undefined); // 'close' follows
      ws.on('message', () => ws.close(WS_CLOSE_POLICY_VIOLATION, `clients do not send messages on ${this.path}`));
      ws.once('close', () => this.sockets.delete(ws));
      this.keepalive?.watch(ws);
      accept(ws);
    });
  }

  /** Checks the query and what it asks for (throws RequestProblem) and returns what to do with the
   *  accepted socket. */
  protected abstract prepare(url: URL): Promise<(ws: WebSocket) => void>;

  protected abstract stopClients(): void;

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.stopClients();
      await Promise.all(
        [...this.sockets].map(async (ws) => {
          if (ws.readyState === WebSocket.CLOSED) return;
          const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
          ws.close(WS_CLOSE_GOING_AWAY, 'gateway shutting down');
          const timer = setTimeout(() => ws.terminate(), CLOSE_HANDSHAKE_TIMEOUT_MS);
          await closed;
          clearTimeout(timer);
        }),
      );
      await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    })();
    return this.closing;
  }

  private refuse(socket: Duplex, status: number, reason: string, field?: string): void {
    this.counters.rejectedTotal++;
    refuseUpgrade(socket, status, reason, field);
  }
}

export interface VideoWebSocketStats {
  clients: number;
  connectionsTotal: number;
  rejectedTotal: number;
}

/** /ws/video?stream=: the relay's frames of one stream. */
export class VideoWebSocket extends ViewerEndpoint {
  readonly path = WS_VIDEO_PATH;
  private readonly watches = new Set<RelayClient>();

  constructor(
    private readonly relay: VideoRelay,
    options: { maxClients?: number } & ViewerEndpointOptions = {},
  ) {
    super(options.maxClients ?? DEFAULT_VIDEO_MAX_CLIENTS, options);
  }

  stats(): VideoWebSocketStats {
    return { clients: this.sockets.size, ...this.counters };
  }

  protected async prepare(url: URL): Promise<(ws: WebSocket) => void> {
    const { streamId } = parseVideoQuery(url.searchParams);
    try {
      // Only a stream the supplier has: a subscription to another would create it there.
      await this.relay.admit(streamId);
    } catch (error) {
      if (error instanceof VideoRelayRefusal) throw new RequestProblem('stream', error.message, REFUSAL_STATUS[error.code]);
      throw error;
    }
    return (ws) => {
      let watch: RelayClient;
      try {
        watch = this.relay.watch(streamId, {
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
          send: (message, written) => {
            if (ws.readyState !== WebSocket.OPEN) return written(new Error('socket closed'));
            ws.send(message, { binary: true }, (error) => {
              if (!error) this.keepalive?.alive(ws);
              written(error ?? undefined);
            });
          },
          close: (reason) => ws.close(WS_CLOSE_TRY_AGAIN_LATER, truncateReason(reason)),
        });
      } catch (error) {
        // Another viewer took the last stream the relay may serve since this one was admitted.
        if (!(error instanceof VideoRelayRefusal)) throw error;
        ws.close(WS_CLOSE_TRY_AGAIN_LATER, truncateReason(error.message));
        return;
      }
      this.watches.add(watch);
      ws.once('close', () => {
        watch.close();
        this.watches.delete(watch);
      });
    };
  }

  protected stopClients(): void {
    for (const w of this.watches) w.close();
    this.watches.clear();
  }
}

export interface ReplayWebSocketStats {
  replays: number;
  replaysTotal: number;
  rejectedTotal: number;
  resultsSentTotal: number;
  framesSentTotal: number;
  /** Replays closed because their client read nothing for the stall timeout. */
  stalledTotal: number;
}

/** /ws/replay?stream=&from=&to=&kind=&video=&pace=: recorded results (and frames), then the end. */
export class ReplayWebSocket extends ViewerEndpoint {
  readonly path = WS_REPLAY_PATH;
  private readonly aborts = new Set<AbortController>();
  private sent = { results: 0, frames: 0 };
  private stalledTotal = 0;
  private readonly stallTimeoutMs: number;

  constructor(
    private readonly archive: { resultsDirectory: string; framesDirectory: string | undefined },
    options: { maxReplays?: number; stallTimeoutMs?: number } & ViewerEndpointOptions = {},
  ) {
    super(options.maxReplays ?? DEFAULT_MAX_REPLAYS, options);
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  }

  stats(): ReplayWebSocketStats {
    return {
      replays: this.sockets.size,
      replaysTotal: this.counters.connectionsTotal,
      rejectedTotal: this.counters.rejectedTotal,
      resultsSentTotal: this.sent.results,
      framesSentTotal: this.sent.frames,
      stalledTotal: this.stalledTotal,
    };
  }

  protected async prepare(url: URL): Promise<(ws: WebSocket) => void> {
    const query = parseReplayQuery(url.searchParams);
    try {
      validateReplayOptions({ directory: this.archive.resultsDirectory, streamId: query.streamId, kinds: query.kinds });
    } catch (error) {
      if (error instanceof ReplayRequestError) throw new RequestProblem(error.field === 'stream_id' ? 'stream' : error.field, error.message);
      throw error;
    }
    return (ws) => {
      const abort = new AbortController();
      this.aborts.add(abort);
      ws.once('close', () => abort.abort());
      void this.play(ws, query, abort.signal).finally(() => this.aborts.delete(abort));
    };
  }

  protected stopClients(): void {
    for (const a of this.aborts) a.abort();
  }

  private async play(ws: WebSocket, query: ReplayQuery, signal: AbortSignal): Promise<void> {
    let results = 0;
    let frames = 0;
    let error = '';
    try {
      const recorded = replayResults({
        directory: this.archive.resultsDirectory,
        streamId: query.streamId,
        kinds: query.kinds,
        fromTimeUs: query.fromTimeUs,
        toTimeUs: query.toTimeUs,
        signal,
      });
      const framesDirectory = this.archive.framesDirectory;
      const video =
        query.video && framesDirectory !== undefined
          ? recordedFrames({ directory: framesDirectory, streamId: query.streamId, fromTimeUs: query.fromTimeUs, toTimeUs: query.toTimeUs, signal })
          : undefined;
      const merged = mergeByCaptureTime(recorded, video);
      const items: AsyncIterable<ViewerReplayItem> = query.recordedPace ? atRecordedPace(merged, signal) : merged;
      // What the socket holds, and since when it has taken nothing (the stall timeout).
      const meter = new TransportMeter(nowMicros);
      for await (const item of items) {
        if (signal.aborted || ws.readyState !== WebSocket.OPEN) return;
        // Backpressure, not drops: a replay reads files, so it simply reads no further until the
        // socket has room; a client that takes nothing for the stall timeout is closed.
        while (ws.bufferedAmount >= REPLAY_MAX_BUFFERED_BYTES && !signal.aborted) {
          const stalledMs = meter.stalledForUs() / 1000;
          if (stalledMs >= this.stallTimeoutMs) {
            const reason = describeStall('replay', stalledMs, meter.bytes);
            this.stalledTotal++;
            this.logger?.warn({ message: 'replay client closed', stream: query.streamId, reason }, 'ReplayWebSocket');
            closeStalledSocket(ws, reason);
            return;
          }
          await new Promise((r) => setTimeout(r, REPLAY_RECHECK_MS));
        }
        const message = item.kind === 'result' ? ViewerMessage.encode({ result: item.result }).finish() : viewerMessageOfVideoFrame(item.videoFrame);
        meter.hold(message.length);
        ws.send(message, { binary: true }, (failure) => {
          meter.handedOn(message.length);
          if (!failure) this.keepalive?.alive(ws);
        });
        if (item.kind === 'result') {
          results++;
          this.sent.results++;
        } else {
          frames++;
          this.sent.frames++;
        }
      }
    } catch (failure) {
      if (signal.aborted) return;
      error = (failure as Error).message ?? String(failure);
      this.logger?.warn({ message: 'replay failed', stream: query.streamId, error }, 'ReplayWebSocket');
    }
    if (signal.aborted || ws.readyState !== WebSocket.OPEN) return;
    ws.send(ViewerMessage.encode({ replayEnd: { resultsSent: results, framesSent: frames, error } }).finish(), { binary: true });
    ws.close(error === '' ? WS_CLOSE_NORMAL : WS_CLOSE_SERVER_ERROR, error === '' ? 'replay finished' : 'replay failed');
  }
}

