import { encodedFrameLength, encodeFrame, encodeFrameInto, encodeFrames } from './encode';
import { EmptyFrameError } from './errors';
import { prefixLength, writePrefix } from './length-prefix';
import { Framing } from './types';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

function prefixHex(framing: Framing, length: number): string {
  const target = new Uint8Array(prefixLength(framing, length));
  expect(writePrefix(framing, length, target, 0)).toBe(target.length);
  return hex(target);
}

describe('length prefixes (golden bytes worked out by hand from formats.md §1)', () => {
  it.each([
    [1, '01'],
    [127, '7F'],
    [128, '8001'],
    [300, 'AC02'],
    [16_383, 'FF7F'],
    [16_384, '808001'],
    [2 ** 21 - 1, 'FFFF7F'],
    [2 ** 21, '80808001'],
    [2 ** 28, '8080808001'],
    [2 ** 32 - 1, 'FFFFFFFF0F'],
  ])('writes length %i as the minimal varint %s', (length, expected) => {
    expect(prefixHex('varint', length)).toBe(expected);
  });

  it.each([
    [1, '01000000'],
    [300, '2C010000'],
    [0x01020304, '04030201'],
    [2 ** 32 - 1, 'FFFFFFFF'],
  ])('writes length %i as uint32 LE %s', (length, expected) => {
    expect(prefixHex('u32le', length)).toBe(expected);
  });
});

describe('encodeFrame', () => {
  it('puts the varint length before the payload', () => {
    expect(hex(encodeFrame(Uint8Array.of(0xaa), 'varint'))).toBe('01AA');
    const frame = encodeFrame(new Uint8Array(300).fill(0x5a), 'varint');
    expect(frame.length).toBe(302);
    expect(hex(frame.subarray(0, 3))).toBe('AC025A');
  });

  it('puts the uint32 LE length before the payload', () => {
    expect(hex(encodeFrame(Uint8Array.of(1, 2, 3), 'u32le'))).toBe('03000000010203');
  });

  it('refuses an empty payload, which RW readers would take for the end of the stream', () => {
    expect(() => encodeFrame(new Uint8Array(0), 'varint')).toThrow(EmptyFrameError);
    expect(() => encodeFrameInto(new Uint8Array(0), 'u32le', new Uint8Array(8), 3)).toThrow(
      expect.objectContaining({ code: 'EMPTY_FRAME', offset: 3 }),
    );
  });

  it('writes into a caller buffer at an offset and returns the offset after the frame', () => {
    const target = new Uint8Array(8).fill(0xee);
    expect(encodeFrameInto(Uint8Array.of(7, 8), 'varint', target, 2)).toBe(5);
    expect(hex(target)).toBe('EEEE020708EEEEEE');
  });

  it('writes nothing and throws RangeError when the caller buffer is too small', () => {
    const target = new Uint8Array(4);
    expect(() => encodeFrameInto(Uint8Array.of(1, 2, 3, 4), 'varint', target, 0)).toThrow(RangeError);
    expect(hex(target)).toBe('00000000');
  });

  it('concatenates frames with encodeFrames and sizes them with encodedFrameLength', () => {
    const frames = encodeFrames([Uint8Array.of(1), new Uint8Array(128)], 'varint');
    expect(frames.length).toBe(encodedFrameLength(1, 'varint') + encodedFrameLength(128, 'varint'));
    expect(hex(frames.subarray(0, 5))).toBe('0101800100');
  });
});
