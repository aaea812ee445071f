// Checks and conversions shared by the encoders: where caller values enter a codec and become
// wire values (frame ids, int32 coordinates, uint32 varints, raw confidence).
import { UINT32_MAX, UINT64_MAX } from './byte-writer';
import { ProtocolEncodeError } from './errors';

/** A frame id as callers pass it: a bigint (the exact uint64 of the wire) or a non-negative safe
 *  integer. Decoders always return a bigint. */
export type FrameIdInput = bigint | number;

/** Largest raw confidence: the wire carries confidence as uint16 (formats.md §2). */
export const CONFIDENCE_RAW_MAX = 0xffff;

/** Raw wire confidence of `confidence`: trunc(clamp(c, 0, 1) * 65535) in float64 (formats.md §2).
 *  NaN clamps to 0, as the C# SDK's float-to-ushort cast does. */
export function confidenceToRaw(confidence: number): number {
  if (!(confidence > 0)) return 0;
  if (confidence >= 1) return CONFIDENCE_RAW_MAX;
  return Math.trunc(confidence * CONFIDENCE_RAW_MAX);
}

export function confidenceFromRaw(raw: number): number {
  return raw / CONFIDENCE_RAW_MAX;
}

export function checkFrameId(frameId: FrameIdInput): void {
  const valid =
    typeof frameId === 'bigint'
      ? frameId >= 0n && frameId <= UINT64_MAX
      : Number.isSafeInteger(frameId) && frameId >= 0;
  if (!valid) {
    throw new ProtocolEncodeError(
      'VALUE_OUT_OF_RANGE',
      `frame id ${String(frameId)} is not a uint64 (a bigint 0..2^64-1 or a non-negative safe integer)`,
    );
  }
}

export function checkInt32(value: number, field: string): void {
  if ((value | 0) !== value) {
    throw new ProtocolEncodeError('VALUE_OUT_OF_RANGE', `${field} ${value} is not an int32`);
  }
}

export function checkUint(value: number, max: number, field: string): void {
  if (!(Number.isInteger(value) && value >= 0 && value <= max)) {
    throw new ProtocolEncodeError('VALUE_OUT_OF_RANGE', `${field} ${value} is not an integer in 0..${max}`);
  }
}

export function checkUint32(value: number, field: string): void {
  checkUint(value, UINT32_MAX, field);
}

/** A drawing coordinate: truncated toward zero like the RW encoders' int casts, then checked. */
export function toInt32Coordinate(value: number, field: string): number {
  const truncated = Math.trunc(value);
  if ((truncated | 0) !== truncated) {
    throw new ProtocolEncodeError('VALUE_OUT_OF_RANGE', `${field} ${value} is not within int32`);
  }
  return truncated | 0;
}
