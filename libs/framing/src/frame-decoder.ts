// Incremental, synchronous decoder of length-prefixed frames (formats.md §1): push stream chunks,
// pull whole frames. Every transport that carries a byte stream (files, pipes, sockets) uses it.
import { FrameTooLargeError, FramingError, EmptyFrameError, TruncatedFrameError, VarintTooLongError } from './errors';
import { MAX_PREFIX_VALUE, U32_PREFIX_BYTES } from './length-prefix';
import { DEFAULT_MAX_FRAME_BYTES, Frame, Framing, MAX_VARINT_BYTES } from './types';

export interface FrameDecoderOptions {
  /** Length prefix of the stream (default 'varint'). */
  framing?: Framing;
  /** Frames longer than this are rejected before any allocation (default DEFAULT_MAX_FRAME_BYTES). */
  maxFrameBytes?: number;
  /** Stream offset of the first pushed byte, e.g. when reading a file from the middle (default 0). */
  startOffset?: number;
}

const EMPTY_CHUNK = new Uint8Array(0);

/** memmove through Buffer#copy: measurably faster than TypedArray#set on a subarray for large
 *  payloads, and it allocates no view. Works on any Uint8Array. */
function copyBytes(source: Uint8Array, start: number, end: number, target: Uint8Array, targetStart: number): void {
  Buffer.prototype.copy.call(source, target, targetStart, start, end);
}

/** Validates a configured frame limit: a positive integer that a uint32 prefix can express. */
export function resolveMaxFrameBytes(maxFrameBytes: number | undefined): number {
  const limit = maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PREFIX_VALUE) {
    throw new RangeError(`maxFrameBytes must be an integer from 1 to ${MAX_PREFIX_VALUE}, got ${limit}`);
  }
  return limit;
}

/** What the decoder is in the middle of. */
const enum DecoderState {
  /** At a frame boundary: the next byte starts a length prefix. */
  AtBoundary,
  /** A chunk ended inside a length prefix; the prefix read so far is saved. */
  InPrefix,
  /** A chunk ended inside a payload; the payload is being copied into `spanning`. */
  InPayload,
  /** A framing error was met; it is thrown again by every call. */
  Failed,
  /** finish() found a clean end. */
  Finished,
}

/**
 * Decoder state between chunks is explicit: the current chunk and read position, a partly read
 * prefix (bytes, value so far), and the copy of a payload that spans chunks. It holds at most one
 * frame's bytes (at most maxFrameBytes), so a stream of any length decodes in bounded memory.
 *
 * Usage: `push(chunk)`, then `next()` until it returns undefined (the chunk is consumed), repeat;
 * at end of input `finish()`. A frame that lies in one chunk is handed out as a Uint8Array view of
 * that chunk (so the chunk must not be reused by its producer); a frame spanning chunks is copied
 * into a buffer of exactly its length, allocated only after the length passed the limit check.
 */
export class FrameDecoder {
  readonly framing: Framing;
  readonly maxFrameBytes: number;
  private readonly isVarint: boolean;
  private state = DecoderState.AtBoundary;

  // Input: the current chunk (and its ArrayBuffer, to build views without Buffer#subarray's
  // cost), the read position, and the stream offset of the chunk's first byte.
  private chunk: Uint8Array = EMPTY_CHUNK;
  private chunkBuffer: ArrayBufferLike = EMPTY_CHUNK.buffer;
  private chunkByteOffset = 0;
  private pos = 0;
  private chunkOffset: number;

  // The frame a chunk ended inside (InPrefix, InPayload).
  private frameOffset = 0;
  private prefixBytes = 0;
  private prefixValue = 0;
  private prefixScale = 1;
  private spanning: Uint8Array = EMPTY_CHUNK;
  private spanningFill = 0;

  private failure: FramingError | undefined = undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.framing = options.framing ?? 'varint';
    this.isVarint = this.framing === 'varint';
    this.maxFrameBytes = resolveMaxFrameBytes(options.maxFrameBytes);
    this.chunkOffset = options.startOffset ?? 0;
  }

  /** Stream offset of the next byte the decoder will read. */
  get offset(): number {
    return this.chunkOffset + this.pos;
  }

  /** True when the input consumed so far ends exactly at a frame boundary. */
  get atFrameBoundary(): boolean {
    return this.state === DecoderState.AtBoundary || this.state === DecoderState.Finished;
  }

  /** Hands the decoder the next chunk of the stream. The previous chunk must be fully pulled. */
  push(chunk: Uint8Array): void {
    if (this.state === DecoderState.Failed) throw this.failure;
    if (this.state === DecoderState.Finished) throw new Error('FrameDecoder.push() after finish()');
    if (this.pos < this.chunk.length) {
      throw new Error('FrameDecoder.push() before next() returned undefined for the previous chunk');
    }
    this.chunkOffset += this.chunk.length;
    this.chunk = chunk;
    this.chunkBuffer = chunk.buffer;
    this.chunkByteOffset = chunk.byteOffset;
    this.pos = 0;
  }

  /** The next complete frame, or undefined when the current chunk is consumed. Throws
   *  VarintTooLongError, EmptyFrameError or FrameTooLargeError naming the frame's stream offset. */
  next(): Frame | undefined {
    // Fast path, the common case: at a boundary, with a whole prefix of at most 4 varint bytes
    // (frames under 256 MiB) and the whole payload in this chunk. Integer arithmetic, one view.
    if (this.state === DecoderState.AtBoundary) {
      const chunk = this.chunk;
      const start = this.pos;
      if (chunk.length - start >= MAX_VARINT_BYTES) {
        let p = start;
        let length: number;
        if (this.isVarint) {
          let byte = chunk[p++];
          length = byte & 0x7f;
          if (byte >= 0x80) {
            byte = chunk[p++];
            length |= (byte & 0x7f) << 7;
            if (byte >= 0x80) {
              byte = chunk[p++];
              length |= (byte & 0x7f) << 14;
              if (byte >= 0x80) {
                byte = chunk[p++];
                length |= (byte & 0x7f) << 21;
                if (byte >= 0x80) return this.nextGeneral();
              }
            }
          }
        } else {
          length = (chunk[p] | (chunk[p + 1] << 8) | (chunk[p + 2] << 16)) + chunk[p + 3] * 0x1000000;
          p += U32_PREFIX_BYTES;
        }
        const payloadEnd = p + length;
        if (length !== 0 && length <= this.maxFrameBytes && payloadEnd <= chunk.length) {
          this.pos = payloadEnd;
          const payload = new Uint8Array(this.chunkBuffer, this.chunkByteOffset + p, length);
          return { payload, offset: this.chunkOffset + start };
        }
      }
    }
    return this.nextGeneral();
  }

  /** Declares the end of input. Throws TruncatedFrameError when it ends inside a prefix or a
   *  payload; an end exactly at a frame boundary is clean. */
  finish(): void {
    if (this.state === DecoderState.Failed) throw this.failure;
    if (this.pos < this.chunk.length) {
      throw new Error('FrameDecoder.finish() before next() returned undefined for the last chunk');
    }
    if (this.state === DecoderState.InPayload) {
      const frameBytes = this.prefixBytes + this.spanning.length;
      this.fail(new TruncatedFrameError(this.frameOffset, frameBytes, this.prefixBytes + this.spanningFill));
    }
    if (this.state === DecoderState.InPrefix) this.fail(new TruncatedFrameError(this.frameOffset, -1, this.prefixBytes));
    this.state = DecoderState.Finished;
  }

  /** Every case: prefixes split across chunks, spanning payloads, errors, 5-byte prefixes. */
  private nextGeneral(): Frame | undefined {
    switch (this.state) {
      case DecoderState.Failed:
        throw this.failure;
      case DecoderState.Finished:
        return undefined;
      case DecoderState.InPayload:
        return this.continueSpanningPayload();
      case DecoderState.AtBoundary:
      case DecoderState.InPrefix:
        break;
    }

    const chunk = this.chunk;
    const end = chunk.length;
    let pos = this.pos;
    if (pos >= end) return undefined;

    // Length prefix, resumed from the saved state when the previous chunk ended inside it.
    if (this.state === DecoderState.AtBoundary) {
      this.frameOffset = this.chunkOffset + pos;
      this.prefixBytes = 0;
      this.prefixValue = 0;
      this.prefixScale = 1;
    }
    let read = this.prefixBytes;
    let length = this.prefixValue;
    let scale = this.prefixScale;
    if (this.isVarint) {
      for (;;) {
        if (pos >= end) return this.savePrefix(pos, read, length, scale);
        const byte = chunk[pos++];
        length += (byte & 0x7f) * scale;
        read++;
        if (byte < 0x80) break;
        if (read === MAX_VARINT_BYTES) return this.fail(new VarintTooLongError(this.frameOffset));
        scale *= 128;
      }
    } else {
      for (;;) {
        if (pos >= end) return this.savePrefix(pos, read, length, scale);
        length += chunk[pos++] * scale;
        if (++read === U32_PREFIX_BYTES) break;
        scale *= 256;
      }
    }
    if (length === 0) return this.fail(new EmptyFrameError(this.frameOffset));
    if (length > this.maxFrameBytes) {
      return this.fail(new FrameTooLargeError(length, this.maxFrameBytes, this.frameOffset));
    }

    const payloadEnd = pos + length;
    if (payloadEnd <= end) {
      // The payload lies in this chunk (only its prefix may have spanned): a view.
      this.pos = payloadEnd;
      this.state = DecoderState.AtBoundary;
      return { payload: new Uint8Array(this.chunkBuffer, this.chunkByteOffset + pos, length), offset: this.frameOffset };
    }

    // The payload spans chunks: copy into a buffer of exactly its (already checked) length.
    // allocUnsafeSlow: exact-size memory (not a slice of Node's shared pool), handed out only once
    // every byte has been overwritten.
    this.prefixBytes = read;
    const payload = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
    copyBytes(chunk, pos, end, payload, 0);
    this.spanning = payload;
    this.spanningFill = end - pos;
    this.pos = end;
    this.state = DecoderState.InPayload;
    return undefined;
  }

  private continueSpanningPayload(): Frame | undefined {
    const payload = this.spanning;
    const chunk = this.chunk;
    const pos = this.pos;
    const take = Math.min(payload.length - this.spanningFill, chunk.length - pos);
    if (take <= 0) return undefined;
    copyBytes(chunk, pos, pos + take, payload, this.spanningFill);
    this.spanningFill += take;
    this.pos = pos + take;
    if (this.spanningFill < payload.length) return undefined;
    this.spanning = EMPTY_CHUNK;
    this.spanningFill = 0;
    this.state = DecoderState.AtBoundary;
    return { payload, offset: this.frameOffset };
  }

  private savePrefix(pos: number, read: number, value: number, scale: number): undefined {
    this.pos = pos;
    this.prefixBytes = read;
    this.prefixValue = value;
    this.prefixScale = scale;
    this.state = DecoderState.InPrefix;
    return undefined;
  }

  private fail(error: FramingError): never {
    this.failure = error;
    this.state = DecoderState.Failed;
    this.spanning = EMPTY_CHUNK;
    this.chunk = EMPTY_CHUNK;
    this.chunkBuffer = EMPTY_CHUNK.buffer;
    this.pos = 0;
    throw error;
  }
}

/** Decodes a complete byte stream held in memory: every frame, then the end-of-input check. */
export function decodeFrames(bytes: Uint8Array, options: FrameDecoderOptions = {}): Frame[] {
  const decoder = new FrameDecoder(options);
  const frames: Frame[] = [];
  decoder.push(bytes);
  for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) frames.push(frame);
  decoder.finish();
  return frames;
}
