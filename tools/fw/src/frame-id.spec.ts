import fc from 'fast-check';
import { FRAME_ID_MAX, frameIdFromJson, frameIdToJson, parseFrameIdText } from './frame-id';

describe('frame ids in JSON', () => {
  it('come back from their JSON form unchanged for every uint64', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: FRAME_ID_MAX }), (frameId) => {
        const json = JSON.parse(JSON.stringify({ frameId: frameIdToJson(frameId) })) as { frameId: unknown };
        expect(frameIdFromJson(json.frameId)).toBe(frameId);
      }),
    );
  });

  it('are numbers up to 2^53-1 and decimal strings above', () => {
    expect(frameIdToJson(9007199254740991n)).toBe(9007199254740991);
    expect(frameIdToJson(9007199254740992n)).toBe('9007199254740992');
  });

  it('refuse what is not a uint64, and numbers JSON has already rounded', () => {
    for (const value of [-1, 1.5, 2 ** 53, '18446744073709551616', '0x1', ' 1', '', null, undefined, {}]) {
      expect(typeof frameIdFromJson(value)).toBe('string');
    }
    expect(parseFrameIdText('18446744073709551615')).toBe(FRAME_ID_MAX);
    expect(parseFrameIdText('18446744073709551616')).toBeUndefined();
    expect(parseFrameIdText('-1')).toBeUndefined();
    expect(parseFrameIdText('007')).toBe(7n);
  });
});
