import fc from 'fast-check';
import { encodeFrames } from './encode';
import {
  EmptyFrameError,
  FrameTooLargeError,
  FramingError,
  TruncatedFrameError,
  VarintTooLongError,
} from './errors';
import { FrameDecoder, FrameDecoderOptions, decodeFrames } from './frame-decoder';
import { prefixLength } from './length-prefix';
import { Frame, Framing } from './types';

const FRAMINGS: Framing[] = ['varint', 'u32le'];

/** Splits `bytes` at the given cut points (any numbers; taken modulo the length, sorted). */
function chunk(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % (bytes.length + 1))))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

/** Decodes `chunks` to the end; returns the frames and the error, if any. */
function decodeChunks(chunks: readonly Uint8Array[], options: FrameDecoderOptions): { frames: Frame[]; error?: unknown } {
  const decoder = new FrameDecoder(options);
  const frames: Frame[] = [];
  try {
    for (const c of chunks) {
      decoder.push(c);
      for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
        frames.push(frame);
      }
    }
    decoder.finish();
    return { frames };
  } catch (error) {
    return { frames, error };
  }
}

function frameOffsets(payloads: readonly Uint8Array[], framing: Framing, start = 0): number[] {
  const offsets: number[] = [];
  let offset = start;
  for (const p of payloads) {
    offsets.push(offset);
    offset += prefixLength(framing, p.length) + p.length;
  }
  return offsets;
}

const payloadArb = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 200 }) },
  // Lengths with two- and three-byte varint prefixes.
  { weight: 1, arbitrary: fc.integer({ min: 128, max: 20_000 }).map((n) => new Uint8Array(n).fill(n & 0xff)) },
);

describe('FrameDecoder', () => {
  it('hands out a view of the chunk when the frame lies in it', () => {
    const bytes = encodeFrames([Uint8Array.of(1, 2, 3), Uint8Array.of(4)], 'varint');
    const decoder = new FrameDecoder();
    decoder.push(bytes);
    const first = decoder.next() as Frame;
    expect(first.payload.buffer).toBe(bytes.buffer);
    expect(first.payload.byteOffset).toBe(bytes.byteOffset + 1);
    expect([...first.payload]).toEqual([1, 2, 3]);
    expect(first.offset).toBe(0);
    expect(decoder.next()).toEqual({ payload: Uint8Array.of(4), offset: 4 });
    expect(decoder.next()).toBeUndefined();
    decoder.finish();
  });

  it('copies a frame that spans chunks into a buffer of exactly its length', () => {
    const payload = new Uint8Array(1000).map((_, i) => i & 0xff);
    const bytes = encodeFrames([payload], 'u32le');
    const decoder = new FrameDecoder({ framing: 'u32le' });
    decoder.push(bytes.subarray(0, 2));
    expect(decoder.next()).toBeUndefined();
    decoder.push(bytes.subarray(2, 500));
    expect(decoder.next()).toBeUndefined();
    decoder.push(bytes.subarray(500));
    const frame = decoder.next() as Frame;
    expect(frame.offset).toBe(0);
    expect(frame.payload.buffer).not.toBe(bytes.buffer);
    expect(frame.payload.buffer.byteLength).toBe(1000);
    expect(Buffer.from(frame.payload).equals(Buffer.from(payload))).toBe(true);
    decoder.finish();
  });

  it('hands out a view when only the prefix spans chunks', () => {
    const bytes = encodeFrames([new Uint8Array(300).fill(9)], 'varint');
    const decoder = new FrameDecoder();
    decoder.push(bytes.subarray(0, 1));
    expect(decoder.next()).toBeUndefined();
    const second = bytes.subarray(1);
    decoder.push(second);
    const frame = decoder.next() as Frame;
    expect(frame.payload.buffer).toBe(bytes.buffer);
    expect(frame.payload.length).toBe(300);
    expect(frame.offset).toBe(0);
  });

  it('reports offsets from startOffset', () => {
    const frames = decodeFrames(encodeFrames([Uint8Array.of(1), Uint8Array.of(2)], 'varint'), { startOffset: 1000 });
    expect(frames.map((f) => f.offset)).toEqual([1000, 1002]);
  });

  it('ends cleanly on empty input and at a frame boundary', () => {
    expect(decodeFrames(new Uint8Array(0))).toEqual([]);
    const decoder = new FrameDecoder();
    decoder.push(new Uint8Array(0));
    expect(decoder.next()).toBeUndefined();
    expect(decoder.atFrameBoundary).toBe(true);
    decoder.finish();
  });

  it('refuses a push before the previous chunk was pulled', () => {
    const decoder = new FrameDecoder();
    decoder.push(Uint8Array.of(1, 1, 1, 1));
    expect(() => decoder.push(Uint8Array.of(1))).toThrow(/previous chunk/);
  });

  it('keeps failing with the same error once a framing error was met', () => {
    const decoder = new FrameDecoder();
    decoder.push(Uint8Array.of(0));
    expect(() => decoder.next()).toThrow(EmptyFrameError);
    let again: unknown;
    try {
      decoder.push(Uint8Array.of(1, 1));
    } catch (error) {
      again = error;
    }
    expect(again).toBeInstanceOf(EmptyFrameError);
    expect(() => decoder.finish()).toThrow(EmptyFrameError);
  });

  it.each([0, -1, 1.5, 2 ** 32])('refuses maxFrameBytes %p', (maxFrameBytes) => {
    expect(() => new FrameDecoder({ maxFrameBytes })).toThrow(RangeError);
  });

  describe.each(FRAMINGS)('%s framing, properties', (framing) => {
    it('round-trips any list of payloads split into any chunks', () => {
      fc.assert(
        fc.property(fc.array(payloadArb, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 12 }), (payloads, cuts) => {
          const bytes = encodeFrames(payloads, framing);
          const { frames, error } = decodeChunks(chunk(bytes, cuts), { framing });
          expect(error).toBeUndefined();
          expect(frames).toHaveLength(payloads.length);
          // Buffer.equals, not toEqual: deep equality over 20 kB payloads dominates the run time.
          frames.forEach((f, i) => expect(Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.length).equals(payloads[i])).toBe(true));
          expect(frames.map((f) => f.offset)).toEqual(frameOffsets(payloads, framing));
        }),
        { numRuns: 500 },
      );
    });

    it('decoding arbitrary bytes only ever throws a FramingError, never allocating past the limit', () => {
      const maxFrameBytes = 4096;
      const allocations = jest.spyOn(Buffer, 'allocUnsafeSlow');
      try {
        fc.assert(
          fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
            const { frames, error } = decodeChunks(chunk(bytes, cuts), { framing, maxFrameBytes });
            if (error !== undefined) expect(error).toBeInstanceOf(FramingError);
            for (const f of frames) expect(f.payload.length).toBeLessThanOrEqual(maxFrameBytes);
          }),
          { numRuns: 500 },
        );
        for (const [size] of allocations.mock.calls) expect(size).toBeLessThanOrEqual(maxFrameBytes);
      } finally {
        allocations.mockRestore();
      }
    });

    it('a stream cut at every offset yields the frames before the cut, then TruncatedFrameError naming the cut frame', () => {
      const payloads = [Uint8Array.of(0x11), new Uint8Array(130).fill(0x22), Uint8Array.of(0x33, 0x44), new Uint8Array(300).fill(0x55)];
      const bytes = encodeFrames(payloads, framing);
      const starts = [...frameOffsets(payloads, framing), bytes.length];
      for (let cut = 0; cut <= bytes.length; cut++) {
        const prefix = bytes.subarray(0, cut);
        // One chunk, and two chunks split in the middle of the cut stream.
        for (const chunks of [[prefix], chunk(prefix, [cut >> 1])]) {
          const { frames, error } = decodeChunks(chunks, { framing });
          const complete = starts.filter((s, i) => i > 0 && s <= cut).length;
          expect(frames.map((f) => f.payload.length)).toEqual(payloads.slice(0, complete).map((p) => p.length));
          if (starts.includes(cut)) {
            expect(error).toBeUndefined();
            continue;
          }
          const frameStart = starts[complete];
          const frameBytes = starts[complete + 1] - frameStart;
          const prefixBytes = prefixLength(framing, payloads[complete].length);
          expect(error).toBeInstanceOf(TruncatedFrameError);
          const truncated = error as TruncatedFrameError;
          expect(truncated.offset).toBe(frameStart);
          expect(truncated.available).toBe(cut - frameStart);
          expect(truncated.expected).toBe(cut - frameStart < prefixBytes ? -1 : frameBytes);
        }
      }
    });
  });
});

describe('malformed streams', () => {
  it('rejects a varint prefix longer than 5 bytes at the offset of the prefix', () => {
    const overlong = Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01);
    expect(() => decodeFrames(overlong)).toThrow(expect.objectContaining({ code: 'VARINT_TOO_LONG', offset: 0 }));
    const afterFrame = Uint8Array.of(0x01, 0xaa, ...overlong);
    expect(() => decodeFrames(afterFrame)).toThrow(VarintTooLongError);
    expect(() => decodeFrames(afterFrame)).toThrow(expect.objectContaining({ offset: 2 }));
  });

  it('rejects an over-long varint fed one byte at a time, as soon as its fifth byte arrives', () => {
    const decoder = new FrameDecoder();
    decoder.push(Uint8Array.of(0x01, 0xaa));
    expect(decoder.next()?.offset).toBe(0);
    for (let i = 0; i < 4; i++) {
      decoder.push(Uint8Array.of(0xff));
      expect(decoder.next()).toBeUndefined();
    }
    decoder.push(Uint8Array.of(0x80));
    expect(() => decoder.next()).toThrow(expect.objectContaining({ code: 'VARINT_TOO_LONG', offset: 2 }));
  });

  it('rejects a length above the configured limit, at the offset of its prefix', () => {
    const bytes = encodeFrames([new Uint8Array(10), new Uint8Array(11)], 'varint');
    expect(() => decodeFrames(bytes, { maxFrameBytes: 10 })).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE', offset: 11, length: 11, maxFrameBytes: 10 }),
    );
    expect(decodeFrames(bytes.subarray(0, 11), { maxFrameBytes: 10 })).toHaveLength(1);
  });

  it.each([
    ['varint', Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f)],
    ['u32le', Uint8Array.of(0xff, 0xff, 0xff, 0xff)],
  ] as const)('throws at once, allocating nothing, for a %s prefix claiming 4 GiB', (framing, prefix) => {
    const allocations = jest.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      const decoder = new FrameDecoder({ framing });
      decoder.push(prefix);
      expect(() => decoder.next()).toThrow(FrameTooLargeError);
      expect(() => decoder.next()).toThrow(expect.objectContaining({ length: 2 ** 32 - 1, offset: 0 }));
      expect(allocations).not.toHaveBeenCalled();
    } finally {
      allocations.mockRestore();
    }
  });

  it('rejects a 5-byte varint whose value exceeds 32 bits as too large', () => {
    expect(() => decodeFrames(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x7f))).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE', length: 2 ** 35 - 1 }),
    );
  });

  it.each(FRAMINGS)('rejects a zero-length %s frame at its offset', (framing) => {
    const zero = framing === 'varint' ? [0] : [0, 0, 0, 0];
    expect(() => decodeFrames(Uint8Array.of(...zero), { framing })).toThrow(
      expect.objectContaining({ code: 'EMPTY_FRAME', offset: 0 }),
    );
    const afterFrame = Uint8Array.from([...encodeFrames([Uint8Array.of(5)], framing), ...zero]);
    expect(() => decodeFrames(afterFrame, { framing })).toThrow(
      expect.objectContaining({ code: 'EMPTY_FRAME', offset: framing === 'varint' ? 2 : 5 }),
    );
  });

  it('accepts a non-minimal varint prefix, as protobuf readers do', () => {
    expect(decodeFrames(Uint8Array.of(0x81, 0x00, 0xaa))).toEqual([{ payload: Uint8Array.of(0xaa), offset: 0 }]);
  });
});
