// The frame supplier's core: streams with their inboxes, worker subscriptions with their mailboxes,
// publish with synchronous fan-out, statistics. Plain classes with explicit state; no transport.
import type { Frame } from '@framewire/proto';
import { LatestSlot } from '@framewire/mailbox';
import { InvalidRequestError, SubscriptionEndedError, SubscriptionEndReason, SupplierLimitError, SupplierStoppedError } from './errors';
import { DEFAULT_RATE_WINDOW_MS, SlidingRate } from './publish-rate';
import { OpenRingReader, SharedMemoryFrames } from './shared-memory';
import { checkFrame, checkId, checkRingTokens } from './validation';

/** A worker that took no frame for this long is reported idle. */
export const DEFAULT_IDLE_AFTER_MS = 30_000;
const UINT32_MAX = 0xffff_ffff;

/** Wall-clock milliseconds since the Unix epoch, with sub-millisecond precision. */
export const wallClockMs = (): number => performance.timeOrigin + performance.now();

export interface FrameSupplierOptions {
  maxWorkers: number;
  maxStreams: number;
  maxFrameBytes: number;
  idleAfterMs?: number;
  rateWindowMs?: number;
  /** Wall-clock milliseconds (tests pass a fake clock). */
  now?: () => number;
  /** Opens a shared-memory ring named by a published reference (the app passes FrameRingReader.open).
   *  Without it the supplier opens no ring: no worker can prove one, and every referenced frame is
   *  a counted drop. */
  openRingReader?: OpenRingReader;
  /** Called once per failed ring open. */
  onRingOpenError?: (ringName: string, error: Error) => void;
}

/** The limits that may change while the supplier runs (setLimits). */
export interface SupplierLimits {
  maxWorkers: number;
  maxStreams: number;
  idleAfterMs: number;
}

/** What a worker asks for when it subscribes (the fields of framewire.v1.SubscribeRequest). */
export interface SubscribeOptions {
  workerId: string;
  streamId: string;
  /** Receive shared-memory references rather than bytes, into the rings whose tokens it proved. */
  preferSharedMemory?: boolean;
  /** Tokens the worker read from the header of each ring it could open. */
  shmRingTokens?: readonly string[];
}

/** A ring the frames of a stream travel in (the shape of framewire.v1.RingInfo). */
export interface StreamRing {
  ringName: string;
  streamId: string;
}

/** One frame handed to one worker (the shape of framewire.v1.Delivery). */
export interface FrameDelivery {
  frame: Frame;
  /** Frames the worker missed since its previous delivery. */
  droppedSinceLast: number;
  /** Microseconds since the Unix epoch. */
  sentTimeUs: number;
}

export interface StreamStatsSnapshot {
  streamId: string;
  framesPublished: number;
  inboxDrops: number;
  publishRateFps: number;
  lastSequence: number;
  subscribers: number;
  publishers: number;
  /** False once the last publisher left; workers stay subscribed and wait for a new one. */
  active: boolean;
}

export interface WorkerStatsSnapshot {
  workerId: string;
  streamId: string;
  lastSequence: number;
  lastDeliveryTimeUs: number;
  framesDelivered: number;
  dropsTotal: number;
  dropsConsecutive: number;
  idle: boolean;
  lastDeliveryAgeUs: number;
  sharedMemory: boolean;
}

export interface SupplierStatsSnapshot {
  streams: StreamStatsSnapshot[];
  workers: WorkerStatsSnapshot[];
}

/** One stream (camera): its inbox and the subscriptions it fans out to. */
interface StreamState {
  readonly streamId: string;
  readonly inbox: LatestSlot<Frame>;
  readonly rate: SlidingRate;
  readonly subscriptions: Subscription[];
  /** Rings named by references published to this stream. */
  readonly ringNames: string[];
  publishers: number;
  framesPublished: number;
  lastSequence: number;
}

/**
 * One worker's subscription to one stream: its mailbox holds the newest frame it has not taken.
 * Ends (its `signal` aborts, `endReason` says why) when the worker leaves, when the same worker id
 * subscribes again, or when the supplier stops.
 *
 * A frame whose bytes are in shared memory goes to the worker as the reference when the worker
 * asked for references and proved the ring (presented the token the supplier reads from it);
 * otherwise as bytes, read once per frame for all such workers. A frame whose bytes cannot be read
 * (overwritten, checksum) is skipped and counted as a drop.
 */
export class Subscription {
  readonly mailbox: LatestSlot<Frame>;
  readonly subscribedAtMs: number;
  lastSequence = 0;
  lastDeliveryTimeUs = 0;
  lastDeliveryAgeUs = 0;
  lastDeliveredFromSharedMemory = false;
  /** Frames taken from the mailbox but skipped because their bytes could not be read from the ring. */
  unreadableDrops = 0;
  /** Drops not yet reported in a delivery's droppedSinceLast (skipped frames and what the mailbox
   *  dropped before them). */
  private pendingDrops = 0;
  private readonly ending = new AbortController();
  private ended: SubscriptionEndedError | undefined = undefined;

  constructor(
    readonly workerId: string,
    readonly streamId: string,
    private readonly now: () => number,
    private readonly onEnd: (subscription: Subscription) => void,
    private readonly sharedMemory: SharedMemoryFrames,
    /** Tokens of the rings the worker proved; empty when it did not ask for references. */
    private readonly provenTokens: ReadonlySet<string> = new Set(),
  ) {
    this.mailbox = new LatestSlot<Frame>(now);
    this.subscribedAtMs = now();
  }

  /** Whether this worker receives references into `ringName` (else bytes). */
  receivesReferencesTo(ringName: string): boolean {
    if (this.provenTokens.size === 0) return false;
    const token = this.sharedMemory.tokenOf(ringName);
    return token !== undefined && this.provenTokens.has(token);
  }

  /** Drops of this worker: overwritten in its mailbox, or unreadable from the ring. */
  get dropsTotal(): number {
    return this.mailbox.dropsTotal + this.unreadableDrops;
  }

  get dropsConsecutive(): number {
    return this.mailbox.dropsConsecutive + this.pendingDrops;
  }

  /** Aborts when the subscription ends; its reason is the SubscriptionEndedError. */
  get signal(): AbortSignal {
    return this.ending.signal;
  }

  get endReason(): SubscriptionEndedError | undefined {
    return this.ended;
  }

  get framesDelivered(): number {
    return this.mailbox.takes - this.unreadableDrops;
  }

  /** Resolves when a frame waits in the mailbox; rejects with the SubscriptionEndedError when it ends. */
  waitForFrame(): Promise<void> {
    return this.mailbox.waitForValue(this.ending.signal);
  }

  /** Takes the newest frame, if any, and records the delivery (undefined also when the frame was
   *  skipped because its bytes could not be read: the caller waits for the next one). */
  takeDelivery(): FrameDelivery | undefined {
    const mailboxDrops = this.mailbox.dropsConsecutive;
    let frame = this.mailbox.take();
    if (frame === undefined) return undefined;
    const shmRef = frame.shmRef;
    if (shmRef !== undefined && frame.data === undefined && !this.receivesReferencesTo(shmRef.ringName)) {
      const bytes = this.sharedMemory.bytesFrame(frame);
      if (typeof bytes === 'string') {
        this.unreadableDrops++;
        this.pendingDrops += mailboxDrops + 1;
        return undefined;
      }
      frame = bytes;
    }
    const droppedSinceLast = mailboxDrops + this.pendingDrops;
    this.pendingDrops = 0;
    const sentTimeUs = Math.round(this.now() * 1000);
    this.lastSequence = frame.sequence;
    this.lastDeliveryTimeUs = sentTimeUs;
    this.lastDeliveryAgeUs = Math.min(UINT32_MAX, Math.max(0, sentTimeUs - frame.captureTimeUs));
    this.lastDeliveredFromSharedMemory = frame.data === undefined && frame.shmRef !== undefined;
    return { frame, droppedSinceLast, sentTimeUs };
  }

  isIdle(nowMs: number, idleAfterMs: number): boolean {
    return nowMs - (this.mailbox.lastTakenAt ?? this.subscribedAtMs) > idleAfterMs;
  }

  /** Ends the subscription as the worker leaving; idempotent. */
  close(): void {
    this.end('unsubscribed');
  }

  /** @internal Used by FrameSupplier. */
  end(reason: SubscriptionEndReason): void {
    if (this.ended !== undefined) return;
    this.ended = new SubscriptionEndedError(this.workerId, reason);
    this.onEnd(this);
    this.ending.abort(this.ended);
  }
}

/** A source of frames (one Publish call). Streams it publishes to exist until it closes. */
export class Publisher {
  framesReceived = 0;
  /** Frames this publisher's puts overwrote in an inbox before fan-out took them. */
  inboxDrops = 0;
  /** @internal The streams this publisher joined. */
  readonly streams: StreamState[] = [];
  /** @internal The stream of its previous frame (publishers mostly feed one stream). */
  lastStream: StreamState | undefined = undefined;
  /** @internal The ring of its previous reference (publishers mostly write into one ring). */
  lastRingName: string | undefined = undefined;
  private closed = false;

  constructor(private readonly supplier: FrameSupplier) {}

  /** Validates and publishes `frame`; never blocks. Throws InvalidRequestError or SupplierLimitError. */
  publish(frame: Frame | undefined): void {
    this.supplier.publishFrom(this, frame);
  }

  /** Leaves every stream it joined; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.supplier.leave(this);
  }
}

/**
 * The supplier's state. Decisions (docs/supplier.md):
 * - Fan-out is synchronous in publish: the frame goes through the stream's inbox and, in the same
 *   call, the same frame object is put into every subscribed worker's mailbox (one pointer store
 *   each). So the inbox is always emptied by its own publish and inbox drops stay 0; the inbox keeps
 *   the contract's accounting in one place should fan-out become asynchronous.
 * - A stream exists while a publisher publishes to it or a worker is subscribed to it. When its last
 *   publisher leaves, its workers stay subscribed and wait; the stream is listed as inactive.
 * - A worker id subscribing again replaces the older subscription, which ends with reason
 *   'replaced' (a worker reconnecting after a network blip is never locked out).
 */
export class FrameSupplier {
  readonly maxFrameBytes: number;
  private readonly limits: SupplierLimits;
  /** Ring readers and the bytes of referenced frames. */
  readonly sharedMemory: SharedMemoryFrames;
  private readonly rateWindowMs: number;
  private readonly now: () => number;
  private readonly streams = new Map<string, StreamState>();
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly inProcess: Publisher;
  private stopped = false;

  constructor(options: FrameSupplierOptions) {
    this.limits = { maxWorkers: options.maxWorkers, maxStreams: options.maxStreams, idleAfterMs: options.idleAfterMs ?? DEFAULT_IDLE_AFTER_MS };
    this.maxFrameBytes = options.maxFrameBytes;
    this.rateWindowMs = options.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS;
    this.now = options.now ?? wallClockMs;
    this.sharedMemory = new SharedMemoryFrames({ openRingReader: options.openRingReader, onOpenError: options.onRingOpenError, now: this.now });
    this.inProcess = new Publisher(this);
  }

  get maxWorkers(): number {
    return this.limits.maxWorkers;
  }

  get maxStreams(): number {
    return this.limits.maxStreams;
  }

  get idleAfterMs(): number {
    return this.limits.idleAfterMs;
  }

  /**
   * Changes limits at run time and returns them all. Lowering maxWorkers or maxStreams ends no
   * subscription and no stream: it applies to new ones only. maxFrameBytes stays fixed (the gRPC
   * message size is set from it when the server starts). Throws InvalidRequestError naming the field.
   */
  setLimits(changes: Partial<SupplierLimits>): SupplierLimits {
    for (const [field, value] of Object.entries(changes)) {
      if (!(field in this.limits)) throw new InvalidRequestError(field, `${field} is not a limit that can change at run time`);
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new InvalidRequestError(field, `${field} must be a whole number of at least 1 (got ${String(value)})`);
      }
    }
    for (const [field, value] of Object.entries(changes)) if (value !== undefined) this.limits[field as keyof SupplierLimits] = value;
    return { ...this.limits };
  }

  /** A publisher whose streams live until it closes (one per Publish call). */
  openPublisher(): Publisher {
    if (this.stopped) throw new SupplierStoppedError();
    return new Publisher(this);
  }

  /** Publishes from the supplier's own in-process publisher, which never leaves its streams. */
  publish(frame: Frame): void {
    this.publishFrom(this.inProcess, frame);
  }

  /** @internal The publish path: validate, join the stream, inbox, fan out. */
  publishFrom(publisher: Publisher, frame: Frame | undefined): void {
    if (this.stopped) throw new SupplierStoppedError();
    checkFrame(frame, this.maxFrameBytes);
    let stream = publisher.lastStream;
    if (stream === undefined || stream.streamId !== frame.streamId) {
      stream = this.join(publisher, frame.streamId);
      publisher.lastStream = stream;
    }
    const shmRef = frame.shmRef;
    if (shmRef !== undefined && frame.data === undefined && publisher.lastRingName !== shmRef.ringName) {
      this.noteRing(publisher, stream, shmRef.ringName);
    }
    if (stream.inbox.put(frame)) publisher.inboxDrops++;
    publisher.framesReceived++;
    stream.framesPublished++;
    stream.lastSequence = frame.sequence;
    stream.rate.record(this.now());
    // Synchronous fan-out: the inbox's frame goes to every mailbox as the same object.
    const fanned = stream.inbox.take() as Frame;
    const subscriptions = stream.subscriptions;
    for (let i = 0; i < subscriptions.length; i++) subscriptions[i].mailbox.put(fanned);
  }

  /**
   * Subscribes `workerId` to `streamId`. A subscription of the same worker id ends ('replaced') and
   * this one takes its place. Throws InvalidRequestError, SupplierLimitError or SupplierStoppedError.
   */
  subscribe(request: SubscribeOptions): Subscription {
    if (this.stopped) throw new SupplierStoppedError();
    checkId('worker_id', request.workerId);
    checkId('stream_id', request.streamId);
    const tokens = request.shmRingTokens ?? [];
    checkRingTokens(tokens);
    const previous = this.subscriptions.get(request.workerId);
    if (previous === undefined && this.subscriptions.size >= this.maxWorkers) {
      throw new SupplierLimitError(
        'workers',
        this.subscriptions.size + 1,
        this.maxWorkers,
        `worker "${request.workerId}" would exceed the limit of ${this.maxWorkers} workers`,
      );
    }
    // End the older subscription first: it may be the last thing keeping its stream alive.
    previous?.end('replaced');
    const stream = this.streams.get(request.streamId) ?? this.createStream(request.streamId);
    const provenTokens = new Set(request.preferSharedMemory === true ? tokens : []);
    const subscription = new Subscription(request.workerId, request.streamId, this.now, (s) => this.unsubscribe(s), this.sharedMemory, provenTokens);
    this.subscriptions.set(request.workerId, subscription);
    stream.subscriptions.push(subscription);
    return subscription;
  }

  /** The subscription of `workerId`, if it has one. */
  subscriptionOf(workerId: string): Subscription | undefined {
    return this.subscriptions.get(workerId);
  }

  /** The rings frames of `streamId` (every stream when empty) travel in, as references published so far. */
  rings(streamId = ''): StreamRing[] {
    const rings: StreamRing[] = [];
    for (const s of this.streams.values()) {
      if (streamId !== '' && s.streamId !== streamId) continue;
      for (const ringName of s.ringNames) rings.push({ ringName, streamId: s.streamId });
    }
    return rings;
  }

  /** Ends every subscription ('supplier-stopped'), refuses new publishers and subscriptions, and
   *  closes the ring readers. */
  close(): void {
    this.stopped = true;
    for (const subscription of [...this.subscriptions.values()]) subscription.end('supplier-stopped');
    this.sharedMemory.close();
  }

  stats(): SupplierStatsSnapshot {
    const nowMs = this.now();
    const streams: StreamStatsSnapshot[] = [];
    for (const s of this.streams.values()) {
      streams.push({
        streamId: s.streamId,
        framesPublished: s.framesPublished,
        inboxDrops: s.inbox.dropsTotal,
        publishRateFps: s.rate.perSecond(nowMs),
        lastSequence: s.lastSequence,
        subscribers: s.subscriptions.length,
        publishers: s.publishers,
        active: s.publishers > 0,
      });
    }
    const workers: WorkerStatsSnapshot[] = [];
    for (const w of this.subscriptions.values()) {
      workers.push({
        workerId: w.workerId,
        streamId: w.streamId,
        lastSequence: w.lastSequence,
        lastDeliveryTimeUs: w.lastDeliveryTimeUs,
        framesDelivered: w.framesDelivered,
        dropsTotal: w.dropsTotal,
        dropsConsecutive: w.dropsConsecutive,
        idle: w.isIdle(nowMs, this.idleAfterMs),
        lastDeliveryAgeUs: w.lastDeliveryAgeUs,
        sharedMemory: w.lastDeliveredFromSharedMemory,
      });
    }
    return { streams, workers };
  }

  /** @internal A publisher left: it no longer keeps its streams alive. */
  leave(publisher: Publisher): void {
    for (const stream of publisher.streams) {
      stream.publishers--;
      this.dropStreamIfUnused(stream);
    }
    publisher.streams.length = 0;
    publisher.lastStream = undefined;
  }

  /** A publisher's first reference into `ringName` (or its first after references into another). */
  private noteRing(publisher: Publisher, stream: StreamState, ringName: string): void {
    publisher.lastRingName = ringName;
    if (!stream.ringNames.includes(ringName)) stream.ringNames.push(ringName);
    this.sharedMemory.attach(ringName);
  }

  private join(publisher: Publisher, streamId: string): StreamState {
    for (const s of publisher.streams) if (s.streamId === streamId) return s;
    const stream = this.streams.get(streamId) ?? this.createStream(streamId);
    stream.publishers++;
    publisher.streams.push(stream);
    return stream;
  }

  private createStream(streamId: string): StreamState {
    if (this.streams.size >= this.maxStreams) {
      throw new SupplierLimitError(
        'streams',
        this.streams.size + 1,
        this.maxStreams,
        `stream "${streamId}" would exceed the limit of ${this.maxStreams} streams`,
      );
    }
    const stream: StreamState = {
      streamId,
      inbox: new LatestSlot<Frame>(this.now),
      rate: new SlidingRate(this.rateWindowMs),
      subscriptions: [],
      ringNames: [],
      publishers: 0,
      framesPublished: 0,
      lastSequence: 0,
    };
    this.streams.set(streamId, stream);
    return stream;
  }

  private unsubscribe(subscription: Subscription): void {
    if (this.subscriptions.get(subscription.workerId) === subscription) this.subscriptions.delete(subscription.workerId);
    const stream = this.streams.get(subscription.streamId);
    if (stream === undefined) return;
    const i = stream.subscriptions.indexOf(subscription);
    if (i >= 0) stream.subscriptions.splice(i, 1);
    this.dropStreamIfUnused(stream);
  }

  private dropStreamIfUnused(stream: StreamState): void {
    if (stream.publishers === 0 && stream.subscriptions.length === 0) this.streams.delete(stream.streamId);
  }
}
