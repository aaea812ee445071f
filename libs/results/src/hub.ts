// The results hub: validated results fan out to filtered subscribers through drop-oldest queues
// bounded in count and in bytes, per subscriber and over all of them together (a slow subscriber
// loses old results, never slows publish or the others), to synchronous taps (the recorder), and
// into per-stream and per-worker statistics and latest results with bounded memory. What each
// subscriber's transport holds counts in the same budget as the queues, and a subscriber whose
// transport hands nothing on is disconnected: a client that never reads costs a bounded amount.
import { Result, ResultKind, SubscribeResultsResponse } from '@framewire/proto';
import { TransportMeter } from './transport-meter';
import { DEFAULT_RESULT_LIMITS, RESULT_KINDS, ResultLimits, resultKindOf, validateResult } from './validate';

const MIB = 1024 * 1024;
/** Results a subscriber may have waiting before the oldest is dropped. */
export const DEFAULT_SUBSCRIBER_QUEUE_LENGTH = 256;
/** Bytes (PublishedResult.retainedBytes) a subscriber may have waiting before the oldest is dropped:
 *  sixteen segmentation results at the validation limits (about 2 MB each). */
export const DEFAULT_SUBSCRIBER_QUEUE_BYTES = 32 * MIB;
/** Bytes of results waiting for subscribers, in all their queues (distinct results, each counted
 *  once) and in their transports together; beyond it queued results are dropped and stalled
 *  subscribers disconnected, so hostile subscribers cannot multiply the per-subscriber bound. */
export const DEFAULT_QUEUED_BYTES_BUDGET = 256 * MIB;
/** A subscriber whose transport holds results and has handed none on for this long is
 *  disconnected (SubscriberStalledError), whatever the budget. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;
/** A subscriber whose transport has handed nothing on for this long counts as stalled: when the
 *  budget is short, its queue and then its connection go before any other subscriber loses a result. */
export const STALLED_AFTER_MS = 5_000;
/** Subscribers whose transports have never handed a result on (new ones, and clients that never
 *  read) may hold at most this share of the budget between them, so that however many of them
 *  arrive, the rest of it stays for the readers. */
export const NEW_SUBSCRIBERS_BUDGET_SHARE = 0.5;
/** Disconnections of stalled subscribers logged per STALL_LOG_INTERVAL_US; more are only counted
 *  (and their number said in the next line). */
const MAX_STALL_LOG_LINES = 16;
const STALL_LOG_INTERVAL_US = 10 * 1_000_000;
/** Bytes of the latest results kept per (stream, worker, kind); beyond it the least recently
 *  updated are forgotten. */
export const DEFAULT_LATEST_BYTES_BUDGET = 64 * MIB;
/** What a result costs while it waits besides its encoded bytes: the hub's objects around it. */
export const RESULT_OVERHEAD_BYTES = 256;
/** Results per worker over which latency percentiles and the rate are computed. */
export const DEFAULT_LATENCY_WINDOW = 1024;
/** Streams and (worker, stream) pairs tracked at most; beyond it the least recently active is forgotten. */
export const MAX_TRACKED_STREAMS = 1024;
export const MAX_TRACKED_WORKERS = 4096;
/** A stream or worker silent this long is forgotten (its latest results and statistics go). */
export const IDLE_FORGET_US = 10 * 60 * 1_000_000;
/** How often publish looks for idle entries to forget (no timer: the hub owns none). */
const IDLE_SWEEP_INTERVAL_US = 10 * 1_000_000;
/** resultsPerSecond counts results received in this last span. */
export const RATE_WINDOW_US = 5 * 1_000_000;
/** Distinct tap failures logged; more are only counted. */
const MAX_LOGGED_TAP_FAILURES = 16;

/**
 * A result accepted by the hub, as every subscriber and tap sees it. Only its encoding is kept:
 * a decoded result takes about ten times the memory of its bytes (a JavaScript number per
 * coordinate), so `result` is the published object during publish (taps) and is decoded again from
 * the bytes when read later.
 */
export interface PublishedResult {
  /** The result; after publish returned, a new decoding of `encoded()` on each read. */
  readonly result: Result;
  readonly kind: ResultKind;
  readonly streamId: string;
  readonly workerId: string;
  readonly frameSequence: number;
  readonly captureTimeUs: number;
  /** Gateway receive time, µs since the Unix epoch. */
  readonly receivedTimeUs: number;
  /** Its place in this hub's publish order (0 first). */
  readonly order: number;
  /** What the result holds while it waits anywhere: its encoded bytes and RESULT_OVERHEAD_BYTES. */
  readonly retainedBytes: number;
  /** Result.encode(result), encoded once for all subscribers. Do not modify the bytes. */
  encoded(): Uint8Array;
  /** `SubscribeResultsResponse { result }`: the bytes of encoded() behind their field header, the
   *  same allocation (gRPC subscribers send it as it is). Do not modify the bytes. */
  encodedResponse(): Uint8Array;
}

export interface ResultFilter {
  /** Absent or empty: every stream. */
  streamId?: string;
  /** Absent or empty: every worker. */
  workerId?: string;
  /** Absent or empty: every kind. */
  kinds?: readonly ResultKind[];
}

export interface StreamSummary {
  streamId: string;
  workers: string[];
  kinds: ResultKind[];
  resultsTotal: number;
  lastFrameSequence: number;
  lastCaptureTimeUs: number;
  lastReceivedTimeUs: number;
}

export interface LatencySummary {
  p50Us: number;
  p99Us: number;
  /** Results the percentiles are computed over. */
  samples: number;
}

export interface WorkerResultStats {
  workerId: string;
  streamId: string;
  resultsTotal: number;
  resultsPerSecond: number;
  lastReceivedTimeUs: number;
  /** End-to-end: gateway receive time − capture time, over the last `latencyWindow` results. */
  latency: LatencySummary;
}

export interface ResultHubStats {
  published: number;
  rejected: number;
  subscribers: number;
  /** Results dropped from subscriber queues (oldest first), over every subscriber ever. */
  subscriberDrops: number;
  /** Of subscriberDrops, those made to keep queuedBytes + transportBytes within the budget. */
  queueBudgetDrops: number;
  /** Bytes of the distinct results waiting in subscriber queues now (each counted once). */
  queuedBytes: number;
  /** Bytes of results in subscribers' transports now (taken, not yet handed on), per subscriber. */
  transportBytes: number;
  /** Subscribers disconnected because their transport handed nothing on (SubscriberStalledError). */
  stallDisconnects: number;
  /** Of stallDisconnects, those made because the budget was full (the others: the stall timeout). */
  budgetDisconnects: number;
  /** Bytes of the latest results kept now. */
  latestBytes: number;
  tapFailures: number;
}

export interface ResultHubOptions {
  /** Per subscriber: results and bytes waiting before the oldest is dropped. */
  subscriberQueueLength?: number;
  subscriberQueueBytes?: number;
  /** All subscriber queues together (each result counted once) and all their transports. */
  queuedBytesBudget?: number;
  /** A subscriber whose transport hands nothing on for this long is disconnected (closeStalled). */
  stallTimeoutMs?: number;
  /** Latest results per (stream, worker, kind), each counted once. */
  latestBytesBudget?: number;
  latencyWindow?: number;
  limits?: ResultLimits;
  /** µs since the Unix epoch. */
  now?: () => number;
  logger?: { warn(message: string): void };
}

export class ResultHubConfigError extends Error {
  readonly code = 'RESULT_HUB_CONFIG_INVALID';
}

/** Why a stalled subscriber was disconnected: the stall timeout, or the budget was full. */
export type StallDisconnectKind = 'timeout' | 'budget';

/** `subject read nothing for 61.0 s while holding 4194560 bytes; results dropped`: how a stalled
 *  connection is told and logged (the hub's subscribers, and replays). */
export function describeStall(subject: string, stalledForMs: number, heldBytes: number): string {
  return `${subject} read nothing for ${(stalledForMs / 1000).toFixed(1)} s while holding ${heldBytes} bytes; results dropped`;
}

/** The reason a subscription's signal aborts with when the hub disconnected it for stalling. */
export class SubscriberStalledError extends Error {
  readonly code = 'SUBSCRIBER_STALLED';
  constructor(
    readonly kind: StallDisconnectKind,
    readonly stalledForMs: number,
    /** What it held: its transport and its queue. */
    readonly heldBytes: number,
  ) {
    super(`${describeStall('subscriber', stalledForMs, heldBytes)}${kind === 'budget' ? ' (results memory full)' : ''}`);
    this.name = 'SubscriberStalledError';
  }
}

/** Wall clock in µs with sub-millisecond resolution. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Length of the varint at `bytes[at]`. */
function varintLengthAt(bytes: Uint8Array, at: number): number {
  let length = 1;
  while (bytes[at + length - 1] & 0x80) length++;
  return length;
}

class Published implements PublishedResult {
  /** The published object, held only while publish runs. */
  private decoded: Result | undefined;
  private readonly response: Uint8Array;
  private readonly body: Uint8Array;
  readonly streamId: string;
  readonly workerId: string;
  readonly frameSequence: number;
  readonly captureTimeUs: number;
  readonly retainedBytes: number;
  /** Subscriber queues holding this result: its bytes count once in the hub's queuedBytes. */
  queueRefs = 0;

  constructor(
    result: Result,
    readonly kind: ResultKind,
    readonly receivedTimeUs: number,
    /** Position in the hub's publish order. */
    readonly order: number,
  ) {
    this.decoded = result;
    this.streamId = result.streamId;
    this.workerId = result.workerId;
    this.frameSequence = result.frameSequence;
    this.captureTimeUs = result.captureTimeUs;
    this.response = SubscribeResultsResponse.encode({ result }).finish();
    // Field 1's tag (one byte), the varint length, then exactly Result.encode(result).
    this.body = this.response.subarray(1 + varintLengthAt(this.response, 1));
    this.retainedBytes = this.response.length + RESULT_OVERHEAD_BYTES;
  }

  get result(): Result {
    return this.decoded ?? Result.decode(this.body);
  }

  encoded(): Uint8Array {
    return this.body;
  }

  encodedResponse(): Uint8Array {
    return this.response;
  }

  /** Publish is over: from now on only the bytes are kept. */
  releaseDecoded(): void {
    this.decoded = undefined;
  }
}

/**
 * A live subscription: a queue bounded in count and bytes that the hub fills and the consumer
 * drains. An in-process consumer uses take(); a connection uses takeForTransport() and
 * transported(), so that what its transport holds counts in the hub's budget and a transport that
 * hands nothing on is seen stalling.
 */
export interface ResultSubscription {
  /** The oldest queued result, or undefined; delivered at once. */
  take(): PublishedResult | undefined;
  /** The result take() would return, left in the queue. */
  peek(): PublishedResult | undefined;
  /** The oldest queued result, which now counts in the budget as held by this subscriber's
   *  transport until transported(p). Undefined when nothing is queued, or when the budget has no
   *  room for it now (then waitForRoom). */
  takeForTransport(): PublishedResult | undefined;
  /** The transport handed `p` on (its write completed): it no longer counts, and this is progress. */
  transported(p: PublishedResult): void;
  /** Resolves when a result is queued or the subscription is closed; rejects with the signal's
   *  reason when it aborts. */
  waitForResult(signal?: AbortSignal): Promise<void>;
  /** Resolves when room may have appeared (a transport handed something on, a subscriber left), a
   *  result is queued, or the subscription closed; rejects with the signal's reason when it aborts. */
  waitForRoom(signal?: AbortSignal): Promise<void>;
  readonly dropped: number;
  readonly delivered: number;
  readonly queued: number;
  /** Sum of retainedBytes of the queued results. */
  readonly queuedBytes: number;
  /** Sum of retainedBytes of the results taken for the transport and not yet transported. */
  readonly transportBytes: number;
  readonly closed: boolean;
  /** Aborted when the subscription closes; its reason is a SubscriberStalledError when the hub
   *  disconnected it for stalling (what its transport holds still counts until close()). */
  readonly signal: AbortSignal;
  close(): void;
}

/** What a subscriber tells the hub about the results it holds, for the budget. */
interface QueueAccounting {
  now(): number;
  hold(p: Published): void;
  release(p: Published): void;
  /** Whether `p`, the head of `s`'s queue, may enter its transport (room made if it can be). */
  admit(s: Subscriber, p: Published): boolean;
  transportChanged(s: Subscriber, delta: number): void;
  waitForRoom(s: Subscriber): void;
  closed(s: Subscriber): void;
}

class Subscriber implements ResultSubscription {
  dropped = 0;
  delivered = 0;
  closed = false;
  queuedBytes = 0;
  private readonly transport: TransportMeter;
  /** Since when it has been waiting for room in the budget (µs), until a result enters its transport. */
  roomWaitSinceUs = Infinity;
  /** Whether its transport has ever handed a result on (a subscriber that has read). */
  reader = false;
  /** Set when the hub disconnected it: its transport still counts until close(). */
  stalledError: SubscriberStalledError | undefined;
  private readonly ring: Array<Published | undefined>;
  private head = 0;
  private count = 0;
  private wake: (() => void) | undefined;
  private readonly abort = new AbortController();
  readonly signal = this.abort.signal;
  readonly streamId: string | undefined;
  readonly workerId: string | undefined;
  readonly kinds: ReadonlySet<ResultKind> | undefined;

  constructor(
    filter: ResultFilter,
    capacity: number,
    private readonly byteCapacity: number,
    private readonly accounting: QueueAccounting,
    /** Who it is, in log lines (a peer address and the door it came in by). */
    readonly label: string,
    /** Its place in the order of subscriptions. */
    readonly order: number,
  ) {
    this.ring = new Array<Published | undefined>(capacity).fill(undefined);
    this.transport = new TransportMeter(accounting.now);
    this.streamId = filter.streamId || undefined;
    this.workerId = filter.workerId || undefined;
    this.kinds = filter.kinds && filter.kinds.length > 0 ? new Set(filter.kinds) : undefined;
  }

  get queued(): number {
    return this.count;
  }

  get transportBytes(): number {
    return this.transport.bytes;
  }

  matches(p: PublishedResult): boolean {
    return (
      (this.streamId === undefined || this.streamId === p.streamId) &&
      (this.workerId === undefined || this.workerId === p.workerId) &&
      (this.kinds === undefined || this.kinds.has(p.kind))
    );
  }

  /** Never blocks: the oldest results go until the new one fits the count and the bytes (a result
   *  larger than the byte bound still waits alone, so every result can be delivered). */
  push(p: Published): void {
    while (this.count > 0 && (this.count === this.ring.length || this.queuedBytes + p.retainedBytes > this.byteCapacity)) this.dropOldest();
    this.ring[(this.head + this.count) % this.ring.length] = p;
    this.count++;
    this.queuedBytes += p.retainedBytes;
    this.accounting.hold(p);
    this.wakeUp();
  }

  wakeUp(): void {
    const wake = this.wake;
    if (wake) {
      this.wake = undefined;
      wake();
    }
  }

  dropOldest(): void {
    this.remove();
    this.dropped++;
  }

  take(): PublishedResult | undefined {
    if (this.count === 0) return undefined;
    this.delivered++;
    return this.remove();
  }

  takeForTransport(): PublishedResult | undefined {
    if (this.count === 0 || this.closed) return undefined;
    const p = this.ring[this.head] as Published;
    if (!this.accounting.admit(this, p)) return undefined;
    this.roomWaitSinceUs = Infinity;
    this.remove();
    this.delivered++;
    this.transport.hold(p.retainedBytes);
    this.accounting.transportChanged(this, p.retainedBytes);
    return p;
  }

  transported(p: PublishedResult): void {
    // After close() the transport's bytes were released already.
    if (this.transport.bytes < p.retainedBytes) return;
    this.transport.handedOn(p.retainedBytes);
    this.reader = true;
    this.accounting.transportChanged(this, -p.retainedBytes);
  }

  /** How long its transport has held results without handing any on (0 when it holds none). */
  stalledForUs(): number {
    return this.transport.stalledForUs();
  }

  /** When its transport last handed something on (µs; 0: never). */
  get lastProgressUs(): number {
    return this.transport.lastProgressUs;
  }

  peek(): PublishedResult | undefined {
    return this.count === 0 ? undefined : this.ring[this.head];
  }

  private remove(): Published {
    const p = this.ring[this.head] as Published;
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
    this.queuedBytes -= p.retainedBytes;
    this.accounting.release(p);
    return p;
  }

  waitForResult(signal?: AbortSignal): Promise<void> {
    if (this.count > 0 || this.closed) return Promise.resolve();
    return this.waitForWake(signal);
  }

  waitForRoom(signal?: AbortSignal): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.roomWaitSinceUs === Infinity) this.roomWaitSinceUs = this.accounting.now();
    this.accounting.waitForRoom(this);
    return this.waitForWake(signal);
  }

  private waitForWake(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.wake = undefined;
        reject(signal?.reason);
      };
      // One waiter at a time: a second call replaces the first (which is then resolved).
      this.wake?.();
      this.wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The hub disconnects it: no more results, its queue dropped; its transport counts until close(). */
  disconnect(error: SubscriberStalledError): void {
    if (this.closed) return;
    this.closed = true;
    this.stalledError = error;
    while (this.count > 0) this.dropOldest();
    this.abort.abort(error);
    this.wakeUp();
  }

  /** Ends the subscription: queue and transport released. */
  close(): void {
    if (this.closed && this.transport.bytes === 0 && this.stalledError === undefined) return;
    this.closed = true;
    while (this.count > 0) this.remove();
    const released = this.transport.clear();
    if (released > 0) this.accounting.transportChanged(this, -released);
    this.stalledError = undefined;
    this.accounting.closed(this);
    this.abort.abort();
    this.wakeUp();
  }
}

/** Whether `a` began to wait for room before `b` (the earlier subscriber among equals). */
function waitsLonger(a: Subscriber, b: Subscriber): boolean {
  return a.roomWaitSinceUs < b.roomWaitSinceUs || (a.roomWaitSinceUs === b.roomWaitSinceUs && a.roomWaitSinceUs !== Infinity && a.order < b.order);
}

interface StreamEntry {
  streamId: string;
  workers: Set<string>;
  kinds: Set<ResultKind>;
  resultsTotal: number;
  lastFrameSequence: number;
  lastCaptureTimeUs: number;
  lastReceivedTimeUs: number;
}

interface WorkerEntry {
  workerId: string;
  streamId: string;
  resultsTotal: number;
  lastReceivedTimeUs: number;
  /** Ring of the last `latencyWindow` latencies and receive times. */
  latencies: Float64Array;
  received: Float64Array;
  next: number;
  samples: number;
}

const workerKey = (streamId: string, workerId: string): string => `${streamId}\n${workerId}`;
const latestKey = (streamId: string, workerId: string, kind: ResultKind): string => `${streamId}\n${workerId}\n${kind}`;

function positiveInteger(name: string, value: number): number {
  if (!(Number.isSafeInteger(value) && value >= 1)) throw new ResultHubConfigError(`${name} must be an integer >= 1, got ${value}`);
  return value;
}

/**
 * The hub. `publish` validates and fans out synchronously; it never waits for a subscriber.
 * Memory is bounded: each subscriber queue holds at most `subscriberQueueLength` results and
 * `subscriberQueueBytes`; all queues (distinct results) and all transports together hold at most
 * `queuedBytesBudget` (see reclaim for who gives way); the latest results take at most
 * `latestBytesBudget`; the number of streams and workers tracked is capped, and idle ones are
 * forgotten after IDLE_FORGET_US. A subscriber whose transport hands nothing on for
 * `stallTimeoutMs` is disconnected by closeStalled(), which the owner calls periodically (the hub
 * owns no timer).
 */
export class ResultHub {
  private readonly queueLength: number;
  private readonly queueBytes: number;
  private readonly queuedBytesBudget: number;
  private readonly stallTimeoutUs: number;
  private readonly stalledAfterUs: number;
  private readonly latestBytesBudget: number;
  private readonly latencyWindow: number;
  private readonly limits: ResultLimits;
  private readonly now: () => number;
  private readonly logger: { warn(message: string): void } | undefined;
  private readonly subscribers = new Set<Subscriber>();
  /** Disconnected for stalling, their transports not yet closed: what those hold still counts. */
  private readonly leaving = new Set<Subscriber>();
  /** Subscribers waiting for room in the budget (woken when a transport hands something on). */
  private readonly roomWaiters = new Set<Subscriber>();
  private readonly taps = new Set<(p: PublishedResult) => void>();
  private readonly streamEntries = new Map<string, StreamEntry>();
  private readonly workerEntries = new Map<string, WorkerEntry>();
  /** Latest result per (stream, worker, kind), least recently updated first (Map order). */
  private readonly latestEntries = new Map<string, Published>();
  private readonly accounting: QueueAccounting;
  private subscriptionsMade = 0;
  private queuedBytes = 0;
  private transportBytes = 0;
  /** Of transportBytes, those of disconnected subscribers: freed as their transports close (within
   *  their close grace), so no one else gives way for them. */
  private leavingBytes = 0;
  private stallDisconnects = 0;
  private budgetDisconnects = 0;
  private stallLog = { windowStartUs: -Infinity, lines: 0, unlogged: 0 };
  private latestBytes = 0;
  private published = 0;
  private rejected = 0;
  private dropsOfClosed = 0;
  private queueBudgetDrops = 0;
  private tapFailures = 0;
  private readonly loggedTapFailures = new Set<string>();
  private lastSweepUs = 0;

  constructor(options: ResultHubOptions = {}) {
    this.queueLength = positiveInteger('subscriberQueueLength', options.subscriberQueueLength ?? DEFAULT_SUBSCRIBER_QUEUE_LENGTH);
    this.queueBytes = positiveInteger('subscriberQueueBytes', options.subscriberQueueBytes ?? DEFAULT_SUBSCRIBER_QUEUE_BYTES);
    this.queuedBytesBudget = positiveInteger('queuedBytesBudget', options.queuedBytesBudget ?? DEFAULT_QUEUED_BYTES_BUDGET);
    const stallTimeoutMs = positiveInteger('stallTimeoutMs', options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS);
    this.stallTimeoutUs = stallTimeoutMs * 1000;
    this.stalledAfterUs = Math.min(STALLED_AFTER_MS, stallTimeoutMs) * 1000;
    this.latestBytesBudget = positiveInteger('latestBytesBudget', options.latestBytesBudget ?? DEFAULT_LATEST_BYTES_BUDGET);
    this.latencyWindow = positiveInteger('latencyWindow', options.latencyWindow ?? DEFAULT_LATENCY_WINDOW);
    this.limits = options.limits ?? DEFAULT_RESULT_LIMITS;
    this.now = options.now ?? nowMicros;
    this.logger = options.logger;
    this.accounting = {
      now: () => this.now(),
      hold: (p) => {
        if (p.queueRefs++ === 0) this.queuedBytes += p.retainedBytes;
      },
      release: (p) => {
        if (--p.queueRefs === 0) this.queuedBytes -= p.retainedBytes;
      },
      admit: (s, p) => this.admit(s, p),
      transportChanged: (s, delta) => {
        this.transportBytes += delta;
        if (this.leaving.has(s)) this.leavingBytes += delta;
        if (delta < 0) this.roomFreed();
      },
      waitForRoom: (s) => {
        this.roomWaiters.add(s);
      },
      closed: (s) => {
        this.subscribers.delete(s);
        if (this.leaving.delete(s)) this.leavingBytes -= s.transportBytes;
        this.roomWaiters.delete(s);
        this.dropsOfClosed += s.dropped;
        this.roomFreed();
      },
    };
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /**
   * Validates `result` and delivers it to taps and matching subscribers. Throws
   * ResultValidationError for an invalid result, and then nothing else changes but the rejected
   * count. `receivedTimeUs` defaults to now.
   */
  publish(result: Result, receivedTimeUs?: number): PublishedResult {
    let kind: ResultKind;
    try {
      validateResult(result, this.limits);
      kind = resultKindOf(result);
    } catch (error) {
      this.rejected++;
      throw error;
    }
    const received = receivedTimeUs ?? this.now();
    const p = new Published(result, kind, received, this.published++);
    this.account(p);
    for (const tap of this.taps) {
      try {
        tap(p);
      } catch (error) {
        this.tapFailed(error);
      }
    }
    for (const s of this.subscribers) if (s.matches(p)) s.push(p);
    this.reclaim(() => 0, undefined);
    p.releaseDecoded();
    return p;
  }

  /** `fn` sees every published result, synchronously, in order, while `p.result` is still the
   *  published object. It must not throw (a throw is counted and logged, and publish goes on).
   *  Returns the function that removes it. */
  addTap(fn: (p: PublishedResult) => void): () => void {
    this.taps.add(fn);
    return () => this.taps.delete(fn);
  }

  /** `label` names the subscriber in log lines (e.g. `SubscribeResults from 10.0.0.7:51234`). */
  subscribe(filter: ResultFilter = {}, label = 'a subscriber'): ResultSubscription {
    const s = new Subscriber(filter, this.queueLength, this.queueBytes, this.accounting, label, this.subscriptionsMade++);
    this.subscribers.add(s);
    return s;
  }

  /**
   * Disconnects every subscriber whose transport has held results without handing any on for the
   * stall timeout, and lets subscribers waiting for room try again (a subscriber stalled long
   * enough may now give way). Call it periodically; returns how many were disconnected.
   */
  closeStalled(): number {
    const now = this.now();
    let disconnected = 0;
    for (const s of [...this.subscribers]) {
      if (s.stalledForUs() < this.stallTimeoutUs) continue;
      this.disconnect(s, 'timeout', now);
      disconnected++;
    }
    this.roomFreed();
    return disconnected;
  }

  /** The latest result of `kind` on `streamId`: of `workerId` when given, else of any worker. */
  latest(streamId: string, kind: ResultKind, workerId?: string): PublishedResult | undefined {
    if (workerId !== undefined) return this.latestEntries.get(latestKey(streamId, workerId, kind));
    let newest: Published | undefined;
    for (const w of this.streamEntries.get(streamId)?.workers ?? []) {
      const p = this.latestEntries.get(latestKey(streamId, w, kind));
      if (p !== undefined && (newest === undefined || p.order > newest.order)) newest = p;
    }
    return newest;
  }

  streams(): StreamSummary[] {
    return [...this.streamEntries.values()].map((e) => ({
      streamId: e.streamId,
      workers: [...e.workers].sort(),
      kinds: [...e.kinds].sort((a, b) => a - b),
      resultsTotal: e.resultsTotal,
      lastFrameSequence: e.lastFrameSequence,
      lastCaptureTimeUs: e.lastCaptureTimeUs,
      lastReceivedTimeUs: e.lastReceivedTimeUs,
    }));
  }

  workers(): WorkerResultStats[] {
    const now = this.now();
    return [...this.workerEntries.values()].map((w) => ({
      workerId: w.workerId,
      streamId: w.streamId,
      resultsTotal: w.resultsTotal,
      resultsPerSecond: rate(w, now),
      lastReceivedTimeUs: w.lastReceivedTimeUs,
      latency: percentiles(w.latencies, w.samples),
    }));
  }

  stats(): ResultHubStats {
    let drops = this.dropsOfClosed;
    for (const s of this.subscribers) drops += s.dropped;
    for (const s of this.leaving) drops += s.dropped;
    return {
      published: this.published,
      rejected: this.rejected,
      subscribers: this.subscribers.size,
      subscriberDrops: drops,
      queueBudgetDrops: this.queueBudgetDrops,
      queuedBytes: this.queuedBytes,
      transportBytes: this.transportBytes,
      stallDisconnects: this.stallDisconnects,
      budgetDisconnects: this.budgetDisconnects,
      latestBytes: this.latestBytes,
      tapFailures: this.tapFailures,
    };
  }

  /** Closes every subscription (their waiters resolve) and removes the taps. */
  close(): void {
    for (const s of [...this.subscribers, ...this.leaving]) s.close();
    this.taps.clear();
  }

  /** Whether `p`, at the head of `s`'s queue, may enter `s`'s transport. Moving a result out of the
   *  last queue that holds it costs nothing; otherwise its bytes must fit, after reclaiming what
   *  others can give. A subscriber that has not read yet must also fit in the newcomers' share
   *  (admitNewcomer). A result goes alone into transports that hold nothing, budget or not, so
   *  that every result can be delivered. */
  private admit(s: Subscriber, p: Published): boolean {
    if (!s.reader && !this.admitNewcomer(s, p)) return false;
    // Others dropping `p` from their queues lowers its cost: it is recomputed as room is made.
    return this.reclaim(() => (p.queueRefs > 1 ? p.retainedBytes : 0), s) || this.transportBytes === this.leavingBytes;
  }

  /**
   * Whether `p` may enter the transport of `s`, which has not read yet: newcomers take their first
   * result in the order they began to wait for room (so that clients arriving later, however many,
   * do not overtake one that waits), and within NEW_SUBSCRIBERS_BUDGET_SHARE of the budget between
   * them: when it does not fit, the newcomer stalled longest (for STALLED_AFTER_MS) is disconnected
   * to make room. Paused clients that keep arriving thus hold part of the budget, never all of it:
   * the readers keep theirs. One newcomer may always take a result when no other holds any, so
   * that every subscriber can start.
   */
  private admitNewcomer(s: Subscriber, p: Published): boolean {
    for (const w of this.subscribers) {
      if (w !== s && !w.reader && w.transportBytes === 0 && w.queued > 0 && waitsLonger(w, s)) return false;
    }
    for (;;) {
      let held = 0;
      let longestStalled: Subscriber | undefined;
      for (const w of this.subscribers) {
        if (w.reader || w.transportBytes === 0) continue;
        held += w.transportBytes;
        const stalledUs = w.stalledForUs();
        if (stalledUs >= this.stalledAfterUs && (longestStalled === undefined || stalledUs > longestStalled.stalledForUs())) longestStalled = w;
      }
      if (held === 0 || held + p.retainedBytes <= this.queuedBytesBudget * NEW_SUBSCRIBERS_BUDGET_SHARE) return true;
      if (longestStalled === undefined) return false;
      this.disconnect(longestStalled, 'budget', this.now());
    }
  }

  /**
   * Makes queuedBytes + transportBytes + `need()` fit the budget, if it can, in this order of who
   * gives way: the largest queue of a subscriber stalled for STALLED_AFTER_MS loses its oldest
   * result; then the subscriber stalled longest (most bytes first among equals) is disconnected;
   * then the largest queue of anyone (but `exclude`, which is asking) loses its oldest. A result
   * still in another queue frees nothing yet; the transports of disconnected subscribers are not
   * counted here (they are freed as those close, within their close grace), so that no one else
   * gives way for them. Returns whether it fits.
   */
  private reclaim(need: () => number, exclude: Subscriber | undefined): boolean {
    while (this.queuedBytes + this.transportBytes - this.leavingBytes + need() > this.queuedBytesBudget) {
      const now = this.now();
      let stalledQueue: Subscriber | undefined;
      let longestStalled: Subscriber | undefined;
      let longestStalledUs = 0;
      let largestQueue: Subscriber | undefined;
      for (const s of this.subscribers) {
        if (s === exclude) continue;
        if (s.queued > 0 && (largestQueue === undefined || s.queuedBytes > largestQueue.queuedBytes)) largestQueue = s;
        const stalledUs = s.stalledForUs();
        if (stalledUs < this.stalledAfterUs) continue;
        if (s.queued > 0 && (stalledQueue === undefined || s.queuedBytes > stalledQueue.queuedBytes)) stalledQueue = s;
        const longer = stalledUs > longestStalledUs || (stalledUs === longestStalledUs && s.transportBytes > (longestStalled?.transportBytes ?? 0));
        if (longestStalled === undefined || longer) {
          longestStalled = s;
          longestStalledUs = stalledUs;
        }
      }
      const dropFrom = stalledQueue ?? (longestStalled === undefined ? largestQueue : undefined);
      if (dropFrom !== undefined) {
        dropFrom.dropOldest();
        this.queueBudgetDrops++;
      } else if (longestStalled !== undefined) {
        this.disconnect(longestStalled, 'budget', now);
      } else {
        return false;
      }
    }
    return true;
  }

  /** Disconnects a stalled subscriber: its signal aborts with the reason, which is logged (at most
   *  MAX_STALL_LOG_LINES per STALL_LOG_INTERVAL_US); its transport counts until it is closed. */
  private disconnect(s: Subscriber, kind: StallDisconnectKind, now: number): void {
    const error = new SubscriberStalledError(kind, Math.round(s.stalledForUs() / 1000), s.transportBytes + s.queuedBytes);
    this.subscribers.delete(s);
    this.roomWaiters.delete(s);
    this.leaving.add(s);
    this.leavingBytes += s.transportBytes;
    s.disconnect(error);
    this.stallDisconnects++;
    if (kind === 'budget') this.budgetDisconnects++;
    const log = this.stallLog;
    if (now - log.windowStartUs >= STALL_LOG_INTERVAL_US) {
      log.windowStartUs = now;
      log.lines = 0;
    }
    if (log.lines >= MAX_STALL_LOG_LINES) {
      log.unlogged++;
      return;
    }
    log.lines++;
    const unlogged = log.unlogged === 0 ? '' : ` (and ${log.unlogged} more before, not logged)`;
    log.unlogged = 0;
    this.logger?.warn(`${s.label} disconnected: ${error.message}${unlogged}`);
  }

  /** Wakes the subscribers waiting for room, each to try again, the one whose transport handed
   *  something on most recently first (readers get freed room before subscribers that never took
   *  anything, which may be stalled and would hold it until they are disconnected), then the one
   *  waiting longest. */
  private roomFreed(): void {
    if (this.roomWaiters.size === 0) return;
    const waiters = [...this.roomWaiters].sort((a, b) => b.lastProgressUs - a.lastProgressUs || a.roomWaitSinceUs - b.roomWaitSinceUs || a.order - b.order);
    this.roomWaiters.clear();
    for (const s of waiters) s.wakeUp();
  }

  private tapFailed(error: unknown): void {
    this.tapFailures++;
    const message = error instanceof Error ? error.message : String(error);
    if (this.loggedTapFailures.size < MAX_LOGGED_TAP_FAILURES && !this.loggedTapFailures.has(message)) {
      this.loggedTapFailures.add(message);
      this.logger?.warn(`result tap failed (logged once per cause): ${message}`);
    }
  }

  private account(p: Published): void {
    const now = p.receivedTimeUs;
    if (now - this.lastSweepUs >= IDLE_SWEEP_INTERVAL_US) this.forgetIdle(now);

    let stream = this.streamEntries.get(p.streamId);
    if (stream === undefined) {
      const evicted = evictOldest(this.streamEntries, MAX_TRACKED_STREAMS);
      if (evicted !== undefined) for (const w of evicted.workers) this.forgetLatest(evicted.streamId, w);
      stream = {
        streamId: p.streamId,
        workers: new Set(),
        kinds: new Set(),
        resultsTotal: 0,
        lastFrameSequence: 0,
        lastCaptureTimeUs: 0,
        lastReceivedTimeUs: 0,
      };
      this.streamEntries.set(p.streamId, stream);
    }
    stream.workers.add(p.workerId);
    stream.kinds.add(p.kind);
    stream.resultsTotal++;
    stream.lastFrameSequence = p.frameSequence;
    stream.lastCaptureTimeUs = p.captureTimeUs;
    stream.lastReceivedTimeUs = now;

    const key = workerKey(p.streamId, p.workerId);
    let worker = this.workerEntries.get(key);
    if (worker === undefined) {
      const evicted = evictOldest(this.workerEntries, MAX_TRACKED_WORKERS);
      if (evicted !== undefined) this.forgetWorker(evicted);
      worker = {
        workerId: p.workerId,
        streamId: p.streamId,
        resultsTotal: 0,
        lastReceivedTimeUs: 0,
        latencies: new Float64Array(this.latencyWindow),
        received: new Float64Array(this.latencyWindow),
        next: 0,
        samples: 0,
      };
      this.workerEntries.set(key, worker);
    }
    worker.resultsTotal++;
    worker.lastReceivedTimeUs = now;
    worker.latencies[worker.next] = now - p.captureTimeUs;
    worker.received[worker.next] = now;
    worker.next = (worker.next + 1) % this.latencyWindow;
    if (worker.samples < this.latencyWindow) worker.samples++;

    this.keepLatest(p);
  }

  /** Makes `p` the latest of its (stream, worker, kind), then forgets the least recently updated
   *  latest results beyond the budget (the newest one always stays). */
  private keepLatest(p: Published): void {
    const key = latestKey(p.streamId, p.workerId, p.kind);
    this.dropLatest(key);
    this.latestEntries.set(key, p);
    this.latestBytes += p.retainedBytes;
    for (const oldest of this.latestEntries.keys()) {
      if (this.latestBytes <= this.latestBytesBudget || oldest === key) break;
      this.dropLatest(oldest);
    }
  }

  private dropLatest(key: string): void {
    const previous = this.latestEntries.get(key);
    if (previous === undefined) return;
    this.latestEntries.delete(key);
    this.latestBytes -= previous.retainedBytes;
  }

  private forgetLatest(streamId: string, workerId: string): void {
    for (const kind of RESULT_KINDS) this.dropLatest(latestKey(streamId, workerId, kind));
  }

  /** A forgotten worker leaves its stream's worker list and its latest results too. */
  private forgetWorker(w: WorkerEntry): void {
    this.workerEntries.delete(workerKey(w.streamId, w.workerId));
    this.streamEntries.get(w.streamId)?.workers.delete(w.workerId);
    this.forgetLatest(w.streamId, w.workerId);
  }

  private forgetIdle(now: number): void {
    this.lastSweepUs = now;
    for (const w of [...this.workerEntries.values()]) if (now - w.lastReceivedTimeUs > IDLE_FORGET_US) this.forgetWorker(w);
    for (const [id, s] of this.streamEntries) {
      if (now - s.lastReceivedTimeUs <= IDLE_FORGET_US) continue;
      this.streamEntries.delete(id);
      for (const workerId of s.workers) this.forgetLatest(id, workerId);
    }
  }
}

/** Makes room for one more entry by forgetting the least recently active one; returns it. */
function evictOldest<E extends { lastReceivedTimeUs: number }>(map: Map<string, E>, cap: number): E | undefined {
  if (map.size < cap) return undefined;
  let oldestKey: string | undefined;
  let oldest = Infinity;
  for (const [key, e] of map) {
    if (e.lastReceivedTimeUs < oldest) {
      oldest = e.lastReceivedTimeUs;
      oldestKey = key;
    }
  }
  if (oldestKey === undefined) return undefined;
  const evicted = map.get(oldestKey);
  map.delete(oldestKey);
  return evicted;
}

/** Nearest-rank percentiles of the first `samples` values. */
export function percentiles(values: Float64Array, samples: number): LatencySummary {
  if (samples === 0) return { p50Us: 0, p99Us: 0, samples: 0 };
  const sorted = values.slice(0, samples).sort();
  const rank = (q: number): number => sorted[Math.min(samples - 1, Math.ceil(q * samples) - 1)];
  return { p50Us: rank(0.5), p99Us: rank(0.99), samples };
}

/** Results per second over the last RATE_WINDOW_US: (count − 1) intervals since the earliest
 *  counted one, measured up to now, so a worker that stops decays to 0. */
function rate(w: WorkerEntry, now: number): number {
  let count = 0;
  let earliest = Infinity;
  for (let i = 0; i < w.samples; i++) {
    const t = w.received[i];
    if (now - t <= RATE_WINDOW_US) {
      count++;
      if (t < earliest) earliest = t;
    }
  }
  if (count < 2) return count / (RATE_WINDOW_US / 1e6);
  return ((count - 1) * 1e6) / Math.max(now - earliest, 1);
}
