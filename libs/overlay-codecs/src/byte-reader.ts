// The read side of the wire primitives: a bounds-checked cursor over one payload. Every failure
// is a ProtocolDecodeError naming the field and its offset; nothing else escapes a decoder.
import { PayloadKind, ProtocolDecodeError, ProtocolDecodeErrorCode } from './errors';

const EMPTY = new Uint8Array(0);

// One 8-byte scratch for float32 and uint64 reads, so that a read allocates no DataView per payload.
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);

export class ByteReader {
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private frameOffset: number | undefined;

  constructor(private readonly kind: PayloadKind) {}

  /** Starts reading `payload`; `frameOffset` (the stream offset of its frame) goes into errors. */
  reset(payload: Uint8Array, frameOffset?: number): void {
    this.buf = payload;
    this.pos = 0;
    this.frameOffset = frameOffset;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  /** An error at `offset` (default: the cursor) of the payload being read, for the caller to throw. */
  error(code: ProtocolDecodeErrorCode, detail: string, offset = this.pos): ProtocolDecodeError {
    return new ProtocolDecodeError(code, this.kind, detail, offset, this.frameOffset);
  }

  /** Throws TRUNCATED unless `bytes` more bytes remain. */
  need(bytes: number, field: string): void {
    if (bytes > this.buf.length - this.pos) {
      throw this.error(
        'TRUNCATED',
        `payload ends inside ${field} (needs ${bytes} bytes, ${this.buf.length - this.pos} remain)`,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++];
  }

  u16(field: string): number {
    this.need(2, field);
    const buf = this.buf;
    const pos = this.pos;
    this.pos = pos + 2;
    return buf[pos] | (buf[pos + 1] << 8);
  }

  i32(field: string): number {
    this.need(4, field);
    const buf = this.buf;
    const pos = this.pos;
    this.pos = pos + 4;
    return buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16) | (buf[pos + 3] << 24);
  }

  u64(field: string): bigint {
    this.need(8, field);
    scratch.set(this.buf.subarray(this.pos, this.pos + 8));
    this.pos += 8;
    return scratchView.getBigUint64(0, true);
  }

  f32(field: string): number {
    this.need(4, field);
    const buf = this.buf;
    const pos = this.pos;
    scratch[0] = buf[pos];
    scratch[1] = buf[pos + 1];
    scratch[2] = buf[pos + 2];
    scratch[3] = buf[pos + 3];
    this.pos = pos + 4;
    return scratchView.getFloat32(0, true);
  }

  /** An unsigned LEB128 of at most 5 bytes and 32 bits. */
  varint(field: string): number {
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    if (pos >= buf.length) throw this.error('TRUNCATED', `payload ends inside ${field} (varint)`);
    let b = buf[pos++];
    if (b < 0x80) {
      this.pos = pos;
      return b;
    }
    let value = b & 0x7f;
    for (let shift = 7; ; shift += 7) {
      if (pos >= buf.length) {
        throw this.error('TRUNCATED', `payload ends inside ${field} (varint)`, start);
      }
      b = buf[pos++];
      if (shift === 28) {
        if (b & 0x80) throw this.error('VARINT_TOO_LONG', `varint longer than 5 bytes in ${field}`, start);
        // The fifth byte holds bits 28..34; a uint32 uses only 28..31.
        if (b > 0x0f) throw this.error('VARINT_OVERFLOW', `varint above 32 bits in ${field}`, start);
        this.pos = pos;
        return value + b * 0x1000_0000;
      }
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return value;
      }
    }
  }

  /** A zigzag varint: an int32. */
  zigzag(field: string): number {
    const u = this.varint(field);
    return (u >>> 1) ^ -(u & 1);
  }

  /** The next `length` bytes as a view of the payload (no copy). */
  bytes(length: number, field: string): Uint8Array {
    this.need(length, field);
    const start = this.pos;
    this.pos = start + length;
    return this.buf.subarray(start, this.pos);
  }
}
