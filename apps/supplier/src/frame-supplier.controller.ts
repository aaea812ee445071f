// framewire.v1.FrameSupplier as a Nest controller (served by GrpcTransport): turns calls into
// FrameSupplier publishers and subscriptions (with the caller's peer address), decodes
// client-streamed requests itself so that a malformed one is INVALID_ARGUMENT naming its index, and
// turns errors into status codes; the bearer token is checked by GrpcBearerTokenGuard. The logic
// lives in @framewire/supplier.
import * as grpc from '@grpc/grpc-js';
import { Controller, Inject, LoggerService, OnModuleInit, UseGuards } from '@nestjs/common';
import { GrpcMethod, GrpcStreamCall } from '@nestjs/microservices';
import {
  GetStatsResponse,
  ListRingsRequest,
  ListRingsResponse,
  PublishRequest,
  PublishResponse,
  PoolMode,
  PullRequest,
  PullResponse,
  SubscribeRequest,
  SubscribeResponse,
} from '@framewire/proto';
import type { supplier as nest } from '@framewire/proto/nest';
import {
  callerOf,
  deliverFrames,
  FrameDelivery,
  FrameSupplier,
  InvalidRequestError,
  PoolMembershipError,
  PullCredits,
  Subscription,
  SubscriptionEndedError,
  SupplierLimitError,
  SupplierStoppedError,
  WorkerIdInUseError,
  type SubscribeOptions,
} from '@framewire/supplier';
import { GrpcBearerTokenGuard, GrpcTransport, SERVICE_LOGGER } from '@framewire/service-runtime';

type GrpcStatus = Partial<grpc.StatusObject> & { code: grpc.status; details: string };

/** What Subscribe and Pull calls have in common: a stream of `{ delivery }` messages. */
interface DeliveryCall extends NodeJS.EventEmitter {
  readonly cancelled: boolean;
  write(message: { delivery: FrameDelivery }, callback?: (err?: Error | null) => void): boolean;
  end(): void;
}

const CONTEXT = 'SupplierGrpc';

/** A client-streamed request as the handlers receive it: the raw bytes (the service definition
 *  hands them over undecoded, see FrameSupplierDeliveryService) or, from an in-process caller,
 *  the decoded message. */
type Incoming<T> = Buffer | T;

/** A client-streamed message that does not decode: INVALID_ARGUMENT naming its index in the call. */
class MalformedRequestError extends Error {
  constructor(messageType: string, index: number, length: number, cause: Error) {
    super(`request ${index} of this call is not a valid framewire.v1.${messageType}: malformed protobuf in ${length} bytes (${cause.message})`);
    this.name = 'MalformedRequestError';
  }
}

/** `message` decoded with `decode` when it is raw bytes; throws MalformedRequestError. */
function decodeIncoming<T>(message: Incoming<T>, decode: (bytes: Uint8Array) => T, messageType: string, index: number): T {
  if (!Buffer.isBuffer(message)) return message;
  try {
    return decode(message);
  } catch (err) {
    throw new MalformedRequestError(messageType, index, message.length, err as Error);
  }
}

/** Subscribe: writes one message and resolves when the transport took it, so that at most one
 *  message per call waits in our buffers; newer frames wait in the mailbox, where they replace
 *  older ones. */
function writeDelivery(call: DeliveryCall, delivery: FrameDelivery): Promise<void> {
  return new Promise<void>((resolve, reject) => call.write({ delivery }, (err?: Error | null) => (err ? reject(err) : resolve())));
}

/** Pull: the worker's credits already bound what can be on the way (at most PULL_CREDIT_CAP
 *  frames it asked for), so the next frame need not wait for this write's callback; only a full
 *  stream (write() false) makes the loop wait for 'drain'. Write errors end the call ('error'). */
function writeCreditedDelivery(call: DeliveryCall, delivery: FrameDelivery): Promise<void> | undefined {
  if (call.write({ delivery })) return undefined;
  return new Promise<void>((resolve) => call.once('drain', resolve));
}


/** The status a subscription's end turns into (undefined: the client left, nothing to send). */
function statusOfEnd(ended: SubscriptionEndedError): GrpcStatus | undefined {
  switch (ended.reason) {
    case 'replaced':
    case 'taken-over':
      return { code: grpc.status.ABORTED, details: ended.message };
    case 'supplier-stopped':
      return { code: grpc.status.UNAVAILABLE, details: ended.message };
    case 'unsubscribed':
      return undefined;
  }
}

const SERVICE = 'FrameSupplier';

/** A SubscribeRequest as FrameSupplier.subscribe takes it. Throws InvalidRequestError naming
 *  pool_mode for a value the contract does not define. */
function subscribeOptionsOf(request: SubscribeRequest, caller: string | undefined): SubscribeOptions {
  let poolMode: SubscribeOptions['poolMode'];
  switch (request.poolMode) {
    case PoolMode.POOL_MODE_UNSPECIFIED:
    case PoolMode.POOL_MODE_SHARED:
    case undefined:
      poolMode = 'shared';
      break;
    case PoolMode.POOL_MODE_STICKY:
      poolMode = 'sticky';
      break;
    default:
      throw new InvalidRequestError('pool_mode', `pool_mode ${String(request.poolMode)} is not a PoolMode (0 unspecified, 1 shared, 2 sticky)`);
  }
  return { ...request, poolMode, caller };
}

/**
 * Serves framewire.v1.FrameSupplier from the service's FrameSupplier; when the service stops, the
 * supplier is closed (every subscription ends UNAVAILABLE) and running Publish calls are answered.
 * With a token, the frames are guarded both ways (a camera's pictures are as private as they are
 * easy to forge): Publish, Subscribe, Pull and ListRings need `authorization: Bearer <token>`, and
 * answer UNAUTHENTICATED without it before touching the supplier. GetStats (counters) stays open.
 * Subscriptions carry the caller's address (callerOf the peer) for the per-caller limit.
 */
@Controller()
export class FrameSupplierController implements Pick<nest.FrameSupplierController, 'getStats' | 'listRings'>, OnModuleInit {
  /** Ends each running Publish call (with UNAVAILABLE) when the service stops. */
  private readonly publishCalls = new Set<() => void>();

  constructor(
    private readonly supplier: FrameSupplier,
    private readonly transport: GrpcTransport,
    @Inject(SERVICE_LOGGER) private readonly logger: LoggerService,
  ) {}

  onModuleInit(): void {
    // Streams end first, so that the server's drain at shutdown has nothing left to wait for.
    this.transport.stopSignal.addEventListener('abort', () => this.stop(), { once: true });
  }

  @GrpcStreamCall(SERVICE, 'publish')
  @UseGuards(GrpcBearerTokenGuard)
  publish(call: grpc.ServerReadableStream<Incoming<PublishRequest>, PublishResponse>, callback: grpc.sendUnaryData<PublishResponse>): void {
    this.publishFrames(call, callback);
  }

  @GrpcStreamCall(SERVICE, 'subscribe')
  @UseGuards(GrpcBearerTokenGuard)
  subscribe(call: grpc.ServerWritableStream<SubscribeRequest, SubscribeResponse>): void {
    this.subscribeFrames(call);
  }

  @GrpcStreamCall(SERVICE, 'pull')
  @UseGuards(GrpcBearerTokenGuard)
  pull(call: grpc.ServerDuplexStream<Incoming<PullRequest>, PullResponse>): void {
    this.pullFrames(call);
  }

  @GrpcMethod(SERVICE, 'getStats')
  getStats(): GetStatsResponse {
    return { stats: this.supplier.stats() };
  }

  @GrpcMethod(SERVICE, 'listRings')
  @UseGuards(GrpcBearerTokenGuard)
  listRings(request: ListRingsRequest): ListRingsResponse {
    return { rings: this.supplier.rings(request.streamId) };
  }

  /** Ends every subscription and running Publish call: the service is stopping. */
  private stop(): void {
    this.supplier.close();
    for (const end of [...this.publishCalls]) end();
  }

  /** The status for an error thrown by FrameSupplier; unexpected errors are logged once here. */
  private statusOf(err: unknown, method: string): GrpcStatus {
    if (err instanceof InvalidRequestError || err instanceof MalformedRequestError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
    if (err instanceof WorkerIdInUseError) return { code: grpc.status.ALREADY_EXISTS, details: err.message };
    if (err instanceof SupplierLimitError) return { code: grpc.status.RESOURCE_EXHAUSTED, details: err.message };
    if (err instanceof PoolMembershipError) return { code: grpc.status.FAILED_PRECONDITION, details: err.message };
    if (err instanceof SupplierStoppedError) return { code: grpc.status.UNAVAILABLE, details: err.message };
    this.logger.error({ message: 'unexpected error in call', method, error: String(err) }, (err as Error)?.stack, CONTEXT);
    return { code: grpc.status.INTERNAL, details: 'internal error in the frame supplier' };
  }

  private publishFrames(call: grpc.ServerReadableStream<Incoming<PublishRequest>, PublishResponse>, callback: grpc.sendUnaryData<PublishResponse>): void {
    let publisher;
    try {
      publisher = this.supplier.openPublisher();
    } catch (err) {
      callback(this.statusOf(err, 'Publish'));
      return;
    }
    const owned = publisher;
    let finished = false;
    const finish = (status: GrpcStatus | null) => {
      if (finished) return;
      finished = true;
      this.publishCalls.delete(stop);
      owned.close();
      if (status) callback(status);
      else callback(null, { framesReceived: owned.framesReceived, inboxDrops: owned.inboxDrops });
    };
    const stop = () => finish({ code: grpc.status.UNAVAILABLE, details: 'the frame supplier is stopping' });
    this.publishCalls.add(stop);
    let received = 0;
    call.on('data', (message: Incoming<PublishRequest>) => {
      if (finished) return;
      try {
        owned.publish(decodeIncoming(message, PublishRequest.decode, 'PublishRequest', received++).frame);
      } catch (err) {
        // A bad frame ends this call only; other publishers and workers carry on. Stop reading.
        call.pause();
        finish(this.statusOf(err, 'Publish'));
      }
    });
    call.on('end', () => finish(null));
    call.on('cancelled', () => finish({ code: grpc.status.CANCELLED, details: 'cancelled by the client' }));
    call.on('error', () => finish({ code: grpc.status.CANCELLED, details: 'call failed' }));
  }

  private subscribeFrames(call: grpc.ServerWritableStream<SubscribeRequest, SubscribeResponse>): void {
    let subscription: Subscription;
    try {
      if (call.request.poolId !== undefined && call.request.poolId !== '') {
        throw new InvalidRequestError('pool_id', 'pool_id is set, but pools work through Pull only: a pool needs credits to know which member can take a frame (Subscribe is broadcast)');
      }
      subscription = this.supplier.subscribe(subscribeOptionsOf(call.request, callerOf(call.getPeer())));
    } catch (err) {
      call.emit('error', this.statusOf(err, 'Subscribe'));
      return;
    }
    this.runDelivery(call, subscription, undefined);
  }

  private pullFrames(call: grpc.ServerDuplexStream<Incoming<PullRequest>, PullResponse>): void {
    let subscription: Subscription | undefined;
    const credits = new PullCredits();
    let failed = false;
    let received = 0;
    const fail = (status: GrpcStatus) => {
      if (failed) return;
      failed = true;
      call.pause();
      subscription?.close();
      call.emit('error', status);
    };
    call.on('data', (message: Incoming<PullRequest>) => {
      if (failed) return;
      let request: PullRequest;
      try {
        request = decodeIncoming(message, PullRequest.decode, 'PullRequest', received++);
      } catch (err) {
        fail(this.statusOf(err, 'Pull'));
        return;
      }
      if (subscription === undefined) {
        if (request.subscribe === undefined) {
          fail({ code: grpc.status.INVALID_ARGUMENT, details: 'first Pull request must carry subscribe' });
          return;
        }
        try {
          subscription = this.supplier.subscribe(subscribeOptionsOf(request.subscribe, callerOf(call.getPeer())));
        } catch (err) {
          fail(this.statusOf(err, 'Pull'));
          return;
        }
        this.runDelivery(call, subscription, credits);
      } else if (request.subscribe !== undefined) {
        fail({ code: grpc.status.INVALID_ARGUMENT, details: 'subscribe may be sent only in the first Pull request' });
      } else if (request.credits !== undefined) {
        if (subscription.pool !== undefined) {
          try {
            if (request.credits > 0) subscription.grantPool(request.credits);
          } catch (err) {
            fail(this.statusOf(err, 'Pull'));
          }
          return;
        }
        credits.grant(request.credits);
        subscription.markActive();
      }
    });
    // The worker half-closed: it will grant no more credits, so the call is over.
    call.on('end', () => {
      if (subscription === undefined) fail({ code: grpc.status.INVALID_ARGUMENT, details: 'first Pull request must carry subscribe' });
      else subscription.close();
    });
    call.on('cancelled', () => subscription?.close());
  }

  /** Runs the delivery loop of one call, and ends the call with the status its end calls for. */
  private runDelivery(
    call: DeliveryCall,
    subscription: Subscription,
    credits: PullCredits | undefined,
  ): void {
    const method = credits ? 'Pull' : 'Subscribe';
    call.on('cancelled', () => subscription.close());
    call.on('error', () => subscription.close());
    deliverFrames(
      subscription,
      (delivery) => (credits ? writeCreditedDelivery(call, delivery) : writeDelivery(call, delivery)),
      credits,
    ).then(
      (ended) => {
        const status = statusOfEnd(ended);
        if (status) call.emit('error', status);
        else if (!call.cancelled) call.end();
      },
      (err: unknown) => {
        subscription.close();
        if (!call.cancelled) call.emit('error', this.statusOf(err, method));
      },
    );
  }
}
