// Length prefixes of formats.md §1: minimal unsigned LEB128 varints (at most 5 bytes) and uint32 LE.
import {
  EmptyFrameError,
  FrameTooLargeError,
  VarintTooLongError,
} from './errors';
import { Framing, MAX_VARINT_BYTES } from './types';

/** Largest length any prefix can carry (uint32). */
export const MAX_PREFIX_VALUE = 0xffffffff;
export const U32_PREFIX_BYTES = 4;

/** Bytes the minimal varint encoding of `value` (0..2^32-1) takes. */
export function varintLength(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

/** Writes the minimal varint of `value` (0..2^32-1) at `offset`; returns the offset after it. */
export function writeVarint(value: number, target: Uint8Array, offset: number): number {
  // `>>> 7` is exact for the whole uint32 range and keeps the loop in integer arithmetic.
  while (value >= 0x80) {
    target[offset++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  target[offset++] = value;
  return offset;
}

/** Bytes the length prefix of a `length`-byte frame takes under `framing`. */
export function prefixLength(framing: Framing, length: number): number {
  return framing === 'varint' ? varintLength(length) : U32_PREFIX_BYTES;
}

/** Writes the length prefix of a `length`-byte frame at `offset`; returns the offset after it. */
export function writePrefix(framing: Framing, length: number, target: Uint8Array, offset: number): number {
  if (framing === 'varint') return writeVarint(length, target, offset);
  target[offset] = length & 0xff;
  target[offset + 1] = (length >>> 8) & 0xff;
  target[offset + 2] = (length >>> 16) & 0xff;
  target[offset + 3] = (length >>> 24) & 0xff;
  return offset + U32_PREFIX_BYTES;
}

/** A parsed prefix: the payload length and how many bytes the prefix took. */
export interface ParsedPrefix {
  length: number;
  prefixBytes: number;
}

/**
 * Reads a length prefix at `pos` of `buf` (which holds stream bytes from `streamOffset` on).
 * Returns undefined when `buf` ends inside the prefix (more bytes needed). Throws
 * VarintTooLongError, EmptyFrameError or FrameTooLargeError (before any allocation), each naming
 * the stream offset of the prefix.
 */
export function readPrefix(
  framing: Framing,
  buf: Uint8Array,
  pos: number,
  maxFrameBytes: number,
  streamOffset = 0,
): ParsedPrefix | undefined {
  let length: number;
  let prefixBytes: number;
  if (framing === 'varint') {
    length = 0;
    let shift = 1;
    let i = 0;
    for (;;) {
      if (i === MAX_VARINT_BYTES) throw new VarintTooLongError(streamOffset + pos);
      if (pos + i >= buf.length) return undefined;
      const b = buf[pos + i];
      length += (b & 0x7f) * shift;
      i++;
      if (b < 0x80) break;
      shift *= 128;
    }
    prefixBytes = i;
  } else {
    if (pos + U32_PREFIX_BYTES > buf.length) return undefined;
    length = (buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)) + buf[pos + 3] * 0x1000000;
    prefixBytes = U32_PREFIX_BYTES;
  }
  if (length === 0) throw new EmptyFrameError(streamOffset + pos);
  if (length > maxFrameBytes) throw new FrameTooLargeError(length, maxFrameBytes, streamOffset + pos);
  return { length, prefixBytes };
}
