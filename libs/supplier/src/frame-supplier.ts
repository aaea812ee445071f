// The frame supplier's core: streams with their inboxes, worker subscriptions with their mailboxes,
// who may hold a worker id and a worker slot, publish with synchronous fan-out, statistics. Plain
// classes with explicit state; no transport.
import { Frame, PoolStats as PoolStatsMessage, RefusedSubscriptions, SubscriptionRefusal } from '@framewire/proto';
import { LatestSlot } from '@framewire/latest-slot';
import {
  InvalidRequestError,
  SubscriptionEndedError,
  SubscriptionEndReason,
  SupplierLimitError,
  SupplierStoppedError,
  WorkerIdInUseError,
} from './errors';
import { DEFAULT_MAX_POOL_CREDITS, PoolScheduler } from './pool-scheduler';
import { POOL_MODES, PoolDelivery, PoolMode } from './pool-state';
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
/** Pools when nothing else is configured. */
export const DEFAULT_MAX_POOLS = 64;

/** performance.timeOrigin, read once: it is fixed for the process, and its getter calls into C++
 *  on each read (Node 20), costing about as much as performance.now() on every delivery. */
const TIME_ORIGIN_MS = performance.timeOrigin;

/** Wall-clock milliseconds since the Unix epoch, with sub-millisecond precision. */
export const wallClockMs = (): number => TIME_ORIGIN_MS + performance.now();

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
  /** Pools at once (default 64). Members count as workers (maxWorkers). */
  maxPools?: number;
  /** Credits a pool member may hold, counting frames delivered to it and not yet sent (default 16):
   *  its largest batch, and the bound on what it has on the way (x maxFrameBytes). */
  maxPoolCredits?: number;
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
  /** Join this pool ('' or undefined: broadcast, every frame of streamId). */
  poolId?: string;
  /** The pool's mode (default shared); the first member sets it. */
  poolMode?: PoolMode;
  /** Pools only: further streams to serve, with streamId when that is set. */
  streamIds?: readonly string[];
  /** Pools only: serve every stream, including later ones (streamId and streamIds empty). */
  allStreams?: boolean;
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
  /** Pool members: the pool ('' for broadcast). */
  poolId: string;
  /** Pool members: deliveries of the same batch that follow this one (0 for broadcast). */
  batchRemaining: number;
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
  poolId: string;
}

/** Refused subscriptions of one worker id for one reason, as GetStats reports them. */
export type RefusedSubscriptionsSnapshot = RefusedSubscriptions;

export interface SupplierStatsSnapshot {
  streams: StreamStatsSnapshot[];
  workers: WorkerStatsSnapshot[];
  refused: RefusedSubscriptionsSnapshot[];
  pools: PoolStatsMessage[];
}

/** A subscription's place in a pool. */
export interface PoolMembership {
  readonly poolId: string;
  readonly mode: PoolMode;
  /** The streams it serves, or 'all'. */
  readonly streams: readonly string[] | 'all';
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
 *
 * A pool member (`pool` set) uses no mailbox: the pool scheduler hands it batches of frames as it
 * grants credits (grantPool), which wait here until the transport sends them (takePoolBatch).
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
  /** Pool members: batches delivered by the pool and not yet sent, their frame count, the credits
   *  the pool holds for it, frames sent, when it last took one, and the sender waiting for a batch. */
  private readonly poolBatches: FrameDelivery[][] = [];
  private poolQueued = 0;
  private poolCredits = 0;
  private poolFramesSent = 0;
  private poolLastTakenAtMs: number | undefined = undefined;
  private poolWake: (() => void) | undefined = undefined;

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
    /** Pool members: the pool and how to grant it credits (returns the credits it then holds). */
    private readonly poolLink: { membership: PoolMembership; grant: (credits: number) => number; maxCredits: number } | undefined = undefined,
  ) {
    this.mailbox = new LatestSlot<Frame>(now);
    this.subscribedAtMs = now();
    this.lastActiveAtMs = this.subscribedAtMs;
  }

  /** Pool members: the pool (undefined: a broadcast subscription). */
  get pool(): PoolMembership | undefined {
    return this.poolLink?.membership;
  }

  /**
   * Pool members: the worker granted `credits` (Pull). The pool holds at most maxCredits for it,
   * counting frames delivered to it and not yet sent: a grant beyond that is refused with
   * InvalidRequestError naming credits (and nothing is granted), so that a client asking for larger
   * batches than the supplier allows learns it at once instead of waiting for frames that never
   * come. A client that grants only what it has received frames for never sees it. Frames it may
   * take are delivered at once (receivePoolBatch).
   */
  grantPool(credits: number): void {
    const link = this.poolLink;
    if (link === undefined || this.ended !== undefined) return;
    this.markActive();
    const held = this.poolCredits + this.poolQueued;
    if (credits > link.maxCredits - held) {
      throw new InvalidRequestError(
        'credits',
        `credits ${credits} would give pool member "${this.workerId}" ${held + credits} credits; it may hold at most ${link.maxCredits} (FW_SUPPLIER_MAX_POOL_CREDITS), counting frames on their way to it`,
      );
    }
    this.poolCredits = link.grant(credits);
  }

  /** @internal The pool delivered `batch` (its records are reused: copied here). */
  receivePoolBatch(batch: readonly PoolDelivery<Frame>[]): void {
    const copies: FrameDelivery[] = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const d = batch[i];
      copies[i] = { frame: d.frame, droppedSinceLast: d.droppedSinceLast, sentTimeUs: 0, poolId: d.poolId, batchRemaining: 0 };
    }
    this.poolCredits -= batch.length;
    this.poolQueued += batch.length;
    this.poolBatches.push(copies);
    const wake = this.poolWake;
    if (wake !== undefined) {
      this.poolWake = undefined;
      wake();
    }
  }

  /**
   * Pool members: the oldest batch waiting, ready to send (bytes read from shared memory for rings
   * the worker did not prove, send times and batch_remaining set). Frames whose bytes cannot be
   * read are left out and counted as drops, and their credits go back to the pool. Undefined when
   * nothing waits or nothing of the batch was readable.
   */
  takePoolBatch(): FrameDelivery[] | undefined {
    const batch = this.poolBatches.shift();
    if (batch === undefined) return undefined;
    this.poolQueued -= batch.length;
    const nowMs = this.now();
    const sentTimeUs = Math.round(nowMs * 1000);
    let kept = 0;
    for (let i = 0; i < batch.length; i++) {
      const delivery = batch[i];
      const frame = this.sendable(delivery.frame);
      if (frame === undefined) continue;
      delivery.frame = frame;
      delivery.sentTimeUs = sentTimeUs;
      batch[kept++] = delivery;
    }
    const unreadable = batch.length - kept;
    batch.length = kept;
    // The credits of unreadable frames go back to the pool (within the bound: they were counted).
    if (unreadable > 0 && this.ended === undefined) this.poolCredits = (this.poolLink as NonNullable<typeof this.poolLink>).grant(unreadable);
    if (kept === 0) return undefined;
    for (let i = 0; i < kept; i++) batch[i].batchRemaining = kept - 1 - i;
    const last = batch[kept - 1].frame;
    this.poolFramesSent += kept;
    this.poolLastTakenAtMs = nowMs;
    this.lastActiveAtMs = nowMs;
    this.lastSequence = last.sequence;
    this.lastDeliveryTimeUs = sentTimeUs;
    this.lastDeliveryAgeUs = Math.min(UINT32_MAX, Math.max(0, sentTimeUs - last.captureTimeUs));
    this.lastDeliveredFromSharedMemory = last.data === undefined && last.shmRef !== undefined;
    return batch;
  }

  /** `frame` as this worker may receive it: itself, or its bytes read from its ring when the worker
   *  did not prove the ring (undefined, counted, when they cannot be read). */
  private sendable(frame: Frame): Frame | undefined {
    const shmRef = frame.shmRef;
    if (shmRef === undefined || frame.data !== undefined || this.receivesReferencesTo(shmRef.ringName)) return frame;
    const bytes = this.sharedMemory.bytesFrame(frame);
    if (typeof bytes !== 'string') return bytes;
    this.unreadableDrops++;
    return undefined;
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
    if (nowMs - this.lastActiveAtMs <= silenceMs) return true;
    return this.poolLink === undefined ? this.mailbox.puts === this.putsWhenActive : this.poolQueued === 0 && this.poolCredits > 0;
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
    return this.poolLink === undefined ? this.mailbox.takes - this.unreadableDrops : this.poolFramesSent;
  }

  /** Resolves when a frame waits in the mailbox; rejects with the SubscriptionEndedError when it ends. */
  waitForFrame(): Promise<void> {
    return this.mailbox.waitForValue(this.ending.signal);
  }

  /** Whether something waits to be taken: a frame in the mailbox, or a pool member's batch. */
  get hasDelivery(): boolean {
    return this.poolLink === undefined ? this.mailbox.hasValue : this.poolBatches.length > 0;
  }

  /**
   * Calls `wake` once, synchronously, when something next arrives to be taken (a frame put into
   * the mailbox, or a batch from the pool): waitForFrame without a promise or a listener, for a
   * delivery loop that passes the same function every time and checks hasDelivery first. The
   * subscription's end does not call it (the loop listens to `signal` once).
   */
  wakeOnDelivery(wake: () => void): void {
    if (this.poolLink === undefined) this.mailbox.wakeOnPut(wake);
    else this.poolWake = wake;
  }

  /** Forgets `wake` if it is the one waiting (its loop stopped). */
  cancelWake(wake: () => void): void {
    if (this.poolLink === undefined) this.mailbox.cancelWake(wake);
    else if (this.poolWake === wake) this.poolWake = undefined;
  }

  /** Takes the newest frame, if any, and records the delivery (undefined also when the frame was
   *  skipped because its bytes could not be read: the caller waits for the next one). */
  takeDelivery(): FrameDelivery | undefined {
    const mailboxDrops = this.mailbox.dropsConsecutive;
    const taken = this.mailbox.take();
    if (taken === undefined) return undefined;
    const takenAtMs = this.mailbox.lastTakenAt as number;
    this.lastActiveAtMs = takenAtMs;
    this.putsWhenActive = this.mailbox.puts;
    const frame = this.sendable(taken);
    if (frame === undefined) {
      this.pendingDrops += mailboxDrops + 1;
      return undefined;
    }
    const droppedSinceLast = mailboxDrops + this.pendingDrops;
    this.pendingDrops = 0;
    // The clock is read again only when bytes were read from a ring meanwhile (that takes time).
    const sentTimeUs = Math.round((frame === taken ? takenAtMs : this.now()) * 1000);
    this.lastSequence = frame.sequence;
    this.lastDeliveryTimeUs = sentTimeUs;
    this.lastDeliveryAgeUs = Math.min(UINT32_MAX, Math.max(0, sentTimeUs - frame.captureTimeUs));
    this.lastDeliveredFromSharedMemory = frame.data === undefined && frame.shmRef !== undefined;
    return { frame, droppedSinceLast, sentTimeUs, poolId: '', batchRemaining: 0 };
  }

  isIdle(nowMs: number, idleAfterMs: number): boolean {
    const lastTakenAt = this.poolLink === undefined ? this.mailbox.lastTakenAt : this.poolLastTakenAtMs;
    return nowMs - (lastTakenAt ?? this.subscribedAtMs) > idleAfterMs;
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
 * - Pools (PoolScheduler, decisions in pool-scheduler.ts): a subscription with a pool id is a pool
 *   member. Members are workers like any other (ids, instances, slots, per-caller limits); they
 *   keep no stream alive and have no mailbox: publish offers each frame to the pools of its stream
 *   after the broadcast fan-out, and the pool hands it to at most one member. A member's streams
 *   need no publisher yet. Every stream the supplier creates is made known to the pools, so that
 *   members of all streams get it.
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
  /** The worker pools; members are subscriptions (by worker id). */
  private readonly pools: PoolScheduler<Frame>;
  readonly maxPoolCredits: number;
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
    this.maxPoolCredits = options.maxPoolCredits ?? DEFAULT_MAX_POOL_CREDITS;
    this.pools = new PoolScheduler<Frame>({
      maxPools: options.maxPools ?? DEFAULT_MAX_POOLS,
      // Members are bounded by maxWorkers, and a pool's streams by what its members list (each at
      // most maxStreams) and the streams the supplier has: the supplier's own limits apply.
      maxMembersPerPool: Number.MAX_SAFE_INTEGER,
      maxStreamsPerPool: Number.MAX_SAFE_INTEGER,
      maxStreams: Number.MAX_SAFE_INTEGER,
      maxCreditsPerMember: this.maxPoolCredits,
      now: () => this.now() * 1000,
      deliver: (memberId, batch) => this.subscriptions.get(memberId)?.receivePoolBatch(batch),
      ageOf: (frame, takenAtUs) => Math.max(0, takenAtUs - frame.captureTimeUs),
    });
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
    if (this.pools.hasPools) this.pools.offer(stream.streamId, fanned);
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
    const membership = this.poolMembershipOf(request);
    if (membership === undefined) checkId('stream_id', streamId);
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
    if (membership === undefined && !this.streams.has(streamId) && this.streams.size >= this.maxStreams && !(previous !== undefined && this.isLastUserOf(previous))) {
      this.refuse(request, 'stream-limit', nowMs, this.streamLimitError(streamId));
    }
    // End the older subscription first: it may be the last thing keeping its stream alive, or hold
    // the worker id in its pool.
    if (endPrevious !== undefined) previous?.end(endPrevious);
    if (membership !== undefined) this.pools.join({ poolId: membership.poolId, mode: membership.mode, memberId: workerId, streams: membership.streams });
    const stream = membership === undefined ? (this.streams.get(streamId) ?? this.createStream(streamId)) : undefined;
    const provenTokens = new Set(request.preferSharedMemory === true ? tokens : []);
    const subscription = new Subscription(
      workerId,
      membership === undefined ? streamId : soleStream(membership),
      this.now,
      (s) => this.unsubscribe(s),
      this.sharedMemory,
      provenTokens,
      instanceId,
      request.caller,
      reservation,
      membership === undefined ? undefined : { membership, grant: (credits) => this.pools.grant(workerId, credits), maxCredits: this.maxPoolCredits },
    );
    this.subscriptions.set(workerId, subscription);
    if (reservation === 'none') this.unreservedCount++;
    if (subscription.countsPerCaller) this.callerCounts.set(request.caller as string, (this.callerCounts.get(request.caller as string) ?? 0) + 1);
    stream?.subscriptions.push(subscription);
    return subscription;
  }

  /** The pool fields of `request`, checked (undefined: a broadcast subscription). Throws
   *  InvalidRequestError naming the field. */
  private poolMembershipOf(request: SubscribeOptions): PoolMembership | undefined {
    const poolId = request.poolId ?? '';
    const streamIds = request.streamIds ?? [];
    const allStreams = request.allStreams === true;
    if (poolId === '') {
      if (streamIds.length > 0) throw new InvalidRequestError('stream_ids', 'stream_ids needs a pool_id: a worker of several streams joins a pool (a pool of one member is fine)');
      if (allStreams) throw new InvalidRequestError('all_streams', 'all_streams needs a pool_id: a worker of every stream joins a pool (a pool of one member is fine)');
      return undefined;
    }
    checkId('pool_id', poolId);
    const mode = request.poolMode ?? 'shared';
    if (!POOL_MODES.includes(mode)) throw new InvalidRequestError('pool_mode', `pool_mode ${JSON.stringify(mode)} is not one of ${POOL_MODES.join(', ')}`);
    if (allStreams) {
      if (request.streamId !== '' || streamIds.length > 0) {
        throw new InvalidRequestError('all_streams', 'all_streams serves every stream: leave stream_id and stream_ids empty');
      }
      return { poolId, mode, streams: 'all' };
    }
    if (streamIds.length > this.maxStreams) {
      throw new InvalidRequestError('stream_ids', `stream_ids lists ${streamIds.length} streams, more than the supplier's ${this.maxStreams} (FW_SUPPLIER_MAX_STREAMS)`);
    }
    const streams = new Set<string>();
    if (request.streamId !== '') {
      checkId('stream_id', request.streamId);
      streams.add(request.streamId);
    }
    for (const id of streamIds) {
      checkId('stream_ids', id);
      streams.add(id);
    }
    if (streams.size === 0) throw new InvalidRequestError('stream_ids', 'a pool member serves streams: set stream_id, stream_ids or all_streams');
    return { poolId, mode, streams: [...streams] };
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
        poolId: w.pool?.poolId ?? '',
      });
    }
    return { streams, workers, refused, pools: this.poolStats() };
  }

  /** The pools as GetStats reports them. */
  poolStats(): PoolStatsMessage[] {
    return this.pools.stats().map((p) => ({
      poolId: p.poolId,
      mode: p.mode,
      ownershipChanges: p.ownershipChanges,
      streams: p.streams.map((s) => ({
        streamId: s.streamId,
        published: s.published,
        taken: s.taken,
        dropped: s.dropped,
        coverage: s.coverage,
        ageP50Us: Math.min(UINT32_MAX, Math.round(s.ageP50Us)),
        ageP99Us: Math.min(UINT32_MAX, Math.round(s.ageP99Us)),
        members: s.members,
        owner: s.owner,
      })),
      members: p.members.map((m) => ({
        workerId: m.memberId,
        allStreams: m.allStreams,
        streamIds: m.streamIds,
        creditsOutstanding: m.creditsOutstanding,
        framesTaken: m.framesTaken,
        ownedStreams: m.ownedStreams,
      })),
    }));
  }

  /** The owner of `streamId` in sticky pool `poolId`, if it has one. */
  poolOwnerOf(poolId: string, streamId: string): string | undefined {
    return this.pools.ownerOf(poolId, streamId);
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
    return subscription.pool === undefined && stream !== undefined && stream.publishers === 0 && stream.subscriptions.length === 1;
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
    // Pools with a member of all streams get a slot for it. Their limits are the supplier's (see
    // the constructor), so this does not refuse.
    this.pools.addStream(streamId);
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
    if (subscription.pool !== undefined) {
      // Its streams go to the other members at once (sticky), and frames it may no longer take
      // to those that hold credits.
      if (this.pools.poolOf(subscription.workerId) === subscription.pool.poolId) this.pools.leave(subscription.workerId);
      return;
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
    this.pools.removeStream(stream.streamId);
  }
}

/** The one stream a pool member serves, or '' when it serves several or all. */
function soleStream(membership: PoolMembership): string {
  return membership.streams !== 'all' && membership.streams.length === 1 ? membership.streams[0] : '';
}
