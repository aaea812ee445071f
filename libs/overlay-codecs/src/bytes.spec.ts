import fc from 'fast-check';
import { ByteReader } from './byte-reader';
import { ByteWriter, utf8ByteLength, varint32Length, zigzagDecode32, zigzagEncode32 } from './byte-writer';
import { fromHex, toHex } from './test-support/frames';
import { decodeError } from './test-support/errors';

function written(write: (w: ByteWriter) => void): string {
  const w = new ByteWriter(1); // capacity 1: every test also exercises growth
  write(w);
  return toHex(w.view());
}

function readerOf(hex: string): ByteReader {
  const r = new ByteReader('keypoints');
  r.reset(fromHex(hex), 100);
  return r;
}

describe('ByteWriter', () => {
  it('writes minimal varints at each length boundary', () => {
    expect(written((w) => w.varint(0))).toBe('00');
    expect(written((w) => w.varint(127))).toBe('7f');
    expect(written((w) => w.varint(128))).toBe('80 01');
    expect(written((w) => w.varint(16383))).toBe('ff 7f');
    expect(written((w) => w.varint(16384))).toBe('80 80 01');
    expect(written((w) => w.varint(0xffffffff))).toBe('ff ff ff ff 0f');
  });

  it('zigzags with the 32-bit formula (n << 1) ^ (n >> 31)', () => {
    expect([0, -1, 1, -2, 2].map(zigzagEncode32)).toEqual([0, 1, 2, 3, 4]);
    expect(zigzagEncode32(2147483647)).toBe(4294967294);
    expect(zigzagEncode32(-2147483648)).toBe(4294967295);
    expect(written((w) => w.zigzag(-2147483648))).toBe('ff ff ff ff 0f');
  });

  it('writes fixed-width values little-endian', () => {
    expect(written((w) => w.u16(0x1234))).toBe('34 12');
    expect(written((w) => w.i32(-2))).toBe('fe ff ff ff');
    expect(written((w) => w.u64(0x0102030405060708n))).toBe('08 07 06 05 04 03 02 01');
    expect(written((w) => w.u64(2 ** 53 - 1))).toBe('ff ff ff ff ff ff 1f 00');
    expect(written((w) => w.f32(90))).toBe('00 00 b4 42');
  });

  it('counts UTF-8 bytes as TextEncoder writes them, lone surrogates as U+FFFD', () => {
    for (const text of ['', 'a', 'é', '€', '🙂', '\ud800', 'x\udc00y', '\ud83d']) {
      expect(utf8ByteLength(text)).toBe(new TextEncoder().encode(text).length);
    }
  });

  it('undoes a half-written record with truncate', () => {
    const w = new ByteWriter();
    w.u8(1);
    w.i32(7);
    w.truncate(1);
    expect(toHex(w.view())).toBe('01');
  });
});

describe('ByteReader', () => {
  it('reads back every uint32 varint and every int32 zigzag', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (u, n) => {
        const w = new ByteWriter();
        w.varint(u);
        w.zigzag(n);
        expect(w.length).toBe(varint32Length(u) + varint32Length(zigzagEncode32(n)));
        const r = new ByteReader('stage');
        r.reset(w.view());
        expect(r.varint('u')).toBe(u);
        expect(r.zigzag('n')).toBe(n);
        expect(zigzagDecode32(zigzagEncode32(n))).toBe(n);
      }),
    );
  });

  it('accepts a non-minimal 5-byte varint', () => {
    expect(readerOf('80 80 80 80 00').varint('v')).toBe(0);
  });

  it('rejects a varint longer than 5 bytes at the offset it starts', () => {
    const r = readerOf('00 80 80 80 80 80 01');
    r.u8('pad');
    const error = decodeError(() => r.varint('the count'));
    expect(error.code).toBe('VARINT_TOO_LONG');
    expect(error.offset).toBe(1);
    expect(error.frameOffset).toBe(100);
    expect(error.message).toBe(
      'keypoints: varint longer than 5 bytes in the count at payload offset 1 of the frame at stream offset 100',
    );
  });

  it('rejects a 5-byte varint above 32 bits', () => {
    expect(decodeError(() => readerOf('ff ff ff ff 10').varint('v')).code).toBe('VARINT_OVERFLOW');
  });

  it('reports truncation inside a varint and inside fixed-width fields', () => {
    expect(decodeError(() => readerOf('80 80').varint('v')).code).toBe('TRUNCATED');
    expect(decodeError(() => readerOf('').u8('v')).code).toBe('TRUNCATED');
    const error = decodeError(() => readerOf('01 02 03').i32('an x'));
    expect(error.code).toBe('TRUNCATED');
    expect(error.detail).toBe('payload ends inside an x (needs 4 bytes, 3 remain)');
    expect(decodeError(() => readerOf('01').bytes(2, 'b')).code).toBe('TRUNCATED');
  });

  it('reads fixed-width values little-endian', () => {
    const r = readerOf('34 12 | fe ff ff ff | 08 07 06 05 04 03 02 01 | 00 00 80 bf | ff ff ff ff ff ff ff ff');
    expect(r.u16('a')).toBe(0x1234);
    expect(r.i32('b')).toBe(-2);
    expect(r.u64('c')).toBe(0x0102030405060708n);
    expect(r.f32('d')).toBe(-1);
    expect(r.u64('e')).toBe(0xffff_ffff_ffff_ffffn);
    expect(r.remaining).toBe(0);
  });
});
