import fc from 'fast-check';
import { ByteWriter } from './byte-writer';
import { ProtocolDecodeError, ProtocolEncodeError, ProtocolStateError } from './errors';
import {
  MAX_SEGMENTATION_POINTS,
  SegmentationEncoder,
  SegmentationFrame,
  SegmentationFrameInput,
  SegmentationSink,
  decodeSegmentation,
  readSegmentation,
} from './segmentation';
import { MemoryFrameSink, collect, framesOf, fromHex, toHex } from './test-support/frames';
import { confidenceToRaw } from './values';
import { decodeError, expectOnlyDecodeErrors } from './test-support/errors';

// Golden bytes, worked out by hand from formats.md §3. Frame id 7, 1920 x 1080, two instances:
//   07 00 00 00 00 00 00 00     frame id 7, uint64 LE
//   80 0f                       width 1920 = 0x780: low 7 bits 0x00 | 0x80, then 0x780 >> 7 = 0x0f
//   b8 08                       height 1080 = 0x438: 0x38 | 0x80, then 0x438 >> 7 = 0x08
//   01 00 ff ff 03              class 1, instance 0, confidence 1.0 -> 0xffff LE, 3 points
//   14 28                       (10, 20) absolute: zz(10) = 20, zz(20) = 40
//   06 03                       (13, 18): dx 3 -> zz 6, dy -2 -> zz 3
//   00 0e                       (13, 25): dx 0, dy 7 -> zz 14
//   02 05 ff 7f 01 01 01        class 2, instance 5, confidence 0.5 -> 0x7fff, 1 point (-1, -1): zz 1, 1
const GOLDEN = fromHex(`
  07 00 00 00 00 00 00 00 | 80 0f | b8 08
  01 00 ff ff 03 | 14 28 | 06 03 | 00 0e
  02 05 ff 7f 01 | 01 01`);
const GOLDEN_FRAME: SegmentationFrameInput = {
  frameId: 7n,
  width: 1920,
  height: 1080,
  instances: [
    { classId: 1, instanceId: 0, confidence: 1, points: [10, 20, 13, 18, 13, 25] },
    { classId: 2, instanceId: 5, confidence: 0.5, points: Int32Array.of(-1, -1) },
  ],
};

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const byte = fc.integer({ min: 0, max: 255 });
const frameArb = fc.record({
  frameId: fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
  width: fc.integer({ min: 0, max: 0xffffffff }),
  height: fc.integer({ min: 0, max: 0xffffffff }),
  instances: fc.array(
    fc.record({
      classId: byte,
      instanceId: byte,
      confidence: fc.double(),
      points: fc
        .array(fc.tuple(int32, int32), { maxLength: 30 })
        .map((pairs) => Int32Array.from(pairs.flat())),
    }),
    { maxLength: 5 },
  ),
});

function expectFrame(decoded: SegmentationFrame, input: SegmentationFrameInput): void {
  expect([decoded.frameId, decoded.width, decoded.height]).toEqual([BigInt(input.frameId), input.width, input.height]);
  expect(
    decoded.instances.map((i) => [i.classId, i.instanceId, i.confidenceRaw, Array.from(i.points)]),
  ).toEqual(
    input.instances.map((i) => [i.classId, i.instanceId, confidenceToRaw(i.confidence), Array.from(i.points)]),
  );
}

/** A header (12 bytes: id, 640 and 480 as 2-byte varints), then one instance whose point count
 *  varint (at offset 16) is `count`, and nothing after it. */
function instanceClaiming(count: number): Uint8Array {
  const w = new ByteWriter();
  w.u64(1);
  w.varint(640);
  w.varint(480);
  w.u8(1);
  w.u8(1);
  w.u16(0);
  w.varint(count);
  return w.view().slice();
}

describe('segmentation codec', () => {
  it('writes the golden two-instance frame', () => {
    expect(toHex(new SegmentationEncoder().encodeFrame(GOLDEN_FRAME))).toBe(toHex(GOLDEN));
  });

  it('decodes the golden frame to flat Int32Array points', () => {
    expect(decodeSegmentation(GOLDEN, 12)).toEqual({
      frameId: 7n,
      width: 1920,
      height: 1080,
      offset: 12,
      instances: [
        { classId: 1, instanceId: 0, confidence: 1, confidenceRaw: 0xffff, points: Int32Array.of(10, 20, 13, 18, 13, 25) },
        { classId: 2, instanceId: 5, confidence: 0x7fff / 0xffff, confidenceRaw: 0x7fff, points: Int32Array.of(-1, -1) },
      ],
    });
  });

  it('writes a frame with no instances as the header alone, and an empty instance as its count 0', () => {
    const encoder = new SegmentationEncoder();
    expect(toHex(encoder.encodeFrame({ frameId: 1, width: 2, height: 3, instances: [] }))).toBe(
      '01 00 00 00 00 00 00 00 02 03',
    );
    const empty = encoder.encodeFrame({
      frameId: 1,
      width: 2,
      height: 3,
      instances: [{ classId: 4, instanceId: 5, confidence: 0, points: [] }],
    });
    expect(toHex(empty)).toBe('01 00 00 00 00 00 00 00 02 03 04 05 00 00 00');
    expect(decodeSegmentation(empty).instances[0].points).toEqual(new Int32Array(0));
  });

  it('clamps confidence instead of rejecting it', () => {
    const encoder = new SegmentationEncoder();
    for (const [confidence, raw] of [[2, 0xffff], [-1, 0], [NaN, 0]]) {
      const frame = encoder.encodeFrame({ frameId: 1, width: 1, height: 1, instances: [{ classId: 0, instanceId: 0, confidence, points: [] }] });
      expect(decodeSegmentation(frame).instances[0].confidenceRaw).toBe(raw);
    }
  });

  it('wraps point deltas in int32', () => {
    const points = Int32Array.of(2147483647, -2147483648, -2147483648, 2147483647);
    const frame = new SegmentationEncoder().encodeFrame({ frameId: 0, width: 0, height: 0, instances: [{ classId: 0, instanceId: 0, confidence: 1, points }] });
    // After the absolute first point (zz = fe ff ff ff 0f, ff ff ff ff 0f): dx = +1 -> 02, dy = -1 -> 01.
    expect(toHex(frame.subarray(-12))).toBe('fe ff ff ff 0f ff ff ff ff 0f 02 01');
    expect(decodeSegmentation(frame).instances[0].points).toEqual(points);
  });

  it('rejects what the wire cannot carry, leaving the frame as it was', () => {
    const encoder = new SegmentationEncoder();
    expect(() => encoder.addInstance(0, 0, 1, [])).toThrow(ProtocolStateError);
    encoder.beginFrame(1, 10, 10);
    expect(() => encoder.addInstance(256, 0, 1, [])).toThrow('segmentation class id 256 is not an integer in 0..255');
    expect(() => encoder.addInstance(0, -1, 1, [])).toThrow(ProtocolEncodeError);
    expect(() => encoder.addInstance(0, 0, 1, [1, 2, 3])).toThrow('odd');
    expect(() => encoder.addInstance(0, 0, 1, [1, 2, 3, 2 ** 31])).toThrow('segmentation point 1 y 2147483648 is not an int32');
    expect(() => encoder.beginFrame(1, -1, 10)).toThrow(ProtocolEncodeError);
    expect(toHex(encoder.finishFrame())).toBe('01 00 00 00 00 00 00 00 0a 0a');
  });

  it('rejects a point count above 10,000,000 before allocating for it', () => {
    const payload = instanceClaiming(MAX_SEGMENTATION_POINTS + 1);
    let allocations = 0;
    const original = globalThis.Int32Array;
    globalThis.Int32Array = new Proxy(original, {
      construct(target, args) {
        allocations++;
        return Reflect.construct(target, args) as object;
      },
    });
    try {
      const error = decodeError(() => decodeSegmentation(payload, 3));
      expect([error.code, error.offset, error.frameOffset]).toEqual(['POINT_COUNT_TOO_LARGE', 16, 3]);
      // At the limit the count passes, and the missing bytes are caught before any allocation too.
      expect(decodeError(() => decodeSegmentation(instanceClaiming(MAX_SEGMENTATION_POINTS))).code).toBe('TRUNCATED');
    } finally {
      globalThis.Int32Array = original;
    }
    expect(allocations).toBe(0);
  });

  it('rejects over-long varints', () => {
    const w = new ByteWriter();
    w.u64(1);
    w.raw(fromHex('80 80 80 80 80 01'));
    expect(decodeError(() => decodeSegmentation(w.view())).code).toBe('VARINT_TOO_LONG');
  });

  it('decodes a truncated frame to the instances before the cut, or reports TRUNCATED', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const payload = new SegmentationEncoder().encodeFrame(frame).slice();
        const whole = decodeSegmentation(payload);
        for (let end = 0; end < payload.length; end++) {
          // The instance list has no count: a cut between instances is a valid, shorter frame.
          let partial: SegmentationFrame | undefined;
          try {
            partial = decodeSegmentation(payload.subarray(0, end));
          } catch (error) {
            expect(error).toBeInstanceOf(ProtocolDecodeError);
            expect((error as ProtocolDecodeError).code).toBe('TRUNCATED');
          }
          if (partial) expect(partial.instances).toEqual(whole.instances.slice(0, partial.instances.length));
        }
      }),
      { numRuns: 30 },
    );
    for (let end = 0; end < GOLDEN.length; end++) {
      if (end === 12 || end === 23) continue; // instance boundaries
      expect(decodeError(() => decodeSegmentation(GOLDEN.subarray(0, end))).code).toBe('TRUNCATED');
    }
  });

  it('round-trips arbitrary frames', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 5 }), (frames) => {
        const encoder = new SegmentationEncoder();
        for (const frame of frames) expectFrame(decodeSegmentation(encoder.encodeFrame(frame)), frame);
      }),
    );
  });

  it('accepts points as a plain number array the same as an Int32Array', () => {
    const plain = new SegmentationEncoder().encodeFrame(GOLDEN_FRAME).slice();
    const typed = new SegmentationEncoder().encodeFrame({
      ...GOLDEN_FRAME,
      instances: GOLDEN_FRAME.instances.map((i) => ({ ...i, points: Int32Array.from(i.points) })),
    });
    expect(toHex(typed)).toBe(toHex(plain));
  });

  it('never throws anything but ProtocolDecodeError on arbitrary or mutated bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (payload) => {
        expectOnlyDecodeErrors(() => decodeSegmentation(payload));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(frameArb, fc.array(fc.tuple(fc.nat(), byte), { minLength: 1, maxLength: 4 }), (frame, mutations) => {
        const payload = new SegmentationEncoder().encodeFrame(frame).slice();
        for (const [at, value] of mutations) payload[at % payload.length] = value;
        expectOnlyDecodeErrors(() => decodeSegmentation(payload));
      }),
    );
  });
});

describe('SegmentationSink', () => {
  it('writes each committed frame once and nothing for an abandoned one', async () => {
    const frameSink = new MemoryFrameSink();
    const sink = new SegmentationSink(frameSink);
    const golden = sink.beginFrame(7n, 1920, 1080);
    for (const i of GOLDEN_FRAME.instances) golden.addInstance(i.classId, i.instanceId, i.confidence, i.points);
    await golden.commit();
    sink.beginFrame(8, 1, 1).addInstance(0, 0, 1, [1, 1]); // abandoned
    const last = sink.beginFrame(9, 1, 1);
    await last.commit();
    expect(() => last.addInstance(0, 0, 1, [])).toThrow(expect.objectContaining({ code: 'WRITER_CLOSED' }));
    sink.beginFrame(10, 1, 1); // abandoned by close
    await sink.flush();
    await sink.close();
    await sink.close();
    expect(frameSink.frames.map(toHex)).toEqual([toHex(GOLDEN), '09 00 00 00 00 00 00 00 01 01']);
    expect(frameSink.closes).toBe(1);
    expect(() => sink.beginFrame(11, 1, 1)).toThrow(expect.objectContaining({ code: 'SINK_CLOSED' }));
  });

  it('round-trips through a FrameSink and readSegmentation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { maxLength: 6 }), async (frames) => {
        const frameSink = new MemoryFrameSink();
        const sink = new SegmentationSink(frameSink);
        for (const frame of frames) {
          const writer = sink.beginFrame(frame.frameId, frame.width, frame.height);
          for (const i of frame.instances) writer.addInstance(i.classId, i.instanceId, i.confidence, i.points);
          await writer.commit();
        }
        await sink.close();
        const decoded = await collect(readSegmentation(framesOf(frameSink.frames)));
        expect(decoded.map((f) => f.offset)).toEqual(frameSink.offsets);
        decoded.forEach((f, i) => expectFrame(f, frames[i]));
      }),
      { numRuns: 40 },
    );
  });
});
