// A typed client of grpc.health.v1.Health's Check, with its two messages encoded by hand (one string
// field, one enum field), so that probing needs neither proto-loader nor `any`. The lead merges it
// with @framewire/grpc-client's health client when that lib lands.
import * as grpc from '@grpc/grpc-js';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';

/** grpc.health.v1.HealthCheckResponse.ServingStatus, by its names in the .proto. */
export const SERVING_STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export type ServingStatusName = (typeof SERVING_STATUS_NAMES)[number];

export interface HealthCheckRequest {
  /** The service asked about; '' is the server as a whole. */
  service: string;
}

export interface HealthCheckResponse {
  /** The status's name, or `UNKNOWN(<n>)` for a value this client does not know. */
  status: ServingStatusName | `UNKNOWN(${number})`;
}

const SERVICE_FIELD = 1;
const STATUS_FIELD = 1;

function encodeRequest(request: HealthCheckRequest): Buffer {
  const writer = new BinaryWriter();
  if (request.service !== '') writer.uint32((SERVICE_FIELD << 3) | 2).string(request.service);
  return Buffer.from(writer.finish());
}

function decodeRequest(bytes: Buffer): HealthCheckRequest {
  const reader = new BinaryReader(bytes);
  const request: HealthCheckRequest = { service: '' };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === SERVICE_FIELD && wireType === 2) request.service = reader.string();
    else reader.skip(wireType);
  }
  return request;
}

function encodeResponse(response: HealthCheckResponse): Buffer {
  const writer = new BinaryWriter();
  const value = SERVING_STATUS_NAMES.indexOf(response.status as ServingStatusName);
  if (value > 0) writer.uint32((STATUS_FIELD << 3) | 0).int32(value);
  return Buffer.from(writer.finish());
}

function decodeResponse(bytes: Buffer): HealthCheckResponse {
  const reader = new BinaryReader(bytes);
  let value = 0;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === STATUS_FIELD && wireType === 0) value = reader.int32();
    else reader.skip(wireType);
  }
  return { status: SERVING_STATUS_NAMES[value] ?? `UNKNOWN(${value})` };
}

/** The Check method as grpc-js takes it. */
export const HEALTH_CHECK_METHOD = {
  path: '/grpc.health.v1.Health/Check',
  requestStream: false,
  responseStream: false,
  requestSerialize: encodeRequest,
  requestDeserialize: decodeRequest,
  responseSerialize: encodeResponse,
  responseDeserialize: decodeResponse,
} as const satisfies grpc.MethodDefinition<HealthCheckRequest, HealthCheckResponse>;

/** grpc.health.v1.Health's Check over one channel; close() releases it. */
export class HealthCheckClient {
  private readonly client: grpc.Client;

  constructor(address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) {
    this.client = new grpc.Client(address, credentials, options);
  }

  /** Check of `service` ('' for the server) within `deadlineMs`; rejects with the call's ServiceError. */
  check(request: HealthCheckRequest, deadlineMs: number, metadata: grpc.Metadata = new grpc.Metadata()): Promise<HealthCheckResponse> {
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        HEALTH_CHECK_METHOD.path,
        HEALTH_CHECK_METHOD.requestSerialize,
        HEALTH_CHECK_METHOD.responseDeserialize,
        request,
        metadata,
        { deadline: Date.now() + deadlineMs },
        (err, response) => (err || response === undefined ? reject(err) : resolve(response)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
