// What the archive needs to know about each payload protocol without decoding it fully: the frame
// id, whether a reader can start decoding at this frame (a seek point), and for protobuf results the
// capture time. Full decoding is the protocol library's (see payload-decoder.ts).
import { InvalidPayloadError } from './errors';

/** The payload protocols an archive can hold: the three RW formats (formats.md §2-§4) and
 *  `result`, varint-delimited framewire.v1.Result protobuf messages. */
export type ArchiveProtocol = 'keypoints' | 'segmentation' | 'stage' | 'result';
export const ARCHIVE_PROTOCOLS: readonly ArchiveProtocol[] = ['keypoints', 'segmentation', 'stage', 'result'];

const KEYPOINTS_MASTER = 0x00;
const KEYPOINTS_DELTA = 0x01;
const FRAME_ID_BYTES = 8;
/** Keypoints: frame type byte, then the frame id. */
const KEYPOINTS_HEADER_BYTES = 1 + FRAME_ID_BYTES;

// framewire.v1.Result field numbers (proto/framewire/v1/results.proto) the index needs.
const RESULT_FIELD_FRAME_SEQUENCE = 2;
const RESULT_FIELD_CAPTURE_TIME_US = 3;
const MAX_VARINT64_BYTES = 10;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;
const MICROS_PER_MILLI = 1000n;

export interface PayloadHeader {
  frameId: bigint;
  /** A reader can start decoding here: a keypoints master; every frame of the other protocols. */
  seekPoint: boolean;
  /** Time carried by the payload itself (a Result's capture time), unix ms; undefined otherwise. */
  timestampMs: number | undefined;
}

/** Reads the header of `payload`. Throws InvalidPayloadError when the header does not follow the
 *  protocol (for `result`: when the message is not well-formed protobuf wire format). */
export function inspectPayload(protocol: ArchiveProtocol, payload: Uint8Array): PayloadHeader {
  switch (protocol) {
    case 'keypoints': {
      if (payload.length < KEYPOINTS_HEADER_BYTES) {
        throw new InvalidPayloadError(protocol, `${payload.length} bytes, shorter than the ${KEYPOINTS_HEADER_BYTES}-byte header`, payload.length);
      }
      const type = payload[0];
      if (type !== KEYPOINTS_MASTER && type !== KEYPOINTS_DELTA) {
        throw new InvalidPayloadError(protocol, `frame type 0x${type.toString(16).padStart(2, '0')}`, 0);
      }
      return { frameId: readUint64(payload, 1), seekPoint: type === KEYPOINTS_MASTER, timestampMs: undefined };
    }
    case 'segmentation':
    case 'stage':
      if (payload.length < FRAME_ID_BYTES) {
        throw new InvalidPayloadError(protocol, `${payload.length} bytes, shorter than the ${FRAME_ID_BYTES}-byte frame id`, payload.length);
      }
      return { frameId: readUint64(payload, 0), seekPoint: true, timestampMs: undefined };
    case 'result':
      return inspectResult(payload);
  }
}

/** True when a keypoints payload is a master frame (the caller checked the header). */
export function isKeypointsMaster(payload: Uint8Array): boolean {
  return payload[0] === KEYPOINTS_MASTER;
}

function readUint64(bytes: Uint8Array, at: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset + at, FRAME_ID_BYTES).getBigUint64(0, true);
}

/** Walks the top-level fields of a protobuf message (nested messages are not entered) and picks
 *  frame_sequence and capture_time_us. Walking also checks the message is well-formed wire format. */
function inspectResult(payload: Uint8Array): PayloadHeader {
  const end = payload.length;
  let frameId = 0n;
  let timestampMs: number | undefined;
  let pos = 0;
  while (pos < end) {
    const fieldStart = pos;
    let tag = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (pos >= end) throw new InvalidPayloadError('result', 'message ends inside a field tag', fieldStart);
      if (i === 5) throw new InvalidPayloadError('result', 'field tag longer than 5 bytes', fieldStart);
      const byte = payload[pos++];
      tag += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 128;
    }
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw new InvalidPayloadError('result', 'field number 0', fieldStart);
    switch (wireType) {
      case WIRE_VARINT: {
        const valueStart = pos;
        let value = 0n;
        let shift = 0n;
        const wanted = field === RESULT_FIELD_FRAME_SEQUENCE || field === RESULT_FIELD_CAPTURE_TIME_US;
        for (let i = 0; ; i++) {
          if (pos >= end) throw new InvalidPayloadError('result', `message ends inside field ${field}`, valueStart);
          if (i === MAX_VARINT64_BYTES) throw new InvalidPayloadError('result', `varint of field ${field} longer than 10 bytes`, valueStart);
          const byte = payload[pos++];
          if (wanted) value |= BigInt(byte & 0x7f) << shift;
          shift += 7n;
          if (byte < 0x80) break;
        }
        if (field === RESULT_FIELD_FRAME_SEQUENCE) frameId = BigInt.asUintN(64, value);
        if (field === RESULT_FIELD_CAPTURE_TIME_US) timestampMs = Number(BigInt.asIntN(64, value) / MICROS_PER_MILLI);
        break;
      }
      case WIRE_FIXED64:
        pos += 8;
        break;
      case WIRE_FIXED32:
        pos += 4;
        break;
      case WIRE_LENGTH_DELIMITED: {
        const lengthStart = pos;
        let length = 0;
        let lengthScale = 1;
        for (let i = 0; ; i++) {
          if (pos >= end) throw new InvalidPayloadError('result', `message ends inside the length of field ${field}`, lengthStart);
          if (i === 5) throw new InvalidPayloadError('result', `length of field ${field} longer than 5 bytes`, lengthStart);
          const byte = payload[pos++];
          length += (byte & 0x7f) * lengthScale;
          if (byte < 0x80) break;
          lengthScale *= 128;
        }
        pos += length;
        break;
      }
      default:
        throw new InvalidPayloadError('result', `wire type ${wireType} of field ${field}`, fieldStart);
    }
    if (pos > end) throw new InvalidPayloadError('result', `field ${field} runs past the end of the message`, fieldStart);
  }
  return { frameId, seekPoint: true, timestampMs };
}
