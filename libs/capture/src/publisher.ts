// Publishing captured frames to the supplier over the client-streaming Publish call. Never queues:
// at most one frame is inside grpc-js (written, not yet flushed to the socket) and one waits for
// it; a newer frame replaces the waiting one and the replaced frame counts as a local drop.
// Reconnects with backoff when the call fails or the supplier is unavailable. With a shared-memory
// ring, each frame's bytes go into the ring and the published frame carries only the reference.
import * as grpc from '@grpc/grpc-js';
import { Backoff, BackoffOptions, LONG_LIVED_CALL_CHANNEL_OPTIONS, waitForChannelReady } from '@framewire/grpc-client';
import { Frame, FrameSupplierClient, PublishRequest } from '@framewire/proto';
import type { RingFrameMeta, RingFrameRef } from '@framewire/shm';
import { CaptureLogger, CapturedFrame, silentLogger, sleep } from './frame';
import { CaptureStats, createCaptureStats } from './stats';

/** Bound on one wait for the channel to become ready before backing off. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 1_000;
/** A call that lived this long was a success: the next reconnect starts from the initial delay. */
export const DEFAULT_BACKOFF_RESET_AFTER_MS = 10_000;
/** Bound on ending the call gracefully on close before cancelling it. */
export const DEFAULT_PUBLISHER_CLOSE_TIMEOUT_MS = 2_000;
/** A supplier unreachable this long (it restarts, it stops) is warned about, once per outage. */
export const DEFAULT_UNAVAILABLE_GRACE_MS = 15_000;
/** A Publish call open this long ends an outage (one ended sooner was refused or cut at once). */
const HEALTHY_CALL_MS = 1_000;

/** Where the publisher puts frame bytes when it publishes references (FrameRingWriter is one). */
export interface FrameRingSink {
  /** Stores the frame and returns where it lies; never waits. Throws when the frame does not fit. */
  write(meta: RingFrameMeta, data: Uint8Array): RingFrameRef;
}

export interface FramePublisherOptions {
  /** host:port of the supplier. */
  address: string;
  streamId: string;
  stats?: CaptureStats;
  logger?: CaptureLogger;
  backoff?: Partial<BackoffOptions>;
  backoffResetAfterMs?: number;
  connectTimeoutMs?: number;
  /** An outage shorter than this is logged at info level only (default DEFAULT_UNAVAILABLE_GRACE_MS). */
  unavailableGraceMs?: number;
  /** TLS or plaintext (default plaintext), as the service's FW_TLS_CA says (channelCredentials). */
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Sent with every Publish call: the bearer token where the supplier has one (tokenMetadata). */
  metadata?: grpc.Metadata;
  /** Write each frame into this ring and publish its reference instead of the bytes (the caller
   *  owns the ring: creates it before and closes it after the publisher). */
  ring?: FrameRingSink;
}

type PublishCall = grpc.ClientWritableStream<PublishRequest>;

/** How a Publish call ended. */
interface CallOutcome {
  code: grpc.status;
  details: string;
}

export class FramePublisher {
  readonly stats: CaptureStats;
  private readonly client: FrameSupplierClient;
  private readonly logger: CaptureLogger;
  private readonly stopping = new AbortController();
  /** The open call, if any, and whether it can take a frame now. */
  private call: PublishCall | undefined;
  private callEnded: Promise<CallOutcome> | undefined;
  private writeInFlight = false;
  private awaitingDrain = false;
  /** The newest frame not yet written (at most one). */
  private pending: Frame | undefined;
  private sequence = 0;
  private callsOpened = 0;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: FramePublisherOptions) {
    this.stats = options.stats ?? createCaptureStats();
    this.logger = options.logger ?? silentLogger;
    this.client = new FrameSupplierClient(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
      ...LONG_LIVED_CALL_CHANNEL_OPTIONS,
      ...options.channelOptions,
    });
  }

  /** Whether a Publish call is open. */
  get connected(): boolean {
    return this.call !== undefined;
  }

  /** Frames held locally: the one grpc-js has not flushed plus the one waiting (never above 2). */
  get framesHeld(): number {
    return (this.call?.writableLength ?? 0) + (this.pending ? 1 : 0);
  }

  /** The last sequence number given out (0 before the first frame). */
  get lastSequence(): number {
    return this.sequence;
  }

  /** Starts connecting; frames published before the call opens wait (only the newest). */
  start(): void {
    this.loop ??= this.connectLoop();
  }

  /**
   * Publishes a frame without ever blocking: written now when the call can take it, otherwise kept
   * as the one waiting frame (replacing, and dropping, an older one). Returns its sequence number:
   * from 1, one per captured frame, continuing across reconnects, so gaps show local drops.
   */
  publish(frame: CapturedFrame): number {
    const sequence = ++this.sequence;
    const message: Frame = {
      streamId: this.options.streamId,
      sequence,
      captureTimeUs: frame.captureTimeUs,
      width: frame.width,
      height: frame.height,
      pixelFormat: frame.pixelFormat,
      sizeBytes: frame.data.byteLength,
    };
    const ring = this.options.ring;
    if (ring === undefined || !this.writeIntoRing(ring, message, frame.data)) {
      message.data = Buffer.isBuffer(frame.data) ? frame.data : Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
    }
    if (this.closing) {
      this.stats.localDrops++;
    } else if (this.canWrite()) {
      this.write(message);
    } else {
      if (this.pending) this.stats.localDrops++;
      this.pending = message;
    }
    return sequence;
  }

  /** Ends the call (cancelling it after `timeoutMs`), stops reconnecting and closes the channel. */
  close(timeoutMs: number = DEFAULT_PUBLISHER_CLOSE_TIMEOUT_MS): Promise<void> {
    this.closing ??= (async () => {
      this.stopping.abort();
      if (this.pending) {
        this.stats.localDrops++;
        this.pending = undefined;
      }
      const call = this.call;
      if (call && this.callEnded) {
        call.end();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
        if ((await Promise.race([this.callEnded, timedOut])) === 'timeout') call.cancel();
        clearTimeout(timer);
      }
      await this.loop;
      this.client.close();
    })();
    return this.closing;
  }

  /** Puts the bytes into the ring and the reference into `message`; false when the ring refused
   *  the frame (larger than a slot), which then travels as bytes (counted, logged once). */
  private writeIntoRing(ring: FrameRingSink, message: Frame, data: Uint8Array): boolean {
    let ref: RingFrameRef;
    try {
      ref = ring.write(message, data);
    } catch (err) {
      if (this.stats.ringFallbacks++ === 0) {
        this.logger.warn({ message: 'frame published as bytes: the ring refused it', sequence: message.sequence, bytes: data.byteLength, error: (err as Error).message }, 'FramePublisher');
      }
      return false;
    }
    message.shmRef = { ringName: ref.ringName, slot: ref.slot, slotSequence: ref.slotSequence, crc32: ref.crc32 };
    return true;
  }

  private canWrite(): boolean {
    return this.call !== undefined && !this.writeInFlight && !this.awaitingDrain;
  }

  private write(message: Frame): void {
    const call = this.call;
    if (call === undefined) throw new Error('write without an open Publish call');
    this.writeInFlight = true;
    this.stats.framesPublished++;
    // The callback comes once grpc-js handed the message to HTTP/2, which waits for the flow-control
    // window: a supplier that does not read stops the flushes, and frames then replace each other.
    const accepted = call.write({ frame: message }, () => {
      if (call !== this.call) return;
      this.writeInFlight = false;
      this.writeWaiting();
    });
    if (!accepted) this.awaitingDrain = true;
  }

  private writeWaiting(): void {
    if (this.pending && this.canWrite()) {
      const next = this.pending;
      this.pending = undefined;
      this.write(next);
    }
  }

  private async connectLoop(): Promise<void> {
    const signal = this.stopping.signal;
    const backoff = new Backoff(this.options.backoff);
    const resetAfterMs = this.options.backoffResetAfterMs ?? DEFAULT_BACKOFF_RESET_AFTER_MS;
    const graceMs = this.options.unavailableGraceMs ?? DEFAULT_UNAVAILABLE_GRACE_MS;
    // A supplier that restarts or stops (UNAVAILABLE) is an event, not a fault: logged at info; an
    // outage that outlasts the grace period is a warning, once.
    let outageSince: number | undefined;
    let outageWarned = false;
    const noteOutage = (error: string, retryInMs: number): void => {
      const now = performance.now();
      outageSince ??= now;
      if (!outageWarned && now - outageSince >= graceMs) {
        outageWarned = true;
        this.logger.warn({ message: 'supplier unavailable', address: this.options.address, forMs: Math.round(now - outageSince), error, retryInMs }, 'FramePublisher');
      }
    };
    while (!signal.aborted) {
      const ready = await waitForChannelReady(this.client, this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, signal);
      if (signal.aborted) break;
      if (ready !== undefined) {
        const delayMs = backoff.next();
        this.logger.debug?.({ message: 'supplier unavailable', address: this.options.address, error: ready.message, retryInMs: delayMs }, 'FramePublisher');
        noteOutage(ready.message, delayMs);
        await sleep(delayMs, signal).catch(() => undefined);
        continue;
      }
      if (outageSince !== undefined && outageWarned) {
        this.logger.log({ message: 'publishing again', address: this.options.address, afterMs: Math.round(performance.now() - outageSince) }, 'FramePublisher');
      }
      const openedAt = performance.now();
      const outcome = await this.openCall();
      if (signal.aborted) break;
      const livedMs = performance.now() - openedAt;
      if (livedMs >= resetAfterMs) backoff.reset();
      // A call that lived was a recovery; one ended at once (a stopping supplier) continues the outage.
      if (livedMs >= HEALTHY_CALL_MS) {
        outageSince = undefined;
        outageWarned = false;
      }
      const delayMs = backoff.next();
      const ended = { message: 'publish call ended', address: this.options.address, code: grpc.status[outcome.code], details: outcome.details, retryInMs: delayMs };
      if (outcome.code === grpc.status.UNAVAILABLE || outcome.code === grpc.status.CANCELLED) {
        this.logger.log(ended, 'FramePublisher');
        noteOutage(outcome.details, delayMs);
      } else {
        // The supplier refused the frames (a token, a limit, a bad frame): worth a warning each time.
        this.logger.warn(ended, 'FramePublisher');
      }
      await sleep(delayMs, signal).catch(() => undefined);
    }
  }

  /** Opens a Publish call, writes the waiting frame, and resolves when the call ends. */
  private openCall(): Promise<CallOutcome> {
    let call!: PublishCall;
    const ended = new Promise<CallOutcome>((resolve) => {
      call = this.client.publish(this.options.metadata ?? new grpc.Metadata(), (err, response) => {
        if (this.call === call) {
          this.call = undefined;
          this.callEnded = undefined;
        }
        resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: `supplier ended the call after ${response.framesReceived} frames` });
      });
    });
    // Errors arrive through the callback; this listener only keeps an 'error' event from throwing.
    call.on('error', () => undefined);
    call.on('drain', () => {
      if (call !== this.call) return;
      this.awaitingDrain = false;
      this.writeWaiting();
    });
    if (this.callsOpened++ > 0) this.stats.reconnects++;
    this.call = call;
    this.callEnded = ended;
    this.writeInFlight = false;
    this.awaitingDrain = false;
    this.logger.log(
      { message: 'publishing', address: this.options.address, streamId: this.options.streamId, reconnects: this.stats.reconnects, nextSequence: this.sequence + 1 },
      'FramePublisher',
    );
    this.writeWaiting();
    return ended;
  }
}
