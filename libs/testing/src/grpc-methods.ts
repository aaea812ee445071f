// Every gRPC method a framewire port may serve, enumerated from the definitions rather than listed by
// hand (the contract's generated grpc-js services, and the standard health and reflection services),
// each with the request codec its server uses: for suites that call every method with raw bytes.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as contract from '@framewire/proto';
import { healthRoot, reflectionRoot } from './service-process';

export interface KnownMethod {
  /** Full service name, e.g. "framewire.v1.FrameSupplier". */
  service: string;
  /** Method name as in the .proto, e.g. "Publish". */
  name: string;
  /** "/framewire.v1.FrameSupplier/Publish". */
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  /** Decodes request bytes as the server's own decoder does; throws on bytes that are not a request of this method. */
  decodeRequest(bytes: Buffer): unknown;
  /** Encodes a request message of this method. */
  encodeRequest(message: unknown): Buffer;
}

const STANDARD_PROTO_FILES = ['health/v1/health.proto', 'grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'];

function isMethodDefinition(value: unknown): value is grpc.MethodDefinition<unknown, unknown> {
  const m = value as grpc.MethodDefinition<unknown, unknown>;
  return typeof m === 'object' && m !== null && typeof m.path === 'string' && typeof m.requestDeserialize === 'function';
}

/** The exports of @framewire/proto that are grpc-js service definitions (ts-proto's `<Name>Service`). */
function contractServices(): grpc.ServiceDefinition[] {
  return (Object.values(contract) as unknown[]).filter(
    (value): value is grpc.ServiceDefinition =>
      typeof value === 'object' && value !== null && Object.keys(value).length > 0 && Object.values(value).every(isMethodDefinition),
  );
}

function standardServices(): grpc.ServiceDefinition[] {
  const loaded = protoLoader.loadSync(STANDARD_PROTO_FILES, { includeDirs: [healthRoot, reflectionRoot] });
  return Object.values(loaded).filter((definition): definition is protoLoader.ServiceDefinition => !('format' in definition));
}

/** Every method of every service a framewire port could serve, sorted by path. */
export function knownMethods(): KnownMethod[] {
  return [...contractServices(), ...standardServices()]
    .flatMap((service) => Object.values(service))
    .map((m) => {
      const [, serviceName, name] = /^\/([^/]+)\/([^/]+)$/.exec(m.path) ?? [];
      if (serviceName === undefined) throw new Error(`method path ${m.path} is not /<service>/<method>`);
      return {
        service: serviceName,
        name,
        path: m.path,
        requestStream: m.requestStream,
        responseStream: m.responseStream,
        decodeRequest: (bytes: Buffer) => m.requestDeserialize(bytes),
        encodeRequest: (message: unknown) => m.requestSerialize(message),
      };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}

export interface RawCallOutcome {
  code: grpc.status;
  details: string;
  /** Response messages received before the call ended. */
  responses: number;
}

const passBytes = (bytes: Buffer): Buffer => bytes;

/**
 * Calls `method` through `client` with `requests` as they are (bytes, not messages: what a broken or
 * hostile client sends), writing as the call's flow control allows and half-closing after the last,
 * and resolves with the status the call ended with. A unary or server-streaming method takes
 * exactly one request. Never rejects; a call still open at `deadlineMs` ends DEADLINE_EXCEEDED.
 */
export function callWithRawRequests(
  client: grpc.Client,
  method: Pick<KnownMethod, 'path' | 'requestStream' | 'responseStream'>,
  requests: readonly Buffer[],
  options: { deadlineMs: number; metadata?: grpc.Metadata },
): Promise<RawCallOutcome> {
  if (!method.requestStream && requests.length !== 1) throw new Error(`${method.path} takes exactly one request (got ${requests.length})`);
  const metadata = options.metadata ?? new grpc.Metadata();
  const callOptions = { deadline: Date.now() + options.deadlineMs };
  return new Promise<RawCallOutcome>((resolve) => {
    let responses = 0;
    let markEnded: () => void = () => undefined;
    const ended = new Promise<void>((r) => (markEnded = r));
    let isEnded = false;
    const end = (code: grpc.status, details: string): void => {
      isEnded = true;
      markEnded();
      resolve({ code, details, responses });
    };
    const unaryDone = (error: grpc.ServiceError | null): void => (error ? end(error.code, error.details) : end(grpc.status.OK, ''));
    if (!method.requestStream) {
      if (!method.responseStream) {
        client.makeUnaryRequest(method.path, passBytes, passBytes, requests[0], metadata, callOptions, unaryDone);
        return;
      }
      const call = client.makeServerStreamRequest(method.path, passBytes, passBytes, requests[0], metadata, callOptions);
      call.on('data', () => responses++);
      call.on('error', () => undefined);
      call.on('status', (status: grpc.StatusObject) => end(status.code, status.details));
      return;
    }
    let call: grpc.ClientWritableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>;
    if (method.responseStream) {
      const duplex = client.makeBidiStreamRequest(method.path, passBytes, passBytes, metadata, callOptions);
      duplex.on('data', () => responses++);
      duplex.on('status', (status: grpc.StatusObject) => end(status.code, status.details));
      call = duplex;
    } else {
      call = client.makeClientStreamRequest(method.path, passBytes, passBytes, metadata, callOptions, unaryDone);
    }
    call.on('error', () => undefined);
    void (async () => {
      for (const request of requests) {
        if (isEnded) return;
        // A server that ended the call never drains it: stop writing then.
        if (!call.write(request)) await Promise.race([new Promise((drained) => call.once('drain', drained)), ended]);
      }
      if (!isEnded) call.end();
    })();
  });
}
