// framewire's NestJS transport for gRPC: a custom transport strategy over the grpc-js server every
// service already runs (GrpcServerHost: bounded connections, health, reflection, bounded stop). Its
// handlers are Nest controller methods (@GrpcMethod for unary calls, @GrpcStreamCall for streams),
// so guards, interceptors and exception filters apply as in any Nest microservice, while a streaming
// handler owns its raw grpc-js call: it writes only when the transport can take a message and may
// send pre-encoded responses, the two reasons framewire does not use Nest's own gRPC transport for
// streams (docs/architecture.md has the measurements).
import * as grpc from '@grpc/grpc-js';
import { LoggerService } from '@nestjs/common';
import { CustomTransportStrategy, GrpcMethodStreamingType, ServerGrpc, Transport } from '@nestjs/microservices';
import type { ServingStatus } from 'grpc-health-check';
import { isObservable, lastValueFrom, Observable } from 'rxjs';
import { GrpcServerHost, GrpcServerHostOptions } from './grpc-server';

/** A service the transport serves: its full name and its grpc-js definition (messages are encoded
 *  and decoded by the definition, e.g. ts-proto's; no .proto is loaded at run time). */
export interface GrpcServiceContract {
  /** Full name, e.g. "framewire.v1.FrameSupplier" (health, reflection and Nest patterns). */
  name: string;
  definition: grpc.ServiceDefinition;
}

export interface GrpcTransportOptions extends Omit<GrpcServerHostOptions, 'services'> {
  services: readonly GrpcServiceContract[];
}

/** A status a handler may throw (as `new RpcException({ code, message })` or a plain object). */
interface StatusLike {
  code: grpc.status;
  message?: string;
  details?: string;
}

const CONTEXT = 'GrpcTransport';

function isStatusLike(error: unknown): error is StatusLike {
  return typeof error === 'object' && error !== null && typeof (error as StatusLike).code === 'number' && (error as StatusLike).code in grpc.status;
}

/** What Nest's default RPC exception filter answers for an error that is no RpcException. */
function isNestInternalError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { status?: unknown }).status === 'error';
}

/** A Nest handler as this transport calls it: with the arguments of Nest's own gRPC transport. */
type GrpcHandler = (...args: unknown[]) => Promise<unknown> | unknown;

/** The method kinds of gRPC, by which a handler is called. */
type MethodKind = 'unary' | 'server-stream' | 'client-stream' | 'bidi';

function kindOf(method: grpc.MethodDefinition<unknown, unknown>): MethodKind {
  if (method.requestStream) return method.responseStream ? 'bidi' : 'client-stream';
  return method.responseStream ? 'server-stream' : 'unary';
}

/**
 * The transport. Create it with the service's listening options and contracts, pass it to Nest as
 * `{ strategy }` (NestFactory.createMicroservice or app.connectMicroservice), and provide it in the
 * module (`{ provide: GrpcTransport, useValue: transport }`) where a provider needs its health or its
 * stop signal.
 *
 * How each kind of method is called, as Nest's own gRPC transport calls them:
 * - unary, @GrpcMethod: `handler(request, metadata, call)`; its value (or Promise, or Observable's
 *   last value) is the response, a thrown status (RpcException({ code, message })) the error.
 * - server streaming, @GrpcStreamCall: `handler(call)`; the handler owns the call (writes, ends it).
 * - client streaming, @GrpcStreamCall: `handler(call, callback)`; the handler answers through callback.
 * - bidirectional, @GrpcStreamCall: `handler(call)`; the handler owns the call.
 * A streaming handler that fails before it took the call over (a guard refused it) ends the call
 * with the error's status. Errors that are no status are logged and answered INTERNAL.
 */
export class GrpcTransport extends ServerGrpc implements CustomTransportStrategy {
  override readonly transportId = Transport.GRPC;
  private host: GrpcServerHost | undefined;
  /** What health reports once the server runs (a provider may say NOT_SERVING before it starts). */
  private servingStatus: ServingStatus = 'SERVING';
  private readonly stopping = new AbortController();
  private readonly log: LoggerService;

  constructor(private readonly transportOptions: GrpcTransportOptions) {
    // A ServerGrpc so that Nest calls handlers with gRPC's arguments (request, metadata, call); none
    // of its own loading or serving is used: listen and close are this class's.
    super({ package: [], protoPath: [] });
    this.log = transportOptions.logger;
  }

  /** Aborts when the service begins to stop: streaming handlers end their calls (the server then
   *  drains what is left within its bound). */
  get stopSignal(): AbortSignal {
    return this.stopping.signal;
  }

  /** What the health service reports for the server and its services, from now on (kept until the
   *  server starts when called before). */
  setServing(status: ServingStatus): void {
    this.servingStatus = status;
    this.host?.setServing(status);
  }

  /** The running server (its port, its health). */
  get server(): GrpcServerHost {
    if (this.host === undefined) throw new Error('the gRPC transport is not listening yet');
    return this.host;
  }

  override async listen(callback: (error?: unknown) => void): Promise<void> {
    try {
      const services = this.transportOptions.services.map((contract) => ({ ...contract, implementation: this.implementationOf(contract) }));
      this.host = new GrpcServerHost({ ...this.transportOptions, services });
      await this.host.start();
      if (this.servingStatus !== 'SERVING') this.host.setServing(this.servingStatus);
    } catch (error) {
      callback(error);
      return;
    }
    callback();
  }

  /** Aborts the stop signal (streaming handlers end their calls), then stops the server: health
   *  NOT_SERVING, no new calls, in-flight ones drained within the bound. Idempotent. */
  override async close(): Promise<void> {
    this.stopping.abort();
    await this.host?.stop();
  }

  override unwrap<T>(): T {
    return this.server.server as T;
  }

  /** The handlers of one contract: every method must have one (a served service answers all it declares). */
  private implementationOf(contract: GrpcServiceContract): grpc.UntypedServiceImplementation {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [key, method] of Object.entries(contract.definition)) {
      const kind = kindOf(method);
      const handler = this.handlerOf(contract.name, key, method.path, kind === 'unary' ? GrpcMethodStreamingType.NO_STREAMING : GrpcMethodStreamingType.PT_STREAMING);
      implementation[key] = kind === 'unary' ? this.unary(handler, method.path) : this.streaming(handler, kind, method.path);
    }
    return implementation;
  }

  /** The Nest handler registered for a method, under the service's short or full name and the
   *  method's name as in the definition ("getStats") or in the .proto ("GetStats"). */
  private handlerOf(serviceName: string, key: string, path: string, streaming: GrpcMethodStreamingType): GrpcHandler {
    const rpc = path.slice(path.lastIndexOf('/') + 1);
    const services = [serviceName.slice(serviceName.lastIndexOf('.') + 1), serviceName];
    for (const service of services) {
      for (const name of [key, rpc]) {
        const handler = this.messageHandlers.get(this.createPattern(service, name, streaming));
        if (handler !== undefined) return handler as unknown as GrpcHandler;
      }
    }
    const decorator = streaming === GrpcMethodStreamingType.NO_STREAMING ? '@GrpcMethod' : '@GrpcStreamCall';
    throw new Error(`no Nest handler for ${path}: a controller method with ${decorator}('${services[0]}', '${key}') is required`);
  }

  private unary(handler: GrpcHandler, path: string): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      void this.run(path, () => handler(call.request, call.metadata, call)).then(
        (response) => callback(null, response),
        (error: unknown) => callback(this.statusOf(error, path)),
      );
    };
  }

  private streaming(handler: GrpcHandler, kind: Exclude<MethodKind, 'unary'>, path: string) {
    return (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
      const args = kind === 'client-stream' ? [call, callback] : [call];
      void this.run(path, () => handler(...args)).catch((error: unknown) => {
        const status = this.statusOf(error, path);
        if (kind === 'client-stream') callback?.(status);
        else if (!(call as grpc.ServerWritableStream<unknown, unknown>).writableEnded) call.emit('error', status);
      });
    };
  }

  /** Runs a Nest handler (guards, interceptors, filters, then the method) to its value. */
  private async run(path: string, invoke: () => Promise<unknown> | unknown): Promise<unknown> {
    const result: unknown = await invoke();
    if (isObservable(result)) return lastValueFrom(result as Observable<unknown>, { defaultValue: undefined });
    return result;
  }

  private statusOf(error: unknown, path: string): Partial<grpc.StatusObject> {
    if (isStatusLike(error)) return { code: error.code, details: error.details ?? error.message ?? grpc.status[error.code] };
    // Nest's exception filter has logged an unknown error already and answers this in its place.
    if (isNestInternalError(error)) return { code: grpc.status.INTERNAL, details: 'internal error' };
    this.log.error({ message: 'unexpected error in a gRPC handler', method: path, error: String(error) }, (error as Error)?.stack, CONTEXT);
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }
}
