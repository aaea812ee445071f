import fc from 'fast-check';
import { JsonTooDeepError, jsonNestingDepth, refuseDeepJson } from './json-depth';

const bytes = (text: string) => Buffer.from(text, 'utf8');

/** Depth of a parsed value, the way the scanner counts it on the text. */
function depthOfValue(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  return 1 + Math.max(0, ...Object.values(value).map(depthOfValue));
}

describe('jsonNestingDepth', () => {
  it.each([
    ['1', 0],
    ['"[[["', 0],
    ['{}', 1],
    ['[[], {"a": [1]}]', 3],
    ['{"k\\"[": "\\\\", "v": ["]]]{"]}', 2],
  ])('measures %s as %i', (text, depth) => {
    expect(jsonNestingDepth(bytes(text), 100)).toBe(depth);
  });

  it('agrees with the parsed value for any JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), (value) => {
        expect(jsonNestingDepth(bytes(JSON.stringify(value)), 100)).toBe(depthOfValue(value));
      }),
    );
  });

  it('stops counting past the limit, so a hostile body costs one short scan', () => {
    const deep = bytes('['.repeat(20_000) + ']'.repeat(20_000));
    expect(jsonNestingDepth(deep, 32)).toBe(33);
  });
});

describe('refuseDeepJson', () => {
  const verify = refuseDeepJson(3);

  it('lets a body at the limit through and refuses a deeper one with a 400 in body-parser shape', () => {
    expect(() => verify(undefined, undefined, bytes('[[["x"]]]'))).not.toThrow();
    let refused: unknown;
    try {
      verify(undefined, undefined, bytes('[[[[]]]]'));
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(JsonTooDeepError);
    expect(refused).toMatchObject({ status: 400, type: 'entity.too.deep', message: 'the body nests objects and arrays deeper than 3 levels' });
  });
});
