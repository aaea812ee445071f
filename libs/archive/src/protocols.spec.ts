import fc from 'fast-check';
import { InvalidPayloadError } from './errors';
import { ARCHIVE_PROTOCOLS, inspectPayload } from './protocols';
import { keypointsPayloads, resultPayload, segmentationPayload } from './testing/fixtures';

describe('inspectPayload', () => {
  it('reads the frame id and master flag of keypoints and the frame id of segmentation', () => {
    const [master, delta] = keypointsPayloads(2, { firstId: 41 });
    expect(inspectPayload('keypoints', master)).toEqual({ frameId: 41n, seekPoint: true, timestampMs: undefined });
    expect(inspectPayload('keypoints', delta)).toEqual({ frameId: 42n, seekPoint: false, timestampMs: undefined });
    expect(inspectPayload('segmentation', segmentationPayload(2n ** 64n - 1n))).toMatchObject({ frameId: 2n ** 64n - 1n });
  });

  it('reads frame_sequence and capture_time_us of a Result, defaulting the sequence to 0', () => {
    expect(inspectPayload('result', resultPayload(123_456_789_012n, 1_700_000_000_123_456n))).toEqual({
      frameId: 123_456_789_012n,
      seekPoint: true,
      timestampMs: 1_700_000_000_123,
    });
    expect(inspectPayload('result', resultPayload(0n, 0n))).toEqual({ frameId: 0n, seekPoint: true, timestampMs: undefined });
  });

  it('rejects a Result whose fields run past its end, naming the field offset', () => {
    const payload = resultPayload(5n, 6n);
    expect(() => inspectPayload('result', payload.subarray(0, payload.length - 1))).toThrow(/field 14 runs past the end of the message at payload offset/);
  });

  it('throws nothing but InvalidPayloadError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ARCHIVE_PROTOCOLS), fc.uint8Array({ maxLength: 64 }), (protocol, bytes) => {
        try {
          inspectPayload(protocol, bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidPayloadError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
