// The delivery encoder against the generated one: byte-identical responses for any frame and delivery.
import fc from 'fast-check';
import { Frame, PixelFormat, PullResponse, ShmFrameRef, SubscribeResponse } from '@framewire/proto';
import { encodeDeliveryResponse } from './delivery-encoding';

const shmRefArb: fc.Arbitrary<ShmFrameRef> = fc.record({
  ringName: fc.string({ maxLength: 200 }),
  slot: fc.nat({ max: 0xffffffff }),
  slotSequence: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  crc32: fc.nat({ max: 0xffffffff }),
});

const frameFieldsArb = fc.record({
  streamId: fc.string({ maxLength: 64 }),
  sequence: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  captureTimeUs: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  width: fc.nat({ max: 0xffffffff }),
  height: fc.nat({ max: 0xffffffff }),
  pixelFormat: fc.constantFrom(...[0, 1, 2, 3, 4, 5, 6] as PixelFormat[]),
  sizeBytes: fc.nat({ max: 0xffffffff }),
});

/** Frames of both kinds: bytes inline, a shared-memory reference, or (oneof unset) neither. */
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.tuple(frameFieldsArb, fc.uint8Array({ maxLength: 300 })).map(([f, b]): Frame => ({ ...f, data: Buffer.from(b) })),
  fc.tuple(frameFieldsArb, shmRefArb).map(([f, shmRef]): Frame => ({ ...f, shmRef })),
  frameFieldsArb.map((f): Frame => ({ ...f })),
);

const deliveryArb = fc.record({
  frame: frameArb,
  droppedSinceLast: fc.nat({ max: 0xffffffff }),
  sentTimeUs: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  poolId: fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/)),
  batchRemaining: fc.oneof(fc.constant(0), fc.nat({ max: 0xffffffff })),
});

describe('encodeDeliveryResponse', () => {
  it('writes exactly the bytes of the generated SubscribeResponse and PullResponse encoders', () => {
    fc.assert(
      fc.property(deliveryArb, (delivery) => {
        const ours = encodeDeliveryResponse({ delivery });
        expect(Buffer.from(SubscribeResponse.encode({ delivery }).finish()).equals(ours)).toBe(true);
        expect(Buffer.from(PullResponse.encode({ delivery }).finish()).equals(ours)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes back to the same delivery', () => {
    fc.assert(
      fc.property(deliveryArb, (delivery) => {
        const decoded = PullResponse.decode(encodeDeliveryResponse({ delivery })).delivery;
        expect(decoded).toEqual(delivery);
      }),
      { numRuns: 200 },
    );
  });

  it('encodes the rest of a frame once for every worker that receives it', () => {
    const frame: Frame = { streamId: 's', sequence: 1, captureTimeUs: 5, width: 2, height: 2, pixelFormat: 1, sizeBytes: 3, data: Buffer.of(1, 2, 3) };
    const spy = jest.spyOn(Frame, 'encode');
    for (let worker = 0; worker < 8; worker++) encodeDeliveryResponse({ delivery: { frame, droppedSinceLast: worker, sentTimeUs: 10, poolId: '', batchRemaining: 0 } });
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
  });

  it('encodes a shared-memory reference as a frame without data, whose reference decodes back', () => {
    const shmRef = { ringName: 'fw-cam-1', slot: 3, slotSequence: 2 ** 40, crc32: 0xdeadbeef };
    const frame: Frame = { streamId: 's', sequence: 9, captureTimeUs: 5, width: 1920, height: 1080, pixelFormat: 3, sizeBytes: 6_220_800, shmRef };
    const ours = encodeDeliveryResponse({ delivery: { frame, droppedSinceLast: 0, sentTimeUs: 10, poolId: '', batchRemaining: 0 } });
    expect(ours.length).toBeLessThan(100);
    expect(PullResponse.decode(ours).delivery?.frame).toEqual({ ...frame, data: undefined });
  });
});
