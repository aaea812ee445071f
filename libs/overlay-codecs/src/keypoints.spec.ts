import fc from 'fast-check';
import { ProtocolDecodeError, ProtocolEncodeError, ProtocolStateError } from './errors';
import {
  KeyPointInput,
  KeyPointsDecoder,
  KeyPointsEncoder,
  KeyPointsFrame,
  KeyPointsSink,
  readKeyPoints,
} from './keypoints';
import { MemoryFrameSink, collect, framesOf, fromHex, toHex } from './test-support/frames';
import { confidenceToRaw } from './values';
import { decodeError, expectOnlyDecodeErrors } from './test-support/errors';

// Golden bytes, worked out by hand from formats.md §2.
//
// Frame 0 (k = 0: master), frame id 1, two keypoints:
//   00                          frame type master
//   01 00 00 00 00 00 00 00     frame id 1, uint64 LE
//   02                          count 2
//   00 | 64 00 00 00 | c8 00 00 00 | ff ff    id 0, x 100, y 200, confidence 1.0 -> raw 65535
//   01 | fb ff ff ff | 07 00 00 00 | ff 7f    id 1, x -5 (int32 LE), y 7, 0.5 -> trunc(32767.5) = 0x7fff
const MASTER = fromHex(`
  00 | 01 00 00 00 00 00 00 00 | 02
  00 64 00 00 00 c8 00 00 00 ff ff
  01 fb ff ff ff 07 00 00 00 ff 7f`);
// Frame 1 (delta), frame id 2: id 0 moves to (103, 198), id 1 disappears, id 2 is new at
// (-3, 640) with confidence 0.25 -> raw trunc(16383.75) = 16383.
//   01 | 02 00 .. 00 | 02
//   00 | 06 | 03 | 00        id 0: dx 3 -> zz 6, dy -2 -> zz 3, dconf 0
//   02 | 05 | 80 0a | fe ff 01   id 2, absolute through zz: zz(-3) = 5, zz(640) = 1280 = varint 80 0a,
//                                zz(16383) = 32766 = varint fe ff 01
const DELTA = fromHex(`
  01 | 02 00 00 00 00 00 00 00 | 02
  00 06 03 00
  02 05 80 0a fe ff 01`);
// Frame 2 (delta), frame id 3: only id 1, reappearing after frame 1 lacked it, so absolute again:
//   01 | 03 00 .. 00 | 01 | 01 | 09 | 0e | fe ff 03   zz(-5) = 9, zz(7) = 14, zz(32767) = 65534
const REAPPEAR = fromHex(`
  01 | 03 00 00 00 00 00 00 00 | 01
  01 09 0e fe ff 03`);

const FRAME_0: KeyPointInput[] = [
  { id: 0, x: 100, y: 200, confidence: 1 },
  { id: 1, x: -5, y: 7, confidence: 0.5 },
];
const FRAME_1: KeyPointInput[] = [
  { id: 0, x: 103, y: 198, confidence: 1 },
  { id: 2, x: -3, y: 640, confidence: 0.25 },
];
const FRAME_2: KeyPointInput[] = [{ id: 1, x: -5, y: 7, confidence: 0.5 }];

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
// Mostly a skeleton's worth of small ids, sometimes ids past the dense lookup or up to uint32.
const keypointId = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 24 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 1100 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);
const confidence = fc.oneof(
  fc.double({ min: 0, max: 1, noNaN: true }),
  fc.double(), // out of range, infinite, NaN: clamped
);
const frameArb = fc.record({
  frameId: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
  keypoints: fc.uniqueArray(fc.record({ id: keypointId, x: int32, y: int32, confidence }), {
    selector: (kp) => kp.id,
    maxLength: 20,
  }),
});
// Frames drawn from a small pool of positions so that deltas, moves and reappearances all occur.
const sequenceArb = fc.array(frameArb, { minLength: 1, maxLength: 25 });

function encodeAll(frames: { frameId: bigint; keypoints: KeyPointInput[] }[], masterInterval: number): Uint8Array[] {
  const encoder = new KeyPointsEncoder({ masterInterval });
  return frames.map((f) => encoder.encodeFrame(f.frameId, f.keypoints).slice());
}

function expectFrame(decoded: KeyPointsFrame, frameId: bigint, input: KeyPointInput[]): void {
  expect(decoded.frameId).toBe(frameId);
  expect(decoded.keypoints.map((kp) => [kp.id, kp.x, kp.y, kp.confidenceRaw])).toEqual(
    input.map((kp) => [kp.id, kp.x, kp.y, confidenceToRaw(kp.confidence)]),
  );
  for (const kp of decoded.keypoints) expect(kp.confidence).toBe(kp.confidenceRaw / 65535);
}

describe('KeyPointsEncoder', () => {
  it('writes the golden master, delta and reappearing-delta bytes', () => {
    const encoder = new KeyPointsEncoder();
    expect(toHex(encoder.encodeFrame(1n, FRAME_0))).toBe(toHex(MASTER));
    expect(toHex(encoder.encodeFrame(2n, FRAME_1))).toBe(toHex(DELTA));
    expect(toHex(encoder.encodeFrame(3, FRAME_2))).toBe(toHex(REAPPEAR));
  });

  it('wraps deltas in int32: x from 2147483647 to -2147483648 is +1', () => {
    const encoder = new KeyPointsEncoder();
    // Master: id 0, x 0x7fffffff, y 0x80000000, confidence 0.
    expect(toHex(encoder.encodeFrame(0, [{ id: 0, x: 2147483647, y: -2147483648, confidence: 0 }]))).toBe(
      toHex(fromHex('00 | 00 00 00 00 00 00 00 00 | 01 | 00 ff ff ff 7f 00 00 00 80 00 00')),
    );
    // Delta: dx = (-2147483648 - 2147483647) | 0 = 1 -> zz 2; dy = (2147483647 + 2147483648) | 0 = -1 -> zz 1.
    expect(toHex(encoder.encodeFrame(1, [{ id: 0, x: -2147483648, y: 2147483647, confidence: 0 }]))).toBe(
      toHex(fromHex('01 | 01 00 00 00 00 00 00 00 | 01 | 00 02 01 00')),
    );
  });

  it('writes the frame id as uint64 LE, up to 2^64 - 1', () => {
    const bytes = new KeyPointsEncoder().encodeFrame(0xffff_ffff_ffff_fffen, []);
    expect(toHex(bytes)).toBe('00 fe ff ff ff ff ff ff ff 00');
  });

  it('converts confidence to raw as trunc(clamp(c, 0, 1) * 65535)', () => {
    expect([1, 0.5, 0, 0.25, 1.5, -0.1, NaN, Infinity].map(confidenceToRaw)).toEqual([
      0xffff, 0x7fff, 0, 16383, 0xffff, 0, 0, 0xffff,
    ]);
    expect(confidenceToRaw(1 / 65535)).toBe(1);
  });

  it('makes frame k a master when k % interval == 0, whatever the frame ids', () => {
    const encoder = new KeyPointsEncoder({ masterInterval: 3 });
    const types = [900, 5, 5, 1, 0, 77, 3].map((id) => encoder.encodeFrame(id, [])[0]);
    expect(types).toEqual([0, 1, 1, 0, 1, 1, 0]);
  });

  it('rejects a master interval below 1 or not an integer', () => {
    for (const masterInterval of [0, -1, 1.5, NaN]) {
      expect(() => new KeyPointsEncoder({ masterInterval })).toThrow(
        expect.objectContaining({ code: 'INVALID_MASTER_INTERVAL' }),
      );
    }
  });

  it('rejects values the wire cannot carry, naming them', () => {
    const encoder = new KeyPointsEncoder();
    encoder.beginFrame(1);
    expect(() => encoder.add(-1, 0, 0, 1)).toThrow('keypoint id -1 is not an integer in 0..4294967295');
    expect(() => encoder.add(0, 2 ** 31, 0, 1)).toThrow('keypoint x 2147483648 is not an int32');
    expect(() => encoder.add(0, 0, 0.5, 1)).toThrow(ProtocolEncodeError);
    encoder.add(3, 0, 0, 1);
    expect(() => encoder.add(3, 1, 1, 1)).toThrow(expect.objectContaining({ code: 'DUPLICATE_KEYPOINT_ID' }));
    expect(() => encoder.beginFrame(-1)).toThrow(expect.objectContaining({ code: 'VALUE_OUT_OF_RANGE' }));
    expect(() => encoder.beginFrame(2n ** 64n)).toThrow(ProtocolEncodeError);
  });

  it('does not count an abandoned frame', () => {
    const encoder = new KeyPointsEncoder();
    encoder.beginFrame(1);
    encoder.add(0, 1, 1, 1);
    encoder.abandonFrame();
    expect(() => encoder.finishFrame()).toThrow(ProtocolStateError);
    expect(encoder.encodeFrame(2, [])[0]).toBe(0);
    expect(encoder.framesEncoded).toBe(1);
  });
});

describe('KeyPointsDecoder', () => {
  it('decodes the golden frames to absolute values', () => {
    const decoder = new KeyPointsDecoder();
    const master = decoder.decode(MASTER, 40);
    expect(master).toEqual({
      frameId: 1n,
      type: 'master',
      offset: 40,
      keypoints: [
        { id: 0, x: 100, y: 200, confidence: 1, confidenceRaw: 65535 },
        { id: 1, x: -5, y: 7, confidence: 32767 / 65535, confidenceRaw: 32767 },
      ],
    });
    expect(decoder.decode(DELTA).keypoints).toEqual([
      { id: 0, x: 103, y: 198, confidence: 1, confidenceRaw: 65535 },
      { id: 2, x: -3, y: 640, confidence: 16383 / 65535, confidenceRaw: 16383 },
    ]);
    expect(decoder.decode(REAPPEAR).keypoints).toEqual([
      { id: 1, x: -5, y: 7, confidence: 32767 / 65535, confidenceRaw: 32767 },
    ]);
  });

  it('decodes a delta before any master against an empty state', () => {
    const frame = new KeyPointsDecoder().decode(DELTA);
    expect(frame.type).toBe('delta');
    expect(frame.keypoints.map((kp) => [kp.id, kp.x, kp.y, kp.confidenceRaw])).toEqual([
      [0, 3, -2, 0],
      [2, -3, 640, 16383],
    ]);
  });

  it('clamps decoded raw confidence to 0..65535', () => {
    const decoder = new KeyPointsDecoder();
    decoder.decode(MASTER); // id 0 at raw 65535
    // id 0: dconf +10 (zz 20 = 0x14); id 9 (new): dconf -4 (zz 7).
    const frame = decoder.decode(fromHex('01 | 00 00 00 00 00 00 00 00 | 02 | 00 00 00 14 | 09 00 00 07'));
    expect(frame.keypoints.map((kp) => kp.confidenceRaw)).toEqual([65535, 0]);
  });

  it('decodes a repeated id against the previous frame, the later record becoming the state', () => {
    const decoder = new KeyPointsDecoder();
    decoder.decode(MASTER); // id 0 at x 100
    // Two records for id 0: dx +1 (zz 2) and dx +2 (zz 4), both against the previous frame.
    const twice = decoder.decode(fromHex('01 | 00 00 00 00 00 00 00 00 | 02 | 00 02 00 00 | 00 04 00 00'));
    expect(twice.keypoints.map((kp) => kp.x)).toEqual([101, 102]);
    expect(decoder.decode(fromHex('01 | 00 00 00 00 00 00 00 00 | 01 | 00 00 00 00')).keypoints[0].x).toBe(102);
  });

  it('continues from a restored state, as after a seek', () => {
    const decoder = new KeyPointsDecoder([{ id: 0, x: 100, y: 200, confidenceRaw: 65535 }]);
    expect(decoder.decode(DELTA).keypoints[0]).toMatchObject({ id: 0, x: 103, y: 198 });
    decoder.reset();
    expect(decoder.decode(DELTA).keypoints[0]).toMatchObject({ id: 0, x: 3, y: -2 });
  });

  it('keeps its state when a payload fails to decode', () => {
    const decoder = new KeyPointsDecoder();
    decoder.decode(MASTER);
    decodeError(() => decoder.decode(DELTA.subarray(0, DELTA.length - 1)));
    expect(decoder.decode(DELTA).keypoints[0]).toMatchObject({ id: 0, x: 103, y: 198 });
  });

  it('rejects a frame type other than 0 or 1', () => {
    for (const type of [0x02, 0xff]) {
      const bytes = MASTER.slice();
      bytes[0] = type;
      const error = decodeError(() => new KeyPointsDecoder().decode(bytes, 7));
      expect(error.code).toBe('UNKNOWN_FRAME_TYPE');
      expect(error.offset).toBe(0);
      expect(error.frameOffset).toBe(7);
    }
  });

  it('rejects a count varint longer than 5 bytes or wider than 32 bits', () => {
    const tooLong = decodeError(() =>
      new KeyPointsDecoder().decode(fromHex('00 | 00 00 00 00 00 00 00 00 | 80 80 80 80 80 00')),
    );
    expect([tooLong.code, tooLong.offset]).toEqual(['VARINT_TOO_LONG', 9]);
    const overflow = decodeError(() =>
      new KeyPointsDecoder().decode(fromHex('00 | 00 00 00 00 00 00 00 00 | 80 80 80 80 10')),
    );
    expect(overflow.code).toBe('VARINT_OVERFLOW');
  });

  it('rejects a count the remaining bytes cannot hold, before reading records', () => {
    const error = decodeError(() =>
      new KeyPointsDecoder().decode(fromHex('00 | 00 00 00 00 00 00 00 00 | ff ff ff ff 0f')),
    );
    expect(error.code).toBe('TRUNCATED');
    expect(error.offset).toBe(9);
  });

  it('rejects bytes after the last record', () => {
    const bytes = new Uint8Array(MASTER.length + 1);
    bytes.set(MASTER);
    expect(decodeError(() => new KeyPointsDecoder().decode(bytes)).code).toBe('TRAILING_BYTES');
  });

  it('reports every truncation of a valid frame as TRUNCATED', () => {
    for (const frame of [MASTER, DELTA, REAPPEAR]) {
      for (let end = 0; end < frame.length; end++) {
        const error = decodeError(() => new KeyPointsDecoder().decode(frame.subarray(0, end)));
        expect(error.code).toBe('TRUNCATED');
      }
    }
  });
});

describe('keypoints codec properties', () => {
  it('round-trips arbitrary frame sequences under arbitrary master intervals', () => {
    fc.assert(
      fc.property(sequenceArb, fc.integer({ min: 1, max: 8 }), (frames, masterInterval) => {
        const payloads = encodeAll(frames, masterInterval);
        const decoder = new KeyPointsDecoder();
        payloads.forEach((payload, k) => {
          const decoded = decoder.decode(payload);
          expect(decoded.type).toBe(k % masterInterval === 0 ? 'master' : 'delta');
          expectFrame(decoded, frames[k].frameId, frames[k].keypoints);
        });
      }),
    );
  });

  it('round-trips points that move by small steps, disappear and reappear', () => {
    const step = fc.record({ id: fc.integer({ min: 0, max: 16 }), dx: fc.integer({ min: -9, max: 9 }), gone: fc.boolean() });
    fc.assert(
      fc.property(fc.array(fc.array(step, { maxLength: 17 }), { minLength: 2, maxLength: 40 }), fc.integer({ min: 1, max: 300 }), (steps, masterInterval) => {
        const positions = new Map<number, number>();
        const frames = steps.map((frameSteps, i) => {
          const seen = new Map<number, KeyPointInput>();
          for (const s of frameSteps) {
            const x = (positions.get(s.id) ?? 500) + s.dx;
            positions.set(s.id, x);
            if (!s.gone) seen.set(s.id, { id: s.id, x, y: -x, confidence: (x & 0xff) / 255 });
          }
          return { frameId: BigInt(i), keypoints: [...seen.values()] };
        });
        const decoder = new KeyPointsDecoder();
        encodeAll(frames, masterInterval).forEach((payload, k) =>
          expectFrame(decoder.decode(payload), frames[k].frameId, frames[k].keypoints),
        );
      }),
    );
  });

  it('never throws anything but ProtocolDecodeError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }), (payloads) => {
        const decoder = new KeyPointsDecoder();
        for (const payload of payloads) {
          expectOnlyDecodeErrors(() => decoder.decode(payload));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('never throws anything but ProtocolDecodeError on mutated valid frames', () => {
    fc.assert(
      fc.property(
        sequenceArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (frames, mutations) => {
          const decoder = new KeyPointsDecoder();
          for (const payload of encodeAll(frames, 4)) {
            for (const [at, value] of mutations) payload[at % payload.length] = value;
            expectOnlyDecodeErrors(() => decoder.decode(payload));
          }
        },
      ),
    );
  });

  it('reports every truncation of arbitrary valid frames as TRUNCATED', () => {
    fc.assert(
      fc.property(sequenceArb, (frames) => {
        for (const payload of encodeAll(frames, 3)) {
          for (let end = 0; end < payload.length; end++) {
            expect(decodeError(() => new KeyPointsDecoder().decode(payload.subarray(0, end))).code).toBe('TRUNCATED');
          }
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe('KeyPointsSink', () => {
  it('writes each committed frame once, as one frame', async () => {
    const frameSink = new MemoryFrameSink();
    const sink = new KeyPointsSink(frameSink);
    const writer = sink.beginFrame(1n);
    for (const kp of FRAME_0) writer.add(kp.id, kp.x, kp.y, kp.confidence);
    await writer.commit();
    await sink.flush();
    await sink.close();
    await sink.close();
    expect(frameSink.frames.map(toHex)).toEqual([toHex(MASTER)]);
    expect(frameSink.closes).toBe(1);
  });

  it('emits nothing for a writer that is never committed, and does not count it', async () => {
    const frameSink = new MemoryFrameSink();
    const sink = new KeyPointsSink(frameSink, { masterInterval: 2 });
    sink.beginFrame(1).add(0, 1, 1, 1); // abandoned by the next beginFrame
    const writer = sink.beginFrame(2).add(0, 5, 5, 1);
    await writer.commit();
    sink.beginFrame(3).add(0, 6, 6, 1); // abandoned by close
    await sink.close();
    expect(frameSink.frames).toHaveLength(1);
    expect(frameSink.frames[0][0]).toBe(0); // still frame k = 0: a master
    expect(sink.framesCommitted).toBe(1);
    expect(sink.nextFrameType).toBe('delta');
  });

  it('refuses a writer used after commit or after a later beginFrame', async () => {
    const sink = new KeyPointsSink(new MemoryFrameSink());
    const first = sink.beginFrame(1);
    await first.commit();
    expect(() => first.add(0, 0, 0, 1)).toThrow(expect.objectContaining({ code: 'WRITER_CLOSED' }));
    await expect(first.commit()).rejects.toThrow(ProtocolStateError);
    const second = sink.beginFrame(2);
    sink.beginFrame(3);
    expect(() => second.add(0, 0, 0, 1)).toThrow(ProtocolStateError);
  });

  it('refuses frames after close', async () => {
    const sink = new KeyPointsSink(new MemoryFrameSink());
    const writer = sink.beginFrame(1);
    await sink.close();
    expect(() => sink.beginFrame(2)).toThrow(expect.objectContaining({ code: 'SINK_CLOSED' }));
    await expect(writer.commit()).rejects.toThrow(expect.objectContaining({ code: 'WRITER_CLOSED' }));
  });

  it('leaves the FrameSink open when told it does not own it', async () => {
    const frameSink = new MemoryFrameSink();
    await new KeyPointsSink(frameSink, { closeFrameSink: false }).close();
    expect([frameSink.closes, frameSink.flushes]).toEqual([0, 1]);
  });

  it('keeps commit order and fails every frame after a failed write', async () => {
    const failure = new Error('disk full');
    let writes = 0;
    const frameSink = new MemoryFrameSink();
    const failing = Object.assign(Object.create(frameSink) as MemoryFrameSink, {
      write: async (payload: Uint8Array) => {
        if (++writes === 2) throw failure;
        return frameSink.write(payload);
      },
    });
    const sink = new KeyPointsSink(failing);
    const commits = [1, 2, 3].map((id) => sink.beginFrame(id).add(0, id, id, 1).commit());
    const results = await Promise.allSettled(commits);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(results.slice(1).map((r) => (r as PromiseRejectedResult).reason)).toEqual([failure, failure]);
    expect(frameSink.frames).toHaveLength(1);
    await sink.close();
  });

  it('round-trips through a FrameSink and readKeyPoints, with stream offsets', async () => {
    await fc.assert(
      fc.asyncProperty(sequenceArb, fc.integer({ min: 1, max: 5 }), async (frames, masterInterval) => {
        const frameSink = new MemoryFrameSink();
        const sink = new KeyPointsSink(frameSink, { masterInterval });
        for (const frame of frames) {
          const writer = sink.beginFrame(frame.frameId);
          for (const kp of frame.keypoints) writer.add(kp.id, kp.x, kp.y, kp.confidence);
          await writer.commit();
        }
        await sink.close();
        const decoded = await collect(readKeyPoints(framesOf(frameSink.frames)));
        expect(decoded.map((f) => f.offset)).toEqual(frameSink.offsets);
        decoded.forEach((f, k) => expectFrame(f, frames[k].frameId, frames[k].keypoints));
      }),
      { numRuns: 50 },
    );
  });

  it('releases the source when the reader stops early', async () => {
    let released = false;
    async function* source() {
      try {
        yield* framesOf([MASTER, DELTA, REAPPEAR]);
      } finally {
        released = true;
      }
    }
    for await (const frame of readKeyPoints(source())) {
      expect(frame.type).toBe('master');
      break;
    }
    expect(released).toBe(true);
  });

  it('names the stream offset of the frame that fails to decode', async () => {
    const stream = readKeyPoints(framesOf([MASTER, fromHex('07')]));
    const error = await collect(stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolDecodeError);
    expect((error as ProtocolDecodeError).frameOffset).toBe(MASTER.length + 1);
  });
});
