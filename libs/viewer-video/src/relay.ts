// The gateway's video relay for the live viewer: per stream one frame subscription at the supplier
// (taken like a worker takes frames, one credit per frame, paced to the display rate), the newest
// frame encoded once as a ViewerMessage, and a latest-frame slot per client. A client is sent a
// frame only while its socket holds little unsent data; otherwise its slot is overwritten (a counted
// drop). Nothing queues: per client the relay holds at most one frame reference plus the socket's
// low-water mark of unsent bytes. What clients can make it hold is bounded too: only streams the
// source lists are admitted, at most maxWatchedStreams of them, and a stream whose subscription
// failed is forgotten at once (its clients are closed and may come back).
import { Frame, PixelFormat, VideoFrame, ViewerMessage } from '@framewire/proto';

/** Frames per second relayed to browsers unless configured otherwise. */
export const DEFAULT_DISPLAY_FPS = 15;
export const MAX_DISPLAY_FPS = 60;
/** A client is sent the next frame only while its socket holds fewer unsent bytes than this. */
export const DEFAULT_CLIENT_MAX_BUFFERED_BYTES = 64 * 1024;
/** A stream nobody watches (and nobody records) keeps its supplier subscription this long, so a
 *  page reload does not resubscribe. */
export const DEFAULT_IDLE_UNSUBSCRIBE_MS = 5_000;
/** Streams clients may make the relay subscribe to at once (idle ones count until let go; streams
 *  retained for recording do not). Each is a worker slot at the supplier. */
export const DEFAULT_MAX_WATCHED_STREAMS = 16;
/** The relay subscribes at the supplier as worker `gateway-viewer:<stream>` (health leaves these out). */
export const VIEWER_RELAY_WORKER_PREFIX = 'gateway-viewer:';

export function viewerRelayWorkerId(streamId: string): string {
  return `${VIEWER_RELAY_WORKER_PREFIX}${streamId}`;
}

export function isViewerRelayWorker(workerId: string): boolean {
  return workerId.startsWith(VIEWER_RELAY_WORKER_PREFIX);
}

/** How often a client whose socket was full is looked at again when no write completes. */
const BLOCKED_RECHECK_MS = 250;
/** Protobuf tag of ViewerMessage.frame (field 1, length-delimited). */
const VIEWER_MESSAGE_FRAME_TAG_BYTES = 1;

/** A frame as the relay receives it from its source (a supplier subscription in the gateway). */
export interface SourceFrame {
  frame: Frame;
  /** Frames the relay's subscription missed since its previous delivery. */
  droppedSinceLast: number;
  /** When the relay received it, µs since the Unix epoch. */
  receivedTimeUs: number;
}

/** Opens the frames of one stream; the iteration ends when `signal` aborts. Each `next()` is one
 *  request for the newest frame (the relay asks only when it is ready to send one). */
export type OpenFrameSource = (streamId: string, signal: AbortSignal) => AsyncIterable<SourceFrame>;

/** A frame ready to send: the ViewerMessage bytes, shared by every client, never modified. */
export interface RelayedFrame {
  streamId: string;
  sequence: number;
  captureTimeUs: number;
  /** Counts the frames the relay took on this stream, from 1. */
  relaySequence: number;
  /** ViewerMessage{frame} bytes as sent on /ws/video. */
  message: Uint8Array;
  /** The VideoFrame inside `message` (a view), as the frame archive stores it. */
  videoFrame: Uint8Array;
}

/** What the relay needs of a client's socket (a ws WebSocket in the gateway). */
export interface RelayClientSocket {
  readonly bufferedAmount: number;
  /** `written` is called once the bytes left the process (or the send failed). */
  send(message: Uint8Array, written: (error?: Error) => void): void;
  /** The relay stops serving this client: its stream's subscription failed or ended. The client may
   *  watch again (a new subscription is made). */
  close(reason: string): void;
}

export interface RelayClientStats {
  streamId: string;
  sent: number;
  /** Frames replaced in this client's slot before they could be sent (its socket was full). */
  dropped: number;
  bufferedAmount: number;
  /** Bytes the relay holds for this client: its socket's unsent bytes plus a waiting frame. */
  heldBytes: number;
  /** Largest heldBytes seen. */
  maxHeldBytes: number;
}

export interface RelayStreamStats {
  streamId: string;
  clients: number;
  framesRelayed: number;
  /** Frames the relay did not take (the display rate skipped them, or the supplier overwrote them). */
  framesSkipped: number;
  lastSequence: number;
  /** Age of the last frame when the relay received it, ms. */
  lastAgeMs: number;
  subscribed: boolean;
  recorded: boolean;
}

export interface VideoRelayStats {
  clients: number;
  streams: RelayStreamStats[];
  clientDetails: RelayClientStats[];
  framesSentTotal: number;
  /** Frames dropped for slow clients, over every client ever. */
  clientDropsTotal: number;
  sourceErrors: number;
}

export interface VideoRelayOptions {
  openFrames: OpenFrameSource;
  /** The streams the source has. Given, admit() refuses any other stream, so a client cannot make
   *  the source create one (the supplier creates the stream a subscription names). */
  listStreams?: () => Promise<readonly string[]>;
  maxWatchedStreams?: number;
  displayFps?: number;
  clientMaxBufferedBytes?: number;
  idleUnsubscribeMs?: number;
  /** Sees every relayed frame, synchronously (the frame recorder). Must not throw. */
  onFrame?: (frame: RelayedFrame) => void;
  logger?: { warn(message: string): void };
}

export class VideoRelayConfigError extends Error {
  readonly code = 'VIDEO_RELAY_CONFIG_INVALID';
}

/** Why the relay does not take a client of a stream: the source does not have the stream, the
 *  watched streams are at their bound, the source's streams cannot be listed, or the relay closed. */
export type VideoRelayRefusalCode = 'UNKNOWN_STREAM' | 'TOO_MANY_STREAMS' | 'SOURCE_UNAVAILABLE' | 'RELAY_CLOSED';

export class VideoRelayRefusal extends Error {
  constructor(
    readonly code: VideoRelayRefusalCode,
    readonly streamId: string,
    message: string,
  ) {
    super(message);
    this.name = 'VideoRelayRefusal';
  }
}

interface ClientState {
  socket: RelayClientSocket;
  stream: StreamState;
  /** The newest frame not yet sent to this client (its latest-frame slot). */
  waiting: RelayedFrame | undefined;
  writing: boolean;
  recheck: NodeJS.Timeout | undefined;
  sent: number;
  dropped: number;
  maxHeldBytes: number;
  closed: boolean;
}

interface StreamState {
  streamId: string;
  clients: Set<ClientState>;
  /** Reasons other than clients to stay subscribed (recording). */
  retained: boolean;
  abort: AbortController | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  latest: RelayedFrame | undefined;
  framesRelayed: number;
  framesSkipped: number;
  lastAgeMs: number;
}

/** A subscription of one client to one stream's frames. */
export interface RelayClient {
  readonly streamId: string;
  /** The relay stops sending; the stream unsubscribes after the idle delay when nobody is left. */
  close(): void;
}

/** Encodes a supplier frame as the ViewerMessage clients receive; `videoFrame` is the view the
 *  frame archive stores (the same bytes without the ViewerMessage tag and length). */
export function encodeRelayedFrame(source: SourceFrame, relaySequence: number): RelayedFrame {
  const f = source.frame;
  const frame: VideoFrame = {
    streamId: f.streamId,
    sequence: f.sequence,
    captureTimeUs: f.captureTimeUs,
    width: f.width,
    height: f.height,
    jpeg: f.data ?? Buffer.alloc(0),
    droppedBeforeRelay: source.droppedSinceLast,
    relayReceivedTimeUs: Math.round(source.receivedTimeUs),
    relaySequence,
  };
  const message = ViewerMessage.encode({ frame }).finish();
  // tag, then the varint length of the VideoFrame, then the VideoFrame.
  let header = VIEWER_MESSAGE_FRAME_TAG_BYTES;
  while (message[header] & 0x80) header++;
  header++;
  return { streamId: f.streamId, sequence: f.sequence, captureTimeUs: f.captureTimeUs, relaySequence, message, videoFrame: message.subarray(header) };
}

/**
 * The relay. `watch(streamId, socket)` adds a client; `retain(streamId)` keeps a stream subscribed
 * without clients (frame recording). `close()` ends every subscription.
 */
export class VideoRelay {
  private readonly streams = new Map<string, StreamState>();
  private readonly openFrames: OpenFrameSource;
  private readonly frameIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly idleUnsubscribeMs: number;
  private readonly maxWatchedStreams: number;
  private readonly listStreams: (() => Promise<readonly string[]>) | undefined;
  private readonly onFrame: ((frame: RelayedFrame) => void) | undefined;
  private readonly logger: { warn(message: string): void } | undefined;
  private closed = false;
  private counters = { framesSentTotal: 0, dropsOfClosed: 0, sourceErrors: 0 };

  constructor(options: VideoRelayOptions) {
    const fps = options.displayFps ?? DEFAULT_DISPLAY_FPS;
    if (!(fps > 0 && fps <= MAX_DISPLAY_FPS)) throw new VideoRelayConfigError(`displayFps must be in (0, ${MAX_DISPLAY_FPS}], got ${fps}`);
    this.maxBuffered = options.clientMaxBufferedBytes ?? DEFAULT_CLIENT_MAX_BUFFERED_BYTES;
    this.idleUnsubscribeMs = options.idleUnsubscribeMs ?? DEFAULT_IDLE_UNSUBSCRIBE_MS;
    this.maxWatchedStreams = options.maxWatchedStreams ?? DEFAULT_MAX_WATCHED_STREAMS;
    for (const [name, value] of [['clientMaxBufferedBytes', this.maxBuffered], ['idleUnsubscribeMs', this.idleUnsubscribeMs]] as const) {
      if (!(Number.isSafeInteger(value) && value >= 0)) throw new VideoRelayConfigError(`${name} must be a non-negative integer, got ${value}`);
    }
    if (!(Number.isSafeInteger(this.maxWatchedStreams) && this.maxWatchedStreams >= 1)) {
      throw new VideoRelayConfigError(`maxWatchedStreams must be a positive integer, got ${this.maxWatchedStreams}`);
    }
    this.openFrames = options.openFrames;
    this.listStreams = options.listStreams;
    this.frameIntervalMs = 1000 / fps;
    this.onFrame = options.onFrame;
    this.logger = options.logger;
  }

  /**
   * Checks, before a client is accepted, that `streamId` may be watched: the source lists it and the
   * bound on watched streams leaves room. Rejects with VideoRelayRefusal. watch() checks the bound
   * again (another client may have taken the room meanwhile).
   */
  async admit(streamId: string): Promise<void> {
    this.checkRoom(streamId);
    if (this.listStreams === undefined) return;
    let streams: readonly string[];
    try {
      streams = await this.listStreams();
    } catch (error) {
      throw new VideoRelayRefusal('SOURCE_UNAVAILABLE', streamId, `cannot check stream ${JSON.stringify(streamId)}: the source's streams are unavailable (${(error as Error).message})`);
    }
    if (!streams.includes(streamId)) {
      throw new VideoRelayRefusal('UNKNOWN_STREAM', streamId, `no stream ${JSON.stringify(streamId)} at the source (it has ${streams.length} streams)`);
    }
    this.checkRoom(streamId);
  }

  /** Starts sending `streamId`'s frames to `socket` (the newest one at once, when there is one).
   *  Throws VideoRelayRefusal when closed or when the stream would exceed the bound. */
  watch(streamId: string, socket: RelayClientSocket): RelayClient {
    this.checkRoom(streamId);
    const stream = this.streamState(streamId);
    const client: ClientState = { socket, stream, waiting: undefined, writing: false, recheck: undefined, sent: 0, dropped: 0, maxHeldBytes: 0, closed: false };
    stream.clients.add(client);
    this.ensureSubscribed(stream);
    if (stream.latest !== undefined) this.offer(client, stream.latest);
    return { streamId, close: () => this.removeClient(client) };
  }

  /** Keeps `streamId` subscribed with or without clients (`false` lets it go when idle). Retained
   *  streams (the gateway's own, for recording) are not bounded by maxWatchedStreams. */
  retain(streamId: string, retained = true): void {
    if (this.closed || (!retained && !this.streams.has(streamId))) return;
    const stream = this.streamState(streamId);
    stream.retained = retained;
    if (retained) this.ensureSubscribed(stream);
    else this.scheduleIdle(stream);
  }

  /** The streams the relay holds a supplier subscription for. */
  subscribedStreams(): string[] {
    return [...this.streams.values()].filter((s) => s.abort !== undefined).map((s) => s.streamId);
  }

  stats(): VideoRelayStats {
    const clientDetails: RelayClientStats[] = [];
    let drops = this.counters.dropsOfClosed;
    for (const s of this.streams.values()) {
      for (const c of s.clients) {
        drops += c.dropped;
        clientDetails.push({
          streamId: s.streamId,
          sent: c.sent,
          dropped: c.dropped,
          bufferedAmount: c.socket.bufferedAmount,
          heldBytes: heldBytes(c),
          maxHeldBytes: c.maxHeldBytes,
        });
      }
    }
    return {
      clients: clientDetails.length,
      streams: [...this.streams.values()].map((s) => ({
        streamId: s.streamId,
        clients: s.clients.size,
        framesRelayed: s.framesRelayed,
        framesSkipped: s.framesSkipped,
        lastSequence: s.latest?.sequence ?? 0,
        lastAgeMs: s.lastAgeMs,
        subscribed: s.abort !== undefined,
        recorded: s.retained,
      })),
      clientDetails,
      framesSentTotal: this.counters.framesSentTotal,
      clientDropsTotal: drops,
      sourceErrors: this.counters.sourceErrors,
    };
  }

  /** Ends every supplier subscription and forgets every client. Idempotent. */
  close(): void {
    this.closed = true;
    for (const s of this.streams.values()) {
      for (const c of [...s.clients]) this.removeClient(c);
      clearTimeout(s.idleTimer);
      s.abort?.abort();
      s.abort = undefined;
    }
    this.streams.clear();
  }

  /** Throws unless a client of `streamId` can be taken: the relay is open, and the stream is held
   *  already or the streams held for clients are below the bound. */
  private checkRoom(streamId: string): void {
    if (this.closed) throw new VideoRelayRefusal('RELAY_CLOSED', streamId, 'the video relay is closed');
    if (this.streams.has(streamId)) return;
    let watched = 0;
    for (const s of this.streams.values()) if (!s.retained) watched++;
    if (watched >= this.maxWatchedStreams) {
      throw new VideoRelayRefusal(
        'TOO_MANY_STREAMS',
        streamId,
        `the video relay serves at most ${this.maxWatchedStreams} streams at once; stream ${JSON.stringify(streamId)} would be one more`,
      );
    }
  }

  private streamState(streamId: string): StreamState {
    let stream = this.streams.get(streamId);
    if (stream === undefined) {
      stream = { streamId, clients: new Set(), retained: false, abort: undefined, idleTimer: undefined, latest: undefined, framesRelayed: 0, framesSkipped: 0, lastAgeMs: Number.NaN };
      this.streams.set(streamId, stream);
    }
    return stream;
  }

  private ensureSubscribed(stream: StreamState): void {
    clearTimeout(stream.idleTimer);
    stream.idleTimer = undefined;
    if (stream.abort !== undefined) return;
    const abort = new AbortController();
    stream.abort = abort;
    void this.pump(stream, abort.signal).then(
      () => {
        if (!abort.signal.aborted) this.forgetStream(stream, abort, 'the video source ended');
      },
      (error: unknown) => {
        this.counters.sourceErrors++;
        this.logger?.warn(`video relay of stream ${stream.streamId} stopped: ${(error as Error).message ?? String(error)}`);
        this.forgetStream(stream, abort, 'the video source failed');
      },
    );
  }

  /** The subscription `abort` of `stream` ended without being asked to: nothing of the stream is
   *  kept (no dead entry), and its clients are closed so that they can come back to a new one. A
   *  retained stream is retained again by its owner (the recorder's discovery). */
  private forgetStream(stream: StreamState, abort: AbortController, reason: string): void {
    if (stream.abort !== abort) return;
    stream.abort = undefined;
    clearTimeout(stream.idleTimer);
    stream.idleTimer = undefined;
    stream.latest = undefined;
    if (this.streams.get(stream.streamId) === stream) this.streams.delete(stream.streamId);
    for (const client of [...stream.clients]) {
      this.removeClient(client);
      client.socket.close(reason);
    }
  }

  private scheduleIdle(stream: StreamState): void {
    if (stream.clients.size > 0 || stream.retained || stream.abort === undefined || stream.idleTimer !== undefined) return;
    stream.idleTimer = setTimeout(() => {
      stream.idleTimer = undefined;
      if (stream.clients.size > 0 || stream.retained) return;
      stream.abort?.abort();
      stream.abort = undefined;
      stream.latest = undefined;
      if (this.streams.get(stream.streamId) === stream) this.streams.delete(stream.streamId);
    }, this.idleUnsubscribeMs);
    stream.idleTimer.unref?.();
  }

  /** Takes one frame per display interval, the newest at that moment, and offers it to every client. */
  private async pump(stream: StreamState, signal: AbortSignal): Promise<void> {
    const frames = this.openFrames(stream.streamId, signal)[Symbol.asyncIterator]();
    let due = 0;
    try {
      while (!signal.aborted) {
        const wait = due - performance.now();
        if (wait > 0) await abortableSleep(wait, signal);
        if (signal.aborted) return;
        const next = await frames.next();
        if (next.done || signal.aborted) return;
        // Pace from when the frame arrived: the supplier's publish rate may be below the display rate.
        due = Math.max(due + this.frameIntervalMs, performance.now());
        this.relay(stream, next.value);
      }
    } finally {
      await frames.return?.();
    }
  }

  private relay(stream: StreamState, source: SourceFrame): void {
    if (source.frame.pixelFormat !== PixelFormat.PIXEL_FORMAT_JPEG || source.frame.data === undefined) {
      stream.framesSkipped += 1 + source.droppedSinceLast;
      return;
    }
    stream.framesRelayed++;
    stream.framesSkipped += source.droppedSinceLast;
    stream.lastAgeMs = (source.receivedTimeUs - source.frame.captureTimeUs) / 1000;
    const frame = encodeRelayedFrame(source, stream.framesRelayed);
    stream.latest = frame;
    try {
      this.onFrame?.(frame);
    } catch (error) {
      this.logger?.warn(`video frame tap failed: ${(error as Error).message}`);
    }
    for (const client of stream.clients) this.offer(client, frame);
  }

  /** Sends `frame` now if the client's socket has room, else puts it in the client's slot. */
  private offer(client: ClientState, frame: RelayedFrame): void {
    if (client.closed) return;
    if (client.waiting !== undefined && client.waiting !== frame) client.dropped++;
    client.waiting = frame;
    client.maxHeldBytes = Math.max(client.maxHeldBytes, heldBytes(client));
    this.flush(client);
  }

  private flush(client: ClientState): void {
    if (client.closed || client.writing || client.waiting === undefined) return;
    if (client.socket.bufferedAmount >= this.maxBuffered) {
      // Full: the frame waits in the slot (a newer one replaces it) until a write completes or
      // the recheck finds room.
      if (client.recheck === undefined) {
        client.recheck = setTimeout(() => {
          client.recheck = undefined;
          this.flush(client);
        }, BLOCKED_RECHECK_MS);
      }
      return;
    }
    const frame = client.waiting;
    client.waiting = undefined;
    client.writing = true;
    client.sent++;
    this.counters.framesSentTotal++;
    client.socket.send(frame.message, (error) => {
      client.writing = false;
      if (error !== undefined) {
        this.removeClient(client);
        return;
      }
      this.flush(client);
    });
    client.maxHeldBytes = Math.max(client.maxHeldBytes, heldBytes(client));
  }

  private removeClient(client: ClientState): void {
    if (client.closed) return;
    client.closed = true;
    client.waiting = undefined;
    clearTimeout(client.recheck);
    client.recheck = undefined;
    if (client.stream.clients.delete(client)) this.counters.dropsOfClosed += client.dropped;
    this.scheduleIdle(client.stream);
  }
}

function heldBytes(client: ClientState): number {
  return client.socket.bufferedAmount + (client.waiting?.message.length ?? 0);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
