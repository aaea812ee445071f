// The gRPC adapter of framewire.v1.ResultHub: PublishResults into the hub (results validated one by
// one), SubscribeResults out of it with transport backpressure (the hub's drop-oldest queue is the
// only buffer), and Replay from the archive; with a token, all three require it.
import * as grpc from '@grpc/grpc-js';
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
import {
  ID_PATTERN,
  PublishedResult,
  RESULT_KINDS,
  ReplayRequestError,
  ResultFilter,
  ResultHub,
  ResultValidationError,
  replayResults,
} from '@framewire/results';
import { Secret, unauthenticatedError } from '@framewire/service';

/** Live subscriptions at once; more get RESOURCE_EXHAUSTED. */
export const DEFAULT_MAX_SUBSCRIBERS = 256;
/** Bytes of results a subscriber's call may hold in the transport (written, not yet handed to
 *  HTTP/2, which waits for the client's flow-control window); beyond it results wait in the hub's
 *  queue. One result larger than this is still written alone. As /ws's FW-side socket bound. */
export const SUBSCRIBER_TRANSPORT_WINDOW_BYTES = 1024 * 1024;
const CONTEXT = 'ResultHubGrpc';

export interface ResultHubGrpcOptions {
  archiveDirectory: string;
  /** When set, every call (PublishResults, SubscribeResults, Replay) requires `authorization: Bearer <token>`. */
  token?: Secret<string>;
  logger: LoggerService;
  maxSubscribers?: number;
  /** Aborted when the service stops: running SubscribeResults and Replay calls end. */
  signal?: AbortSignal;
}

type GrpcStatus = Partial<grpc.StatusObject> & { code: grpc.status; details: string };

/** A SubscribeResultsResponse the hub encoded once for every subscriber
 *  (PublishedResult.encodedResponse()); grpc-js sends its bytes as they are. */
class EncodedSubscribeResponse {
  readonly bytes: Buffer;
  constructor(p: PublishedResult) {
    const encoded = p.encodedResponse();
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
    responseSerialize: (value: SubscribeResultsResponse | EncodedSubscribeResponse): Buffer =>
      value instanceof EncodedSubscribeResponse ? value.bytes : Buffer.from(SubscribeResultsResponse.encode(value).finish()),
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

/**
 * Writes to `call` while the bytes written and not yet handed to HTTP/2 stay within
 * SUBSCRIBER_TRANSPORT_WINDOW_BYTES, and grpc-js's own buffer does not need to drain: that buffer
 * alone (writableNeedDrain at 16 messages of any size) would be a hidden queue of up to 16 large
 * results per subscriber.
 */
function transportWindow(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal) {
  let inFlight = 0;
  let wake: (() => void) | undefined;
  return {
    /** Whether `bytes` more fit (always when nothing is in flight). */
    fits(bytes: number): boolean {
      return inFlight === 0 || (inFlight + bytes <= SUBSCRIBER_TRANSPORT_WINDOW_BYTES && !call.writableNeedDrain);
    },
    /** Resolves when a write was handed to HTTP/2 (which also drains grpc-js's buffer), or the call ended. */
    written(): Promise<void> {
      return new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        };
        wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    },
    write(message: unknown, bytes: number): void {
      inFlight += bytes;
      call.write(message, () => {
        inFlight -= bytes;
        wake?.();
      });
    },
  };
}

/** Waits for 'drain' or the end of the call, whichever comes first. */
function drained(call: grpc.ServerWritableStream<unknown, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
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

/** The handlers of framewire.v1.ResultHub over `hub`; register with resultHubServiceDefinition
 *  (ResultHubService works too, with grpc-js's own errors for undecodable requests). */
export function resultHubGrpcService(hub: ResultHub, options: ResultHubGrpcOptions): grpc.UntypedServiceImplementation {
  const { logger, token, archiveDirectory } = options;
  const maxSubscribers = options.maxSubscribers ?? DEFAULT_MAX_SUBSCRIBERS;

  const publishResults = (
    call: grpc.ServerReadableStream<Buffer | PublishResultsRequest, PublishResultsResponse>,
    callback: grpc.sendUnaryData<PublishResultsResponse>,
  ): void => {
    const denied = unauthenticatedError(call.metadata, token);
    if (denied) {
      callback(denied);
      return;
    }
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
  };

  const subscribeResults = (call: grpc.ServerWritableStream<SubscribeResultsRequest, SubscribeResultsResponse>): void => {
    const denied = unauthenticatedError(call.metadata, token);
    if (denied) {
      call.emit('error', denied);
      return;
    }
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
    const subscription = hub.subscribe(filter);
    const controller = callController(call as grpc.ServerWritableStream<unknown, unknown>, options.signal);
    const { signal } = controller;
    signal.addEventListener('abort', () => subscription.close(), { once: true });
    const window = transportWindow(call as grpc.ServerWritableStream<unknown, unknown>, signal);
    void (async () => {
      try {
        while (!signal.aborted && !subscription.closed) {
          await subscription.waitForResult(signal);
          // Take a result only when the transport has room for it: what waits meanwhile waits in
          // the hub's queue (bounded in count and bytes), where the oldest is dropped and counted.
          while (!signal.aborted) {
            const next = subscription.peek();
            if (next === undefined) break;
            if (!window.fits(next.retainedBytes)) {
              await window.written();
              continue;
            }
            subscription.take();
            window.write(new EncodedSubscribeResponse(next), next.retainedBytes);
          }
        }
        if (!signal.aborted) call.end();
      } catch (error) {
        if (!signal.aborted) {
          logger.error(`SubscribeResults: ${(error as Error).stack ?? String(error)}`, CONTEXT);
          call.emit('error', { code: grpc.status.INTERNAL, details: 'internal error in the result hub' });
        }
      } finally {
        subscription.close();
      }
    })();
  };

  const replay = (call: grpc.ServerWritableStream<ReplayRequest, ReplayResponse>): void => {
    const denied = unauthenticatedError(call.metadata, token);
    if (denied) {
      call.emit('error', denied);
      return;
    }
    const r = call.request;
    const controller = callController(call as grpc.ServerWritableStream<unknown, unknown>, options.signal);
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
    void (async () => {
      try {
        for await (const result of results) {
          if (signal.aborted) break;
          if (!call.write({ result })) await drained(call as grpc.ServerWritableStream<unknown, unknown>, signal);
        }
        if (!signal.aborted) call.end();
      } catch (error) {
        if (signal.aborted) return;
        // A damaged archive: the results before the damage were sent; say what stopped the replay.
        logger.warn(`Replay of ${r.streamId}: ${(error as Error).message}`, CONTEXT);
        call.emit('error', { code: grpc.status.DATA_LOSS, details: `replay stopped: ${(error as Error).message}` });
      }
    })();
  };

  return { publishResults, subscribeResults, replay } as grpc.UntypedServiceImplementation;
}
