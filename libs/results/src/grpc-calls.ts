// framewire.v1.ResultHub's calls over grpc-js calls, without Nest: PublishResults into the hub
// (results validated one by one), SubscribeResults out of it with transport backpressure (the hub's
// drop-oldest queue is the only buffer, and what the transport holds counts in the hub's budget), and
// Replay from the archive with the same window; a call whose client reads nothing ends with
// RESOURCE_EXHAUSTED. The gateway's controller calls these; the bearer token is its guard's.
import * as grpc from '@grpc/grpc-js';
import { constants as http2Constants } from 'node:http2';
import type { LoggerService } from '@nestjs/common';
import {
  PublishResultsRequest,
  PublishResultsResponse,
  ReplayRequest,
  ReplayResponse,
  Result,
  ResultHubService,
  ResultKind,
  SubscribeResultsRequest,
  SubscribeResultsResponse,
} from '@framewire/proto';
import { DEFAULT_STALL_TIMEOUT_MS, describeStall, nowMicros, ResultFilter, ResultHub, SubscriberStalledError } from './hub';
import { ReplayRequestError, replayResults } from './replay';
import { TransportMeter } from './transport-meter';
import { ID_PATTERN, RESULT_KINDS, ResultValidationError } from './validate';

/** Live subscriptions at once; more get RESOURCE_EXHAUSTED. */
export const DEFAULT_MAX_SUBSCRIBERS = 256;
/** Bytes of results a subscriber's call may hold in the transport (written, not yet handed to
 *  HTTP/2, which waits for the client's flow-control window); beyond it results wait in the hub's
 *  queue. One result larger than this is still written alone. As /ws's FW-side socket bound. */
export const SUBSCRIBER_TRANSPORT_WINDOW_BYTES = 1024 * 1024;
/** Replay calls at once; more get RESOURCE_EXHAUSTED (each reads archive files and holds a window). */
export const DEFAULT_MAX_REPLAY_CALLS = 8;
/** A stalled call is first ended with its status, which HTTP/2 sends after what the stream still
 *  holds; a client that reads again within this learns the reason. Then the stream is reset
 *  (RST_STREAM ENHANCE_YOUR_CALM, which clients report as RESOURCE_EXHAUSTED) and its buffers freed. */
export const STALLED_CALL_GRACE_MS = 1_000;
/** Server-call layers grpc-js keeps between a call and its HTTP/2 stream (interceptors add some). */
const MAX_CALL_LAYERS = 8;
const CONTEXT = 'ResultHubGrpc';

export interface ResultSubscriptionOptions {
  logger: LoggerService;
  maxSubscribers?: number;
  /** Aborted when the service stops: running calls end. */
  signal?: AbortSignal;
}

export interface ReplayCallOptions {
  archiveDirectory: string;
  logger: LoggerService;
  maxReplays?: number;
  /** A Replay call whose transport hands nothing on for this long ends (the hub's own bound does
   *  this for SubscribeResults). */
  stallTimeoutMs?: number;
  /** Aborted when the service stops: running calls end. */
  signal?: AbortSignal;
}

type GrpcStatus = Partial<grpc.StatusObject> & { code: grpc.status; details: string };

/** A response already encoded (a SubscribeResultsResponse the hub encoded once for every
 *  subscriber, a ReplayResponse encoded to know its size); grpc-js sends its bytes as they are. */
class EncodedResponse {
  readonly bytes: Buffer;
  constructor(encoded: Uint8Array) {
    this.bytes = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  }
}

/**
 * ResultHubService with two changes of (de)serialization, same wire format: PublishResults hands
 * the handler the raw request bytes (so a malformed message is an INVALID_ARGUMENT naming its index
 * in the call, not grpc-js's INTERNAL), and SubscribeResults writes the responses the hub encoded
 * (one encoding per result, whatever the number of subscribers). Register it with resultHubGrpcService.
 */
export const resultHubServiceDefinition = {
  ...ResultHubService,
  publishResults: {
    ...ResultHubService.publishResults,
    requestDeserialize: (value: Buffer): Buffer => value,
  },
  subscribeResults: {
    ...ResultHubService.subscribeResults,
    responseSerialize: (value: SubscribeResultsResponse | EncodedResponse): Buffer =>
      value instanceof EncodedResponse ? value.bytes : Buffer.from(SubscribeResultsResponse.encode(value).finish()),
  },
  replay: {
    ...ResultHubService.replay,
    responseSerialize: (value: ReplayResponse | EncodedResponse): Buffer => (value instanceof EncodedResponse ? value.bytes : Buffer.from(ReplayResponse.encode(value).finish())),
  },
} as const;

function checkFilterId(value: string, field: string): void {
  if (value !== '' && (!ID_PATTERN.test(value) || value === '.' || value === '..')) {
    throw new ReplayRequestError(field, `must be empty or 1-64 of A-Z a-z 0-9 . _ - (got ${JSON.stringify(value)})`);
  }
}

function checkKinds(kinds: readonly ResultKind[]): void {
  for (const kind of kinds) if (!RESULT_KINDS.includes(kind)) throw new ReplayRequestError('kinds', `unknown result kind ${String(kind)}`);
}

/** Whether `bytes` more may be written to `call` whose transport holds `held`: always when it holds
 *  nothing; else while within SUBSCRIBER_TRANSPORT_WINDOW_BYTES and grpc-js's own buffer does not
 *  need to drain (that buffer alone, writableNeedDrain at 16 messages of any size, would be a hidden
 *  queue of up to 16 large results per call). */
function windowFits(call: grpc.ServerWritableStream<unknown, unknown>, held: number, bytes: number): boolean {
  return held === 0 || (held + bytes <= SUBSCRIBER_TRANSPORT_WINDOW_BYTES && !call.writableNeedDrain);
}

/** The HTTP/2 stream under a grpc-js server call (grpc-js does not expose it; found through its
 *  call layers), or undefined if grpc-js changed. */
function http2StreamOf(call: grpc.ServerWritableStream<unknown, unknown>): { close(code: number): void; closed: boolean } | undefined {
  let layer = (call as unknown as { call?: unknown }).call as { stream?: unknown; nextCall?: unknown } | undefined;
  for (let i = 0; layer !== undefined && i < MAX_CALL_LAYERS; i++) {
    const stream = layer.stream as { close?: unknown; closed?: unknown } | undefined;
    if (stream !== undefined && typeof stream.close === 'function' && typeof stream.closed === 'boolean') return stream as { close(code: number): void; closed: boolean };
    layer = layer.nextCall as typeof layer;
  }
  return undefined;
}

/**
 * Ends a call whose client reads nothing: RESOURCE_EXHAUSTED with `details`, which reaches a client
 * that reads again within STALLED_CALL_GRACE_MS (the status waits behind what the stream holds);
 * then the HTTP/2 stream is reset, which frees what it holds (grpc-js alone would keep it for as
 * long as the client does not read).
 */
function endStalledCall(call: grpc.ServerWritableStream<unknown, unknown>, details: string, logger: LoggerService): void {
  call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details });
  const timer = setTimeout(() => {
    const stream = http2StreamOf(call);
    if (stream === undefined) logger.error('cannot reset the HTTP/2 stream of a stalled call: grpc-js internals changed', undefined, CONTEXT);
    else if (!stream.closed) stream.close(http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
  }, STALLED_CALL_GRACE_MS);
  const done = (): void => clearTimeout(timer);
  call.once('close', done);
  call.once('cancelled', done);
}

/** An AbortController that aborts when the call ends (cancel, error, close) or the service stops. */
function callController(call: grpc.ServerWritableStream<unknown, unknown>, stop: AbortSignal | undefined): AbortController {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  call.on('cancelled', abort);
  call.on('error', abort);
  call.on('close', abort);
  if (stop) {
    if (stop.aborted) abort();
    else {
      stop.addEventListener('abort', abort, { once: true });
      controller.signal.addEventListener('abort', () => stop.removeEventListener('abort', abort), { once: true });
    }
  }
  return controller;
}

function optional(value: number): number | undefined {
  return value === 0 ? undefined : value;
}

/** PublishResults: each result of the call into `hub`; the callback answers with the count, or with
 *  INVALID_ARGUMENT naming the first bad result (nothing after it is taken). */
export function receivePublishedResults(
  hub: ResultHub,
  call: grpc.ServerReadableStream<Buffer | PublishResultsRequest, PublishResultsResponse>,
  callback: grpc.sendUnaryData<PublishResultsResponse>,
  logger: LoggerService,
): void {
  let received = 0;
  let finished = false;
  const finish = (error: GrpcStatus | null): void => {
    if (finished) return;
    finished = true;
    if (error) {
      // Stop reading: nothing after the bad result is taken.
      call.pause();
      callback(error);
    } else {
      callback(null, { resultsReceived: received });
    }
  };
  call.on('data', (message: Buffer | PublishResultsRequest) => {
    if (finished) return;
    const index = received;
    try {
      let request: PublishResultsRequest;
      if (Buffer.isBuffer(message)) {
        try {
          request = PublishResultsRequest.decode(message);
        } catch (error) {
          throw new ResultValidationError('result', `malformed protobuf in ${message.length} bytes (${(error as Error).message})`);
        }
      } else {
        request = message;
      }
      if (request.result === undefined) throw new ResultValidationError('result', 'missing: PublishResultsRequest.result is required');
      hub.publish(request.result);
      received++;
    } catch (error) {
      if (error instanceof ResultValidationError) {
        finish({ code: grpc.status.INVALID_ARGUMENT, details: `result ${index} of this call (after ${received} accepted): ${error.message}` });
      } else {
        logger.error(`PublishResults: ${(error as Error).stack ?? String(error)}`, CONTEXT);
        finish({ code: grpc.status.INTERNAL, details: 'internal error in the result hub' });
      }
    }
  });
  call.on('end', () => finish(null));
  call.on('error', () => {
    finished = true;
  });
}

/** SubscribeResults: the hub's results matching the call's filter, each taken from the hub's queue
 *  only when the transport window has room for it. */
export function streamSubscribedResults(
  hub: ResultHub,
  call: grpc.ServerWritableStream<SubscribeResultsRequest, SubscribeResultsResponse>,
  options: ResultSubscriptionOptions,
): void {
  const { logger } = options;
  const maxSubscribers = options.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;
  const request = call.request;
  let filter: ResultFilter;
  try {
    checkFilterId(request.streamId, 'stream_id');
    checkFilterId(request.workerId, 'worker_id');
    checkKinds(request.kinds);
    filter = { streamId: request.streamId, workerId: request.workerId, kinds: request.kinds };
  } catch (error) {
    call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: (error as Error).message });
    return;
  }
  if (hub.subscriberCount >= maxSubscribers) {
    call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `the result hub serves at most ${maxSubscribers} subscribers` });
    return;
  }
  const subscription = hub.subscribe(filter, `SubscribeResults from ${call.getPeer()}`);
  const writable = call as grpc.ServerWritableStream<unknown, unknown>;
  const { signal } = callController(writable, options.signal);
  // What the transport holds counts in the hub's budget until the stream is gone: the call's end
  // closes the subscription, not the stall (the stalled stream still holds its bytes for the grace).
  const closeSubscription = (): void => subscription.close();
  call.once('cancelled', closeSubscription);
  call.once('close', closeSubscription);
  options.signal?.addEventListener('abort', closeSubscription, { once: true });
  subscription.signal.addEventListener(
    'abort',
    () => {
      const reason: unknown = subscription.signal.reason;
      if (reason instanceof SubscriberStalledError) endStalledCall(writable, reason.message, logger);
    },
    { once: true },
  );
  void (async () => {
    try {
      // Take a result only when the transport has room for it: what waits meanwhile waits in the
      // hub's queue (bounded in count and bytes), where the oldest is dropped and counted.
      while (!signal.aborted && !subscription.closed) {
        const next = subscription.peek();
        if (next === undefined) {
          await subscription.waitForResult(signal);
          continue;
        }
        const p = windowFits(writable, subscription.transportBytes, next.retainedBytes) ? subscription.takeForTransport() : undefined;
        if (p === undefined) {
          await subscription.waitForRoom(signal);
          continue;
        }
        writable.write(new EncodedResponse(p.encodedResponse()), () => subscription.transported(p));
      }
      if (!signal.aborted && !(subscription.signal.reason instanceof SubscriberStalledError)) call.end();
    } catch (error) {
      if (!signal.aborted) {
        logger.error(`SubscribeResults: ${(error as Error).stack ?? String(error)}`, CONTEXT);
        call.emit('error', { code: grpc.status.INTERNAL, details: 'internal error in the result hub' });
        subscription.close();
      }
    } finally {
      options.signal?.removeEventListener('abort', closeSubscription);
    }
  })();
}

/** Replay calls from an archive directory, at most maxReplays at once (each reads archive files and
 *  holds a transport window). */
export class ReplayCalls {
  private running = 0;
  private readonly maxReplays: number;
  private readonly stallTimeoutMs: number;

  constructor(private readonly options: ReplayCallOptions) {
    this.maxReplays = options.maxReplays ?? DEFAULT_MAX_REPLAY_CALLS;
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  }

  /** Replay calls running now. */
  get count(): number {
    return this.running;
  }

  /** Streams the results the call asks for, in the window of SUBSCRIBER_TRANSPORT_WINDOW_BYTES; a
   *  call that takes nothing for the stall timeout ends RESOURCE_EXHAUSTED, a damaged archive DATA_LOSS. */
  serve(call: grpc.ServerWritableStream<ReplayRequest, ReplayResponse>): void {
    const { logger, archiveDirectory } = this.options;
    const stallTimeoutMs = this.stallTimeoutMs;
    const r = call.request;
    const controller = callController(call as grpc.ServerWritableStream<unknown, unknown>, this.options.signal);
    const { signal } = controller;
    let results: AsyncIterable<Result>;
    try {
      if (r.streamId === '') throw new ReplayRequestError('stream_id', 'is required');
      checkKinds(r.kinds);
      results = replayResults({
        directory: archiveDirectory,
        streamId: r.streamId,
        kinds: r.kinds,
        fromSequence: optional(r.fromSequence),
        toSequence: optional(r.toSequence),
        fromTimeUs: optional(r.fromTimeUs),
        toTimeUs: optional(r.toTimeUs),
        recordedPace: r.recordedPace,
        signal,
      });
    } catch (error) {
      const details = error instanceof ReplayRequestError ? error.message : String(error);
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details });
      return;
    }
    if (this.running >= this.maxReplays) {
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `the gateway serves at most ${this.maxReplays} Replay calls at once` });
      return;
    }
    this.running++;
    const writable = call as grpc.ServerWritableStream<unknown, unknown>;
    // Encoded here, so that the window counts bytes: grpc-js would keep up to 16 decoded results.
    const meter = new TransportMeter(nowMicros);
    let handedOn: (() => void) | undefined;
    void (async () => {
      try {
        for await (const result of results) {
          if (signal.aborted) break;
          const bytes = ReplayResponse.encode({ result }).finish();
          while (!windowFits(writable, meter.bytes, bytes.length) && !signal.aborted) {
            const stalledMs = meter.stalledForUs() / 1000;
            if (stalledMs >= stallTimeoutMs) {
              const details = describeStall('replay', stalledMs, meter.bytes);
              logger.warn(`Replay of ${r.streamId} from ${call.getPeer()} ended: ${details}`, CONTEXT);
              endStalledCall(writable, details, logger);
              return;
            }
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, stallTimeoutMs - stalledMs);
              const onAbort = (): void => resolve();
              signal.addEventListener('abort', onAbort, { once: true });
              handedOn = () => {
                clearTimeout(timer);
                signal.removeEventListener('abort', onAbort);
                resolve();
              };
            });
            handedOn = undefined;
          }
          if (signal.aborted) break;
          meter.hold(bytes.length);
          writable.write(new EncodedResponse(bytes), () => {
            meter.handedOn(bytes.length);
            handedOn?.();
          });
        }
        if (!signal.aborted) call.end();
      } catch (error) {
        if (signal.aborted) return;
        // A damaged archive: the results before the damage were sent; say what stopped the replay.
        logger.warn(`Replay of ${r.streamId}: ${(error as Error).message}`, CONTEXT);
        call.emit('error', { code: grpc.status.DATA_LOSS, details: `replay stopped: ${(error as Error).message}` });
      } finally {
        this.running--;
      }
    })();
  }
}

/** The three calls as a plain grpc-js service over `hub` (for a grpc.Server without Nest: tests and
 *  benchmarks); register with resultHubServiceDefinition. */
export function resultHubGrpcService(hub: ResultHub, options: ResultSubscriptionOptions & ReplayCallOptions): grpc.UntypedServiceImplementation {
  const replays = new ReplayCalls(options);
  return {
    publishResults: (call: grpc.ServerReadableStream<Buffer | PublishResultsRequest, PublishResultsResponse>, callback: grpc.sendUnaryData<PublishResultsResponse>) =>
      receivePublishedResults(hub, call, callback, options.logger),
    subscribeResults: (call: grpc.ServerWritableStream<SubscribeResultsRequest, SubscribeResultsResponse>) => streamSubscribedResults(hub, call, options),
    replay: (call: grpc.ServerWritableStream<ReplayRequest, ReplayResponse>) => replays.serve(call),
  } as grpc.UntypedServiceImplementation;
}
