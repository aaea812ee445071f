// framewire.v1.Result payloads (protobuf) to and from JSON, with ts-proto's Result. Loaded only for
// `result` archives (see loadResultCodec): @framewire/proto pulls in the NestJS and gRPC runtimes,
// which would triple the start-up time of every other command.
import { Result } from '@framewire/proto';

/** Which payload a Result carries (its oneof), for the text output of `cat`. */
const RESULT_PAYLOAD_FIELDS = ['keypoints', 'segmentation', 'detections', 'tracks', 'stage'] as const;

/** A framewire.v1.Result that does not decode; shaped like @framewire/overlay-codecs's
 *  ProtocolDecodeError (kind, detail, frameOffset) so that it reaches the user as the same line. */
export class UndecodableResultError extends Error {
  readonly kind = 'result';
  constructor(
    readonly detail: string,
    readonly frameOffset: number,
  ) {
    super(`result: ${detail} at stream offset ${frameOffset}`);
    this.name = 'ProtocolDecodeError';
  }
}

export interface DecodedResult {
  frameId: bigint;
  /** Capture time, microseconds since the Unix epoch; 0 when unset. */
  captureTimeUs: number;
  json: unknown;
  summary: string;
}

/** Result.decode with its failures typed: the archive checks only the wire format of a Result,
 *  the schema decode can still fail (a malformed nested message, a uint64 above 2^53-1). */
export function decodeResult(payload: Uint8Array, frameOffset: number): DecodedResult {
  let message: Result;
  try {
    message = Result.decode(payload);
  } catch (error) {
    throw new UndecodableResultError((error as Error).message, frameOffset);
  }
  const kind = RESULT_PAYLOAD_FIELDS.find((field) => message[field] !== undefined) ?? 'no payload';
  return {
    frameId: BigInt(message.frameSequence),
    captureTimeUs: message.captureTimeUs,
    json: Result.toJSON(message),
    summary: `${kind}, stream ${JSON.stringify(message.streamId)}, worker ${JSON.stringify(message.workerId)}`,
  };
}

/** The protobuf bytes of a Result given in its JSON form (Result.toJSON's shape), and its frame id. */
export function encodeResultJson(value: Record<string, unknown>): { payload: Uint8Array; frameId: bigint } {
  const message = Result.fromJSON(value);
  return { payload: Result.encode(message).finish(), frameId: BigInt(message.frameSequence) };
}
