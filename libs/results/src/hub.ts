// The results hub: validated results fan out to filtered subscribers through bounded drop-oldest
// queues (a slow subscriber loses old results, never slows publish or the others), to synchronous
// taps (the recorder), and into per-stream and per-worker statistics with bounded memory.
import { Result, ResultKind } from '@framewire/proto';
import { DEFAULT_RESULT_LIMITS, ResultLimits, resultKindOf, validateResult } from './validate';

/** Results a subscriber may have waiting before the oldest is dropped. */
export const DEFAULT_SUBSCRIBER_QUEUE_LENGTH = 256;
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

/** A result accepted by the hub, as every subscriber and tap sees it. */
export interface PublishedResult {
  readonly result: Result;
  readonly kind: ResultKind;
  /** Gateway receive time, µs since the Unix epoch. */
  readonly receivedTimeUs: number;
  /** Result.encode(result), encoded once for all subscribers. Do not modify the bytes. */
  encoded(): Uint8Array;
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
  tapFailures: number;
}

export interface ResultHubOptions {
  subscriberQueueLength?: number;
  latencyWindow?: number;
  limits?: ResultLimits;
  /** µs since the Unix epoch. */
  now?: () => number;
  logger?: { warn(message: string): void };
}

export class ResultHubConfigError extends Error {
  readonly code = 'RESULT_HUB_CONFIG_INVALID';
}

/** Wall clock in µs with sub-millisecond resolution. */
export function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

class Published implements PublishedResult {
  private bytes: Uint8Array | undefined;
  constructor(
    readonly result: Result,
    readonly kind: ResultKind,
    readonly receivedTimeUs: number,
  ) {}
  encoded(): Uint8Array {
    return (this.bytes ??= Result.encode(this.result).finish());
  }
}

/** A live subscription: a bounded queue the hub fills and the consumer drains. */
export interface ResultSubscription {
  /** The oldest queued result, or undefined. */
  take(): PublishedResult | undefined;
  /** Resolves when a result is queued or the subscription is closed; rejects with the signal's
   *  reason when it aborts. */
  waitForResult(signal?: AbortSignal): Promise<void>;
  readonly dropped: number;
  readonly delivered: number;
  readonly queued: number;
  readonly closed: boolean;
  close(): void;
}

class Subscriber implements ResultSubscription {
  dropped = 0;
  delivered = 0;
  closed = false;
  private readonly ring: Array<PublishedResult | undefined>;
  private head = 0;
  private count = 0;
  private wake: (() => void) | undefined;
  readonly streamId: string | undefined;
  readonly workerId: string | undefined;
  readonly kinds: ReadonlySet<ResultKind> | undefined;

  constructor(
    filter: ResultFilter,
    capacity: number,
    private readonly onClose: (s: Subscriber) => void,
  ) {
    this.ring = new Array<PublishedResult | undefined>(capacity).fill(undefined);
    this.streamId = filter.streamId || undefined;
    this.workerId = filter.workerId || undefined;
    this.kinds = filter.kinds && filter.kinds.length > 0 ? new Set(filter.kinds) : undefined;
  }

  get queued(): number {
    return this.count;
  }

  matches(p: PublishedResult): boolean {
    return (
      (this.streamId === undefined || this.streamId === p.result.streamId) &&
      (this.workerId === undefined || this.workerId === p.result.workerId) &&
      (this.kinds === undefined || this.kinds.has(p.kind))
    );
  }

  /** Never blocks: a full queue loses its oldest result. */
  push(p: PublishedResult): void {
    const capacity = this.ring.length;
    if (this.count === capacity) {
      this.head = (this.head + 1) % capacity;
      this.count--;
      this.dropped++;
    }
    this.ring[(this.head + this.count) % capacity] = p;
    this.count++;
    const wake = this.wake;
    if (wake) {
      this.wake = undefined;
      wake();
    }
  }

  take(): PublishedResult | undefined {
    if (this.count === 0) return undefined;
    const p = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.ring.length;
    this.count--;
    this.delivered++;
    return p;
  }

  waitForResult(signal?: AbortSignal): Promise<void> {
    if (this.count > 0 || this.closed) return Promise.resolve();
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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ring.fill(undefined);
    this.count = 0;
    this.onClose(this);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

interface StreamEntry {
  streamId: string;
  workers: Set<string>;
  latest: Map<ResultKind, PublishedResult>;
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

/**
 * The hub. `publish` validates and fans out synchronously; it never waits for a subscriber.
 * Memory is bounded: each subscriber queue holds at most `subscriberQueueLength` results, the
 * number of streams and workers tracked is capped, and idle ones are forgotten after IDLE_FORGET_US.
 */
export class ResultHub {
  private readonly queueLength: number;
  private readonly latencyWindow: number;
  private readonly limits: ResultLimits;
  private readonly now: () => number;
  private readonly logger: { warn(message: string): void } | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private readonly taps = new Set<(p: PublishedResult) => void>();
  private readonly streamEntries = new Map<string, StreamEntry>();
  private readonly workerEntries = new Map<string, WorkerEntry>();
  private published = 0;
  private rejected = 0;
  private dropsOfClosed = 0;
  private tapFailures = 0;
  private readonly loggedTapFailures = new Set<string>();
  private lastSweepUs = 0;

  constructor(options: ResultHubOptions = {}) {
    this.queueLength = options.subscriberQueueLength ?? DEFAULT_SUBSCRIBER_QUEUE_LENGTH;
    this.latencyWindow = options.latencyWindow ?? DEFAULT_LATENCY_WINDOW;
    for (const [name, value] of [['subscriberQueueLength', this.queueLength], ['latencyWindow', this.latencyWindow]] as const) {
      if (!(Number.isSafeInteger(value) && value >= 1)) throw new ResultHubConfigError(`${name} must be an integer >= 1, got ${value}`);
    }
    this.limits = options.limits ?? DEFAULT_RESULT_LIMITS;
    this.now = options.now ?? nowMicros;
    this.logger = options.logger;
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
    const p = new Published(result, kind, received);
    this.published++;
    this.account(p);
    for (const tap of this.taps) {
      try {
        tap(p);
      } catch (error) {
        this.tapFailed(error);
      }
    }
    for (const s of this.subscribers) if (s.matches(p)) s.push(p);
    return p;
  }

  /** `fn` sees every published result, synchronously, in order. It must not throw (a throw is
   *  counted and logged, and publish goes on). Returns the function that removes it. */
  addTap(fn: (p: PublishedResult) => void): () => void {
    this.taps.add(fn);
    return () => this.taps.delete(fn);
  }

  subscribe(filter: ResultFilter = {}): ResultSubscription {
    const s = new Subscriber(filter, this.queueLength, (closed) => {
      this.subscribers.delete(closed);
      this.dropsOfClosed += closed.dropped;
    });
    this.subscribers.add(s);
    return s;
  }

  latest(streamId: string, kind: ResultKind): PublishedResult | undefined {
    return this.streamEntries.get(streamId)?.latest.get(kind);
  }

  streams(): StreamSummary[] {
    return [...this.streamEntries.values()].map((e) => ({
      streamId: e.streamId,
      workers: [...e.workers].sort(),
      kinds: [...e.latest.keys()].sort((a, b) => a - b),
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
    return {
      published: this.published,
      rejected: this.rejected,
      subscribers: this.subscribers.size,
      subscriberDrops: drops,
      tapFailures: this.tapFailures,
    };
  }

  /** Closes every subscription (their waiters resolve) and removes the taps. */
  close(): void {
    for (const s of [...this.subscribers]) s.close();
    this.taps.clear();
  }

  private tapFailed(error: unknown): void {
    this.tapFailures++;
    const message = error instanceof Error ? error.message : String(error);
    if (this.loggedTapFailures.size < MAX_LOGGED_TAP_FAILURES && !this.loggedTapFailures.has(message)) {
      this.loggedTapFailures.add(message);
      this.logger?.warn(`result tap failed (logged once per cause): ${message}`);
    }
  }

  private account(p: PublishedResult): void {
    const r = p.result;
    const now = p.receivedTimeUs;
    if (now - this.lastSweepUs >= IDLE_SWEEP_INTERVAL_US) this.forgetIdle(now);

    let stream = this.streamEntries.get(r.streamId);
    if (stream === undefined) {
      evictOldest(this.streamEntries, MAX_TRACKED_STREAMS);
      stream = {
        streamId: r.streamId,
        workers: new Set(),
        latest: new Map(),
        resultsTotal: 0,
        lastFrameSequence: 0,
        lastCaptureTimeUs: 0,
        lastReceivedTimeUs: 0,
      };
      this.streamEntries.set(r.streamId, stream);
    }
    stream.workers.add(r.workerId);
    stream.latest.set(p.kind, p);
    stream.resultsTotal++;
    stream.lastFrameSequence = r.frameSequence;
    stream.lastCaptureTimeUs = r.captureTimeUs;
    stream.lastReceivedTimeUs = now;

    const key = `${r.streamId}\n${r.workerId}`;
    let worker = this.workerEntries.get(key);
    if (worker === undefined) {
      evictOldest(this.workerEntries, MAX_TRACKED_WORKERS);
      worker = {
        workerId: r.workerId,
        streamId: r.streamId,
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
    worker.latencies[worker.next] = now - r.captureTimeUs;
    worker.received[worker.next] = now;
    worker.next = (worker.next + 1) % this.latencyWindow;
    if (worker.samples < this.latencyWindow) worker.samples++;
  }

  private forgetIdle(now: number): void {
    this.lastSweepUs = now;
    for (const [id, s] of this.streamEntries) if (now - s.lastReceivedTimeUs > IDLE_FORGET_US) this.streamEntries.delete(id);
    for (const [key, w] of this.workerEntries) if (now - w.lastReceivedTimeUs > IDLE_FORGET_US) this.workerEntries.delete(key);
    // A forgotten worker leaves its stream's worker list too.
    for (const s of this.streamEntries.values()) {
      for (const workerId of s.workers) if (!this.workerEntries.has(`${s.streamId}\n${workerId}`)) s.workers.delete(workerId);
    }
  }
}

/** Makes room for one more entry by forgetting the least recently active one. */
function evictOldest(map: Map<string, { lastReceivedTimeUs: number }>, cap: number): void {
  if (map.size < cap) return;
  let oldestKey: string | undefined;
  let oldest = Infinity;
  for (const [key, e] of map) {
    if (e.lastReceivedTimeUs < oldest) {
      oldest = e.lastReceivedTimeUs;
      oldestKey = key;
    }
  }
  if (oldestKey !== undefined) map.delete(oldestKey);
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
