import fc from 'fast-check';
import { Frame, PixelFormat, PullResponse, SubscribeResponse } from '@framewire/proto';
import { encodeDeliveryResponse } from './delivery-encoding';

const frameArb: fc.Arbitrary<Frame> = fc.record({
  streamId: fc.string({ maxLength: 64 }),
  sequence: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  captureTimeUs: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  width: fc.nat({ max: 0xffffffff }),
  height: fc.nat({ max: 0xffffffff }),
  pixelFormat: fc.constantFrom(...[0, 1, 2, 3, 4, 5, 6] as PixelFormat[]),
  sizeBytes: fc.nat({ max: 0xffffffff }),
  data: fc.option(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), { nil: undefined }),
});

const deliveryArb = fc.record({
  frame: frameArb,
  droppedSinceLast: fc.nat({ max: 0xffffffff }),
  sentTimeUs: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
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
    for (let worker = 0; worker < 8; worker++) encodeDeliveryResponse({ delivery: { frame, droppedSinceLast: worker, sentTimeUs: 10 } });
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
  });
});
