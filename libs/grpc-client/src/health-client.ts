// A typed client of the standard gRPC health service (grpc.health.v1.Health): Check and Watch over
// the service definition that grpc-health-check ships (the same one every framewire server serves
// through HealthImplementation), so the messages are the package's and nothing is loaded twice.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';

/** grpc.health.v1.HealthCheckResponse.ServingStatus, by name (SERVICE_UNKNOWN comes from Watch only). */
export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
/** The health service name that stands for the whole server. */
export const WHOLE_SERVER = '';
/** Default bound on one Check call. */
export const DEFAULT_HEALTH_CHECK_DEADLINE_MS = 5_000;

interface HealthCheckRequest {
  service: string;
}
interface HealthCheckResponse {
  status: HealthStatus;
}
type HealthMethod = MethodDefinition<HealthCheckRequest, HealthCheckResponse, HealthCheckRequest, HealthCheckResponse>;

/** The package loads health.proto with enums as strings: a status arrives as its name. */
const CHECK = healthService.Check as HealthMethod;
const WATCH = healthService.Watch as HealthMethod;

export interface HealthClientOptions {
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

export interface HealthCheckOptions {
  /** Bound on the call (default DEFAULT_HEALTH_CHECK_DEADLINE_MS). */
  deadlineMs?: number;
  metadata?: grpc.Metadata;
}

/** A Watch call: 'data' events carry each status the server reports, in order. */
export type HealthWatchCall = grpc.ClientReadableStream<HealthCheckResponse>;

export class HealthClient {
  private readonly client: grpc.Client;

  /** `address` is host:port; plaintext unless `credentials` say otherwise. */
  constructor(address: string, options: HealthClientOptions = {}) {
    this.client = new grpc.Client(address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions);
  }

  /** Health/Check: the status of `service` (WHOLE_SERVER by default). Rejects with the call's
   *  grpc.ServiceError (NOT_FOUND for a service the server does not know, UNAVAILABLE, ...). */
  check(service: string = WHOLE_SERVER, options: HealthCheckOptions = {}): Promise<HealthStatus> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest<HealthCheckRequest, HealthCheckResponse>(
        CHECK.path,
        CHECK.requestSerialize,
        CHECK.responseDeserialize,
        { service },
        options.metadata ?? new grpc.Metadata(),
        { deadline: Date.now() + (options.deadlineMs ?? DEFAULT_HEALTH_CHECK_DEADLINE_MS) },
        (err, response) => (err || response === undefined ? reject(err) : resolve(response.status)),
      );
    });
  }

  /** Health/Watch: a stream of `service`'s status, its current one first, then each change. */
  watch(service: string = WHOLE_SERVER, metadata: grpc.Metadata = new grpc.Metadata()): HealthWatchCall {
    return this.client.makeServerStreamRequest<HealthCheckRequest, HealthCheckResponse>(WATCH.path, WATCH.requestSerialize, WATCH.responseDeserialize, { service }, metadata);
  }

  /** Closes the channel (calls still open are cancelled). */
  close(): void {
    this.client.close();
  }
}

/** One Check of `address` with a client of its own, closed afterwards. */
export async function checkHealth(address: string, service: string = WHOLE_SERVER, options: HealthClientOptions & HealthCheckOptions = {}): Promise<HealthStatus> {
  const client = new HealthClient(address, options);
  try {
    return await client.check(service, options);
  } finally {
    client.close();
  }
}
