// Pure frame encoders: prefix + payload as one contiguous buffer, so that a transport can emit a
// frame with a single write, and an allocation-free variant for callers that batch frames.
import { EmptyFrameError, FrameTooLargeError } from './errors';
import { MAX_PREFIX_VALUE, prefixLength, U32_PREFIX_BYTES, varintLength, writePrefix } from './length-prefix';
import { Framing } from './types';

/** Bytes a frame of `payloadLength` bytes takes on the wire, prefix included. */
export function encodedFrameLength(payloadLength: number, framing: Framing): number {
  return prefixLength(framing, payloadLength) + payloadLength;
}

/**
 * Writes the frame of `payload` (prefix then payload) into `target` at `offset` and returns the
 * offset after it. Allocates nothing. Throws EmptyFrameError for an empty payload (RW readers read a
 * zero length as end of stream), FrameTooLargeError when no prefix can carry the length, and
 * RangeError when `target` is too small (nothing is written then).
 */
export function encodeFrameInto(payload: Uint8Array, framing: Framing, target: Uint8Array, offset: number): number {
  const length = payload.length;
  const isVarint = framing === 'varint';
  const frameEnd = offset + (isVarint ? varintLength(length) : U32_PREFIX_BYTES) + length;
  if (length === 0 || length > MAX_PREFIX_VALUE || frameEnd > target.length) {
    refuseFrame(length, offset, frameEnd, target.length);
  }
  // The prefix is written inline rather than through writePrefix, and the checks fail in a
  // separate function: this keeps the hot path small enough for V8 to inline it at call sites.
  let pos = offset;
  if (isVarint) {
    let value = length;
    while (value >= 0x80) {
      target[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    target[pos++] = value;
  } else {
    target[pos] = length & 0xff;
    target[pos + 1] = (length >>> 8) & 0xff;
    target[pos + 2] = (length >>> 16) & 0xff;
    target[pos + 3] = length >>> 24;
    pos += U32_PREFIX_BYTES;
  }
  target.set(payload, pos);
  return frameEnd;
}

function refuseFrame(length: number, offset: number, frameEnd: number, targetLength: number): never {
  if (length === 0) throw new EmptyFrameError(offset);
  if (length > MAX_PREFIX_VALUE) throw new FrameTooLargeError(length, MAX_PREFIX_VALUE, offset);
  const frameBytes = frameEnd - offset;
  throw new RangeError(`frame of ${frameBytes} bytes does not fit at offset ${offset} of a ${targetLength}-byte buffer`);
}

/** The frame of `payload` as a new buffer (same errors as encodeFrameInto, offsets from 0). */
export function encodeFrame(payload: Uint8Array, framing: Framing): Uint8Array {
  if (payload.length === 0) throw new EmptyFrameError(0);
  // allocUnsafe: every byte is overwritten before the buffer leaves this function.
  const frame = Buffer.allocUnsafe(encodedFrameLength(payload.length, framing));
  encodeFrameInto(payload, framing, frame, 0);
  return frame;
}

/** Several frames back to back in one new buffer: what a file or stream of these frames holds. */
export function encodeFrames(payloads: Iterable<Uint8Array>, framing: Framing): Uint8Array {
  const list = Array.isArray(payloads) ? (payloads as Uint8Array[]) : [...payloads];
  let total = 0;
  for (const payload of list) total += encodedFrameLength(payload.length, framing);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const payload of list) offset = encodeFrameInto(payload, framing, out, offset);
  return out;
}

/** Payloads of at least this size are not copied by StreamFrameSink: their prefix and the payload
 *  itself go out as two corked writes, which the stream emits together. Below it, one copy into a
 *  fresh frame buffer is cheaper than a second write. */
export const ZERO_COPY_MIN_PAYLOAD_BYTES = 16 * 1024;
const PREFIX_SLAB_BYTES = 4096;

/**
 * Length prefixes for frames whose payload travels uncopied beside them. Prefixes are cut from a
 * slab (one allocation per several hundred frames) and never overwritten once handed out, since a
 * stream may hold them until they are flushed.
 */
export class PrefixSlab {
  private slab = Buffer.allocUnsafe(PREFIX_SLAB_BYTES);
  private used = 0;

  /** The prefix of a `payloadLength`-byte frame. Throws like encodeFrameInto for 0 or > 2^32-1. */
  prefixFor(payloadLength: number, framing: Framing, streamOffset = 0): Uint8Array {
    if (payloadLength === 0) throw new EmptyFrameError(streamOffset);
    if (payloadLength > MAX_PREFIX_VALUE) throw new FrameTooLargeError(payloadLength, MAX_PREFIX_VALUE, streamOffset);
    if (this.used + U32_PREFIX_BYTES + 1 > this.slab.length) {
      this.slab = Buffer.allocUnsafe(PREFIX_SLAB_BYTES);
      this.used = 0;
    }
    const start = this.used;
    this.used = writePrefix(framing, payloadLength, this.slab, start);
    return this.slab.subarray(start, this.used);
  }
}
