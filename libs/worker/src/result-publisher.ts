// Publishing a worker's results to the gateway over one long-lived client-streaming PublishResults
// call. Never blocks the frame loop: results wait, encoded, in a queue bounded in count and bytes
// that drops the oldest when the gateway is slow or away (counted, logged once per outage); writes
// follow the call's back-pressure; the call is reopened with jittered backoff after a failure, and
// at once after a result was refused.
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff, BackoffOptions, DEFAULT_BACKOFF, LONG_LIVED_CALL_CHANNEL_OPTIONS, waitForChannelReady } from '@framewire/grpc-client';
import { PublishResultsRequest, Result, ResultHubService } from '@framewire/proto';

/** Results held while the gateway is slow or away; beyond this the oldest is dropped. */
export const DEFAULT_MAX_QUEUED_RESULTS = 256;
/** Bytes of encoded results held while the gateway is slow or away; beyond this the oldest go. */
export const DEFAULT_MAX_QUEUED_RESULT_BYTES = 16 * 1024 * 1024;
/** Writes handed to grpc-js whose flush has not been confirmed; bounds what hides in the transport. */
export const MAX_WRITES_IN_FLIGHT = 4;
/** Reconnect backoff: 100 ms doubling to 5 s; each wait is 50-100 % of its step (Backoff). */
export const DEFAULT_PUBLISH_BACKOFF: Readonly<BackoffOptions> = DEFAULT_BACKOFF;
/** A call that lived this long was a success: the next reconnect starts from the initial wait. */
export const BACKOFF_RESET_AFTER_MS = 10_000;
/** Bound on one wait for the channel to become ready before backing off. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 1_000;
/** Default bound on close(): flushing the queue and ending the call. */
export const DEFAULT_PUBLISHER_CLOSE_TIMEOUT_MS = 2_000;
const CONTEXT = 'ResultPublisher';

/** ResultHub's PublishResults taking requests the publisher encoded itself: a result waits as its
 *  bytes, which are what the queue is bounded by (decoded, it takes about ten times more). */
const EncodedPublishClient = grpc.makeGenericClientConstructor(
  { publishResults: { ...ResultHubService.publishResults, requestSerialize: (bytes: Buffer): Buffer => bytes } },
  'framewire.v1.ResultHub',
);

/** The part of Nest's LoggerService the publisher uses. */
export interface PublisherLogger {
  log(message: unknown, context?: string): void;
  warn(message: unknown, context?: string): void;
  error(message: unknown, stack?: string, context?: string): void;
  debug?(message: unknown, context?: string): void;
}

export interface ResultPublisherOptions {
  /** host:port of the gateway. */
  address: string;
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Sent with every call, e.g. tokenMetadata(token). */
  metadata?: grpc.Metadata;
  maxQueued?: number;
  /** Bytes of encoded results held at most (a single larger result is still held alone). */
  maxQueuedBytes?: number;
  backoff?: { initialMs: number; maxMs: number };
  connectTimeoutMs?: number;
  logger?: PublisherLogger;
}

export interface ResultPublisherStats {
  /** Results given to publish(). */
  accepted: number;
  /** Results written to a call. */
  written: number;
  /** Results dropped: oldest out of a full queue, or still queued at close. */
  dropped: number;
  /** Calls opened after the first. */
  reconnects: number;
  /** Calls the gateway ended with INVALID_ARGUMENT (a result it refused). */
  refusedCalls: number;
  /** Sum of results_received the gateway reported for calls that ended normally. */
  acknowledged: number;
  connected: boolean;
  queued: number;
  /** Bytes of the encoded results queued. */
  queuedBytes: number;
}

type PublishCall = grpc.ClientWritableStream<Buffer>;

interface CallOutcome {
  code: grpc.status;
  details: string;
}

const silentLogger: PublisherLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

export class ResultPublisher {
  private readonly client: grpc.Client;
  private readonly logger: PublisherLogger;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;
  private readonly stopping = new AbortController();
  private readonly counters: Omit<ResultPublisherStats, 'connected' | 'queued' | 'queuedBytes'> = {
    accepted: 0,
    written: 0,
    dropped: 0,
    reconnects: 0,
    refusedCalls: 0,
    acknowledged: 0,
  };
  /** Encoded PublishResultsRequests, oldest first; shift() on a few hundred entries is cheap next
   *  to a gRPC write. */
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private call: PublishCall | undefined;
  private callEnded: Promise<CallOutcome> | undefined;
  private writesInFlight = 0;
  private awaitingDrain = false;
  private callsOpened = 0;
  /** Whether the current outage's drops were logged already. */
  private dropsLogged = false;
  private loop: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Woken when the queue empties (close() waits for it). */
  private onQueueEmpty: (() => void) | undefined;

  constructor(private readonly options: ResultPublisherOptions) {
    this.logger = options.logger ?? silentLogger;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED_RESULTS;
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_RESULT_BYTES;
    for (const [name, value] of [['maxQueued', this.maxQueued], ['maxQueuedBytes', this.maxQueuedBytes]] as const) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
    this.client = new EncodedPublishClient(options.address, options.credentials ?? grpc.credentials.createInsecure(), {
      ...LONG_LIVED_CALL_CHANNEL_OPTIONS,
      ...options.channelOptions,
    });
  }

  get stats(): Readonly<ResultPublisherStats> {
    return { ...this.counters, connected: this.call !== undefined, queued: this.queue.length, queuedBytes: this.queuedBytes };
  }

  /** Starts connecting; results published before the call opens wait in the queue. */
  start(): void {
    this.loop ??= this.connectLoop();
  }

  /** Queues a result for the gateway without ever blocking; drops the oldest queued ones when the
   *  queue is full in count or bytes. */
  publish(result: Result): void {
    this.counters.accepted++;
    if (this.closing) {
      this.counters.dropped++;
      return;
    }
    const encoded = PublishResultsRequest.encode({ result }).finish();
    const request = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    while (this.queue.length > 0 && (this.queue.length >= this.maxQueued || this.queuedBytes + request.length > this.maxQueuedBytes)) {
      this.queuedBytes -= (this.queue.shift() as Buffer).length;
      this.counters.dropped++;
      if (!this.dropsLogged) {
        this.dropsLogged = true;
        this.logger.warn(
          {
            message: 'gateway slow or unavailable: dropping the oldest results',
            address: this.options.address,
            maxQueued: this.maxQueued,
            maxQueuedBytes: this.maxQueuedBytes,
            connected: this.call !== undefined,
          },
          CONTEXT,
        );
      }
    }
    this.queue.push(request);
    this.queuedBytes += request.length;
    this.pump();
  }

  /**
   * Writes what is queued while the call is open (up to `timeoutMs`), ends the call, stops
   * reconnecting and closes the channel. Results not written by then are dropped (counted).
   */
  close(timeoutMs: number = DEFAULT_PUBLISHER_CLOSE_TIMEOUT_MS): Promise<void> {
    this.closing ??= (async () => {
      const deadline = performance.now() + timeoutMs;
      if (this.call !== undefined && (this.queue.length > 0 || this.writesInFlight > 0)) {
        await this.waitUntil(() => this.queue.length === 0 && this.writesInFlight === 0, timeoutMs);
      }
      this.stopping.abort();
      this.counters.dropped += this.queue.length;
      this.queue.length = 0;
      this.queuedBytes = 0;
      const call = this.call;
      const ended = this.callEnded;
      if (call && ended) {
        call.end();
        let timer: NodeJS.Timeout | undefined;
        const left = Math.max(1, deadline - performance.now());
        const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), left)));
        if ((await Promise.race([ended, timedOut])) === 'timeout') call.cancel();
        clearTimeout(timer);
      }
      await this.loop;
      this.client.close();
    })();
    return this.closing;
  }

  /** Resolves when `done()` holds (checked after each write completes) or after `timeoutMs`. */
  private async waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done() && this.call !== undefined && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(20, Math.max(1, deadline - performance.now())));
        this.onQueueEmpty = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.onQueueEmpty = undefined;
    }
  }

  /** Writes queued results while the call takes them. */
  private pump(): void {
    const call = this.call;
    while (call !== undefined && !this.awaitingDrain && this.writesInFlight < MAX_WRITES_IN_FLIGHT && this.queue.length > 0) {
      const request = this.queue.shift() as Buffer;
      this.queuedBytes -= request.length;
      this.writesInFlight++;
      this.counters.written++;
      // The callback comes once grpc-js handed the message to HTTP/2, which waits for the
      // flow-control window: a gateway that does not read stops the callbacks, and the queue fills.
      const accepted = call.write(request, () => {
        if (call !== this.call) return;
        this.writesInFlight--;
        this.pump();
      });
      if (!accepted) this.awaitingDrain = true;
    }
    if (this.call !== undefined && this.queue.length === 0) {
      this.dropsLogged = false;
      if (this.writesInFlight === 0) this.onQueueEmpty?.();
    }
  }

  private async connectLoop(): Promise<void> {
    const signal = this.stopping.signal;
    const backoff = new Backoff(this.options.backoff ?? DEFAULT_PUBLISH_BACKOFF);
    let unavailableLogged = false;
    while (!signal.aborted) {
      const notReady = await waitForChannelReady(this.client, this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, signal);
      if (signal.aborted) break;
      if (notReady !== undefined) {
        const delayMs = backoff.next();
        if (!unavailableLogged) {
          unavailableLogged = true;
          this.logger.warn({ message: 'gateway unavailable; retrying', address: this.options.address, error: notReady.message }, CONTEXT);
        }
        this.logger.debug?.({ message: 'gateway unavailable', address: this.options.address, retryInMs: delayMs }, CONTEXT);
        await sleep(delayMs, undefined, { signal }).catch(() => undefined);
        continue;
      }
      unavailableLogged = false;
      const openedAt = performance.now();
      const outcome = await this.openCall();
      if (signal.aborted) break;
      if (performance.now() - openedAt >= BACKOFF_RESET_AFTER_MS) backoff.reset();
      if (outcome.code === grpc.status.INVALID_ARGUMENT) {
        // The gateway refused one result and ended the call; the ones after it deserve a new call.
        this.counters.refusedCalls++;
        this.logger.error({ message: 'gateway refused a result; opening a new call', details: outcome.details }, undefined, CONTEXT);
        backoff.reset();
        continue;
      }
      const delayMs = backoff.next();
      const log = outcome.code === grpc.status.UNAUTHENTICATED || outcome.code === grpc.status.PERMISSION_DENIED ? 'error' : 'warn';
      const fields = { message: 'publish call ended', address: this.options.address, code: grpc.status[outcome.code], details: outcome.details, retryInMs: delayMs };
      if (log === 'error') this.logger.error(fields, undefined, CONTEXT);
      else this.logger.warn(fields, CONTEXT);
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
    }
  }

  /** Opens a PublishResults call, writes what is queued, and resolves when the call ends. */
  private openCall(): Promise<CallOutcome> {
    let call!: PublishCall;
    const ended = new Promise<CallOutcome>((resolve) => {
      const done = (err: grpc.ServiceError | null, response?: { resultsReceived: number }) => {
        if (this.call === call) {
          this.call = undefined;
          this.callEnded = undefined;
          this.writesInFlight = 0;
          this.awaitingDrain = false;
        }
        if (response) this.counters.acknowledged += response.resultsReceived;
        resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: `gateway ended the call after ${response?.resultsReceived ?? 0} results` });
      };
      const client = this.client as unknown as { publishResults(metadata: grpc.Metadata, callback: typeof done): PublishCall };
      call = client.publishResults(this.options.metadata ?? new grpc.Metadata(), done);
    });
    // Errors arrive through the callback; this listener only keeps an 'error' event from throwing.
    call.on('error', () => undefined);
    call.on('drain', () => {
      if (call !== this.call) return;
      this.awaitingDrain = false;
      this.pump();
    });
    if (this.callsOpened++ > 0) this.counters.reconnects++;
    this.call = call;
    this.callEnded = ended;
    this.writesInFlight = 0;
    this.awaitingDrain = false;
    this.logger.log({ message: 'publishing results', address: this.options.address, reconnects: this.counters.reconnects, queued: this.queue.length }, CONTEXT);
    this.pump();
    return ended;
  }
}
