// The frame supplier's core: streams with their inboxes, worker subscriptions with their mailboxes,
// who may hold a worker id and a worker slot, publish with synchronous fan-out, statistics. Plain
// classes with explicit state; no transport.
import { Frame, RefusedSubscriptions, SubscriptionRefusal } from '@framewire/proto';
import { LatestSlot } from '@framewire/latest-slot';
import {
  InvalidRequestError,
  SubscriptionEndedError,
  SubscriptionEndReason,
  SupplierLimitError,
  SupplierStoppedError,
  WorkerIdInUseError,
} from './errors';
import { DEFAULT_RATE_WINDOW_MS, SlidingRate } from './publish-rate';
import { RefusalLog, RefusalReason } from './refusals';
import { RingNames, RingUse } from './ring-names';
import { OpenRingReader, SharedMemoryFrames } from './shared-memory';
import { checkFrame, checkId, checkRingTokens } from './validation';
import { checkInstanceId, DEFAULT_HOLDER_SILENCE_MS, Reservation, ReservedWorkers, sameInstance } from './worker-identity';

/** A worker that took no frame for this long is reported idle. */
export const DEFAULT_IDLE_AFTER_MS = 30_000;
/** Subscriptions one caller (peer address) may hold when nothing else is configured; workers
 *  reserved by their exact id do not count. */
export const DEFAULT_MAX_WORKERS_PER_CALLER = 16;
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
  /** Called on a ring's first failed open (not on each retry). */
  onRingOpenError?: (ringName: string, error: Error) => void;
  /** Worker ids that always find a slot: exact ids, or prefixes ending in '*' ("worker-*"). */
  reservedWorkers?: readonly string[];
  /** Slots kept for reserved workers: workers that are not reserved may hold at most
   *  maxWorkers - reservedSlots. Default: the number of reservedWorkers entries. */
  reservedSlots?: number;
  /** Subscriptions one caller may hold (SubscribeOptions.caller); exact reserved ids do not count. */
  maxWorkersPerCaller?: number;
  /** A holder of a worker id silent this long (no frame taken, no credit, while frames waited for
   *  it) loses the id to another instance that subscribes with it. */
  holderSilenceMs?: number;
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
  /** The worker process's private random key: the same key replaces its own older subscription at
   *  once; another (or none) must wait until the holder is silent. */
  instanceId?: string;
  /** Who calls, for the per-caller limit (the peer address; see callerOf). Undefined: not counted. */
  caller?: string;
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

/** Refused subscriptions of one worker id for one reason, as GetStats reports them. */
export type RefusedSubscriptionsSnapshot = RefusedSubscriptions;

export interface SupplierStatsSnapshot {
  streams: StreamStatsSnapshot[];
  workers: WorkerStatsSnapshot[];
  refused: RefusedSubscriptionsSnapshot[];
}

/** The proto enum of each refusal reason. */
export const REFUSAL_CODES: Readonly<Record<RefusalReason, SubscriptionRefusal>> = {
  'id-in-use': SubscriptionRefusal.SUBSCRIPTION_REFUSAL_ID_IN_USE,
  'worker-limit': SubscriptionRefusal.SUBSCRIPTION_REFUSAL_WORKER_LIMIT,
  'caller-limit': SubscriptionRefusal.SUBSCRIPTION_REFUSAL_CALLER_LIMIT,
  'stream-limit': SubscriptionRefusal.SUBSCRIPTION_REFUSAL_STREAM_LIMIT,
};

/** One stream (camera): its inbox and the subscriptions it fans out to. */
interface StreamState {
  readonly streamId: string;
  readonly inbox: LatestSlot<Frame>;
  readonly rate: SlidingRate;
  readonly subscriptions: Subscription[];
  publishers: number;
  framesPublished: number;
  lastSequence: number;
}

/**
 * One worker's subscription to one stream: its mailbox holds the newest frame it has not taken.
 * Ends (its `signal` aborts, `endReason` says why) when the worker leaves, when the same worker
 * instance subscribes again, when another instance takes the id after it fell silent, or when the
 * supplier stops.
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
  /** When the worker last took a frame or granted a credit (clock ms), and how many frames its
   *  mailbox had been offered then: with none offered since, its silence is the stream's, not its own. */
  private lastActiveAtMs: number;
  private putsWhenActive = 0;
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
    /** The worker process's key ('' when it sent none); never shown. */
    readonly instanceId = '',
    /** The peer address it came from (undefined: not counted per caller). */
    readonly caller: string | undefined = undefined,
    readonly reservation: Reservation = 'none',
  ) {
    this.mailbox = new LatestSlot<Frame>(now);
    this.subscribedAtMs = now();
    this.lastActiveAtMs = this.subscribedAtMs;
  }

  /** The worker granted credits (Pull): it is there and asks for frames. */
  markActive(): void {
    this.lastActiveAtMs = this.now();
    this.putsWhenActive = this.mailbox.puts;
  }

  /**
   * Whether the worker holding this subscription is live: it took a frame or granted a credit
   * within `silenceMs`, or it waits for a frame that has not come (nothing was offered to it since
   * it last acted). A half-open call stops taking frames as soon as its credits or transport
   * windows run out, and so falls silent once frames flow.
   */
  isLive(nowMs: number, silenceMs: number): boolean {
    return nowMs - this.lastActiveAtMs <= silenceMs || this.mailbox.puts === this.putsWhenActive;
  }

  /** Whether this subscription counts against its caller's limit (an exact reserved id cannot
   *  multiply, so it does not). */
  get countsPerCaller(): boolean {
    return this.caller !== undefined && this.reservation !== 'id';
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
    this.lastActiveAtMs = this.mailbox.lastTakenAt as number;
    this.putsWhenActive = this.mailbox.puts;
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
  lastRing: RingUse | undefined = undefined;
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
 * - One subscription per worker id. A second one with the same instance id is the same process
 *   reconnecting (after a network blip): it replaces the older one at once ('replaced'). With
 *   another or no instance id it is refused (WorkerIdInUseError) while the holder is live, and
 *   takes the id ('taken-over') once the holder has been silent for holderSilenceMs: a reconnecting
 *   or restarted worker is never locked out for longer, and a stranger cannot silence a live one.
 * - Worker slots: maxWorkers in all, of which reservedSlots only for reserved worker ids, and at
 *   most maxWorkersPerCaller per caller. Every refused subscription is counted (stats().refused).
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
  private readonly ringNames: RingNames;
  private readonly refusals = new RefusalLog();
  private readonly reserved: ReservedWorkers;
  readonly reservedSlots: number;
  readonly maxWorkersPerCaller: number;
  readonly holderSilenceMs: number;
  /** Subscriptions of workers that are not reserved. */
  private unreservedCount = 0;
  /** Subscriptions per caller, of those that count per caller. */
  private readonly callerCounts = new Map<string, number>();
  private stopped = false;

  constructor(options: FrameSupplierOptions) {
    this.limits = { maxWorkers: options.maxWorkers, maxStreams: options.maxStreams, idleAfterMs: options.idleAfterMs ?? DEFAULT_IDLE_AFTER_MS };
    this.maxFrameBytes = options.maxFrameBytes;
    this.rateWindowMs = options.rateWindowMs ?? DEFAULT_RATE_WINDOW_MS;
    this.now = options.now ?? wallClockMs;
    this.reserved = new ReservedWorkers(options.reservedWorkers);
    this.reservedSlots = options.reservedSlots ?? this.reserved.entries.length;
    this.maxWorkersPerCaller = options.maxWorkersPerCaller ?? DEFAULT_MAX_WORKERS_PER_CALLER;
    this.holderSilenceMs = options.holderSilenceMs ?? DEFAULT_HOLDER_SILENCE_MS;
    if (!(Number.isInteger(this.reservedSlots) && this.reservedSlots >= 0 && this.reservedSlots < this.maxWorkers)) {
      throw new RangeError(`reservedSlots must be a whole number from 0 to maxWorkers - 1 = ${this.maxWorkers - 1} (got ${this.reservedSlots})`);
    }
    this.sharedMemory = new SharedMemoryFrames({ openRingReader: options.openRingReader, onOpenError: options.onRingOpenError, now: this.now });
    this.ringNames = new RingNames({
      keep: (ringName) => this.sharedMemory.writerAlive(ringName),
      onForgotten: (ringName) => this.sharedMemory.detach(ringName),
    });
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
    if (changes.maxWorkers !== undefined && changes.maxWorkers <= this.reservedSlots) {
      throw new InvalidRequestError('maxWorkers', `maxWorkers must exceed the ${this.reservedSlots} slots reserved for FW_SUPPLIER_RESERVED_WORKERS (got ${changes.maxWorkers})`);
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
    const nowMs = this.now();
    const shmRef = frame.shmRef;
    if (shmRef !== undefined && frame.data === undefined) {
      const ring = publisher.lastRing;
      if (ring === undefined || ring.forgotten || ring.ringName !== shmRef.ringName || ring.streamId !== stream.streamId) {
        this.noteRing(publisher, stream, shmRef.ringName, nowMs);
      } else {
        ring.lastUsedMs = nowMs;
      }
    }
    if (stream.inbox.put(frame)) publisher.inboxDrops++;
    publisher.framesReceived++;
    stream.framesPublished++;
    stream.lastSequence = frame.sequence;
    stream.rate.record(nowMs);
    // Synchronous fan-out: the inbox's frame goes to every mailbox as the same object.
    const fanned = stream.inbox.take() as Frame;
    const subscriptions = stream.subscriptions;
    for (let i = 0; i < subscriptions.length; i++) subscriptions[i].mailbox.put(fanned);
  }

  /**
   * Subscribes `workerId` to `streamId` under the rules of the class comment. Throws
   * InvalidRequestError, WorkerIdInUseError, SupplierLimitError or SupplierStoppedError; each
   * refusal of a valid request is counted in stats().refused.
   */
  subscribe(request: SubscribeOptions): Subscription {
    if (this.stopped) throw new SupplierStoppedError();
    const { workerId, streamId } = request;
    checkId('worker_id', workerId);
    checkId('stream_id', streamId);
    const tokens = request.shmRingTokens ?? [];
    checkRingTokens(tokens);
    const instanceId = request.instanceId ?? '';
    checkInstanceId(instanceId);
    const nowMs = this.now();
    const previous = this.subscriptions.get(workerId);
    let endPrevious: SubscriptionEndReason | undefined;
    if (previous !== undefined) {
      if (sameInstance(previous.instanceId, instanceId)) endPrevious = 'replaced';
      else if (!previous.isLive(nowMs, this.holderSilenceMs)) endPrevious = 'taken-over';
      else this.refuse(request, 'id-in-use', nowMs, new WorkerIdInUseError(workerId, this.holderSilenceMs));
    }
    const reservation = this.reserved.of(workerId);
    this.checkSlots(request, reservation, previous, nowMs);
    if (!this.streams.has(streamId) && this.streams.size >= this.maxStreams && !(previous !== undefined && this.isLastUserOf(previous))) {
      this.refuse(request, 'stream-limit', nowMs, this.streamLimitError(streamId));
    }
    // End the older subscription first: it may be the last thing keeping its stream alive.
    if (endPrevious !== undefined) previous?.end(endPrevious);
    const stream = this.streams.get(streamId) ?? this.createStream(streamId);
    const provenTokens = new Set(request.preferSharedMemory === true ? tokens : []);
    const subscription = new Subscription(
      workerId,
      streamId,
      this.now,
      (s) => this.unsubscribe(s),
      this.sharedMemory,
      provenTokens,
      instanceId,
      request.caller,
      reservation,
    );
    this.subscriptions.set(workerId, subscription);
    if (reservation === 'none') this.unreservedCount++;
    if (subscription.countsPerCaller) this.callerCounts.set(request.caller as string, (this.callerCounts.get(request.caller as string) ?? 0) + 1);
    stream.subscriptions.push(subscription);
    return subscription;
  }

  /** The subscription of `workerId`, if it has one. */
  subscriptionOf(workerId: string): Subscription | undefined {
    return this.subscriptions.get(workerId);
  }

  /** The rings frames of `streamId` (every stream when empty) travel in, as named by references
   *  published recently (see RingNames). */
  rings(streamId = ''): StreamRing[] {
    return this.ringNames.list(streamId, this.now());
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
    const refused = this.refusals.list().map((r) => ({
      workerId: r.workerId,
      reason: REFUSAL_CODES[r.reason],
      count: r.count,
      lastRefusedTimeUs: Math.round(r.lastRefusedAtMs * 1000),
      streamId: r.streamId,
      caller: r.caller,
      message: r.message,
    }));
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
    return { streams, workers, refused };
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

  /** Refused subscriptions per worker id and reason (also in stats().refused), for metrics. */
  refusedSubscriptions(): ReturnType<RefusalLog['list']> {
    return this.refusals.list();
  }

  /** A publisher's first reference into `ringName` (or its first after references into another,
   *  or after the name was forgotten). Throws SupplierLimitError when the stream or the supplier
   *  names too many rings. */
  private noteRing(publisher: Publisher, stream: StreamState, ringName: string, nowMs: number): void {
    publisher.lastRing = this.ringNames.note(stream.streamId, ringName, nowMs);
    this.sharedMemory.attach(ringName);
  }

  /** Counts the refusal of `request` and throws `error`. */
  private refuse(request: SubscribeOptions, reason: RefusalReason, nowMs: number, error: Error): never {
    this.refusals.record({
      workerId: request.workerId,
      reason,
      lastRefusedAtMs: nowMs,
      streamId: request.streamId,
      caller: request.caller ?? '',
      message: error.message,
    });
    throw error;
  }

  /** Refuses `request` when no worker slot is open to it; `previous` (the same worker id, about to
   *  end) does not count. */
  private checkSlots(request: SubscribeOptions, reservation: Reservation, previous: Subscription | undefined, nowMs: number): void {
    const { workerId } = request;
    const total = this.subscriptions.size - (previous === undefined ? 0 : 1);
    if (total >= this.maxWorkers) {
      this.refuse(request, 'worker-limit', nowMs, new SupplierLimitError('workers', total + 1, this.maxWorkers, `worker "${workerId}" would exceed the limit of ${this.maxWorkers} workers`));
    }
    const unreservedMax = this.maxWorkers - this.reservedSlots;
    const unreserved = this.unreservedCount - (previous?.reservation === 'none' ? 1 : 0);
    if (reservation === 'none' && unreserved >= unreservedMax) {
      this.refuse(
        request,
        'worker-limit',
        nowMs,
        new SupplierLimitError(
          'workers',
          unreserved + 1,
          unreservedMax,
          `worker "${workerId}" would exceed the limit of ${unreservedMax} workers that are not reserved (${this.reservedSlots} of ${this.maxWorkers} slots are kept for FW_SUPPLIER_RESERVED_WORKERS)`,
        ),
      );
    }
    const caller = request.caller;
    if (caller === undefined || reservation === 'id') return;
    const held = (this.callerCounts.get(caller) ?? 0) - (previous?.countsPerCaller && previous.caller === caller ? 1 : 0);
    if (held >= this.maxWorkersPerCaller) {
      this.refuse(
        request,
        'caller-limit',
        nowMs,
        new SupplierLimitError(
          'workersPerCaller',
          held + 1,
          this.maxWorkersPerCaller,
          `worker "${workerId}" would exceed the limit of ${this.maxWorkersPerCaller} workers per caller (${caller} holds ${held})`,
        ),
      );
    }
  }

  /** Whether `subscription` is the last thing keeping its stream alive. */
  private isLastUserOf(subscription: Subscription): boolean {
    const stream = this.streams.get(subscription.streamId);
    return stream !== undefined && stream.publishers === 0 && stream.subscriptions.length === 1;
  }

  private streamLimitError(streamId: string): SupplierLimitError {
    return new SupplierLimitError('streams', this.streams.size + 1, this.maxStreams, `stream "${streamId}" would exceed the limit of ${this.maxStreams} streams`);
  }

  private join(publisher: Publisher, streamId: string): StreamState {
    for (const s of publisher.streams) if (s.streamId === streamId) return s;
    const stream = this.streams.get(streamId) ?? this.createStream(streamId);
    stream.publishers++;
    publisher.streams.push(stream);
    return stream;
  }

  private createStream(streamId: string): StreamState {
    if (this.streams.size >= this.maxStreams) throw this.streamLimitError(streamId);
    const stream: StreamState = {
      streamId,
      inbox: new LatestSlot<Frame>(this.now),
      rate: new SlidingRate(this.rateWindowMs),
      subscriptions: [],
      publishers: 0,
      framesPublished: 0,
      lastSequence: 0,
    };
    this.streams.set(streamId, stream);
    return stream;
  }

  private unsubscribe(subscription: Subscription): void {
    if (this.subscriptions.get(subscription.workerId) === subscription) this.subscriptions.delete(subscription.workerId);
    if (subscription.reservation === 'none') this.unreservedCount--;
    if (subscription.countsPerCaller) {
      const caller = subscription.caller as string;
      const held = (this.callerCounts.get(caller) ?? 1) - 1;
      if (held > 0) this.callerCounts.set(caller, held);
      else this.callerCounts.delete(caller);
    }
    const stream = this.streams.get(subscription.streamId);
    if (stream === undefined) return;
    const i = stream.subscriptions.indexOf(subscription);
    if (i >= 0) stream.subscriptions.splice(i, 1);
    this.dropStreamIfUnused(stream);
  }

  private dropStreamIfUnused(stream: StreamState): void {
    if (stream.publishers !== 0 || stream.subscriptions.length !== 0) return;
    this.streams.delete(stream.streamId);
    this.ringNames.forgetStream(stream.streamId);
  }
}
