// The write side of the wire primitives (formats.md preamble): a growable byte buffer that an
// encoder keeps for its whole life, so that encoding allocates nothing once it has grown to the
// largest frame.

export const UINT8_MAX = 0xff;
export const UINT16_MAX = 0xffff;
export const UINT32_MAX = 0xffffffff;
export const UINT64_MAX = 0xffff_ffff_ffff_ffffn;
/** Largest bytes a 32-bit varint takes. */
export const MAX_VARINT32_BYTES = 5;

const TWO_POW_32 = 0x1_0000_0000;
const INITIAL_CAPACITY = 256;

// TextEncoder exists in Node and in browsers: the codecs stay free of Buffer.
const utf8Encoder = new TextEncoder();

/** ZigZag of an int32 with the 32-bit formula of formats.md, `(n << 1) ^ (n >> 31)`, as uint32. */
export function zigzagEncode32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0;
}

/** Inverse of zigzagEncode32: `(u >>> 1) ^ -(u & 1)`, an int32. */
export function zigzagDecode32(u: number): number {
  return (u >>> 1) ^ -(u & 1);
}

/** Bytes of the minimal varint of a uint32. */
export function varint32Length(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}

/** Bytes TextEncoder produces for `text` (a lone surrogate becomes U+FFFD, 3 bytes). Lets a
 *  writer put the length prefix first and then encode straight into its buffer. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Appends little-endian fixed-width values, varints and zigzag varints. Values are trusted: the
 * codecs validate input where it enters (the public add/draw methods) and write only valid values.
 */
export class ByteWriter {
  private buf: Uint8Array;
  private dv: DataView;
  private len = 0;

  constructor(initialCapacity = INITIAL_CAPACITY) {
    this.buf = new Uint8Array(initialCapacity);
    this.dv = new DataView(this.buf.buffer);
  }

  /** Bytes written since the last reset. */
  get length(): number {
    return this.len;
  }

  reset(): void {
    this.len = 0;
  }

  /** Drops everything written after `length` (to undo a half-written record). */
  truncate(length: number): void {
    if (length < this.len) this.len = length;
  }

  /** The bytes written so far, as a view of the internal buffer: valid until the next write or
   *  reset. Copy it (`slice()`) to keep it. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }

  /** Makes room for `extra` more bytes. */
  ensure(extra: number): void {
    const needed = this.len + extra;
    if (needed <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(needed, this.buf.length * 2));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
    this.dv = new DataView(grown.buffer);
  }

  u8(value: number): void {
    this.ensure(1);
    this.buf[this.len++] = value;
  }

  u16(value: number): void {
    this.ensure(2);
    const buf = this.buf;
    const pos = this.len;
    buf[pos] = value & 0xff;
    buf[pos + 1] = value >>> 8;
    this.len = pos + 2;
  }

  i32(value: number): void {
    this.ensure(4);
    const buf = this.buf;
    const pos = this.len;
    buf[pos] = value & 0xff;
    buf[pos + 1] = (value >>> 8) & 0xff;
    buf[pos + 2] = (value >>> 16) & 0xff;
    buf[pos + 3] = value >>> 24;
    this.len = pos + 4;
  }

  /** uint64 LE from a bigint (0..2^64-1) or a non-negative safe integer (no bigint allocated). */
  u64(value: bigint | number): void {
    this.ensure(8);
    if (typeof value === 'bigint') {
      this.dv.setBigUint64(this.len, value, true);
      this.len += 8;
      return;
    }
    this.i32(value % TWO_POW_32);
    this.i32(Math.floor(value / TWO_POW_32));
  }

  f32(value: number): void {
    this.ensure(4);
    this.dv.setFloat32(this.len, value, true);
    this.len += 4;
  }

  /** Minimal unsigned LEB128 of a uint32. */
  varint(value: number): void {
    this.ensure(MAX_VARINT32_BYTES);
    const buf = this.buf;
    let pos = this.len;
    while (value > 0x7f) {
      buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[pos++] = value;
    this.len = pos;
  }

  /** ZigZag varint of an int32. */
  zigzag(value: number): void {
    this.varint(((value << 1) ^ (value >> 31)) >>> 0);
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** UTF-8 bytes of `text`, whose length the caller has computed with utf8ByteLength. */
  utf8(text: string, byteLength: number): void {
    this.ensure(byteLength);
    utf8Encoder.encodeInto(text, this.buf.subarray(this.len, this.len + byteLength));
    this.len += byteLength;
  }
}
