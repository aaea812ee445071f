// Frame ids are uint64 on the wire and bigint in the protocol API. JSON carries them as numbers
// while a number is exact, and as decimal strings above 2^53-1, where a JSON number would round.

/** Largest frame id the wire carries. */
export const FRAME_ID_MAX = 0xffff_ffff_ffff_ffffn;
const SAFE_INTEGER_MAX = BigInt(Number.MAX_SAFE_INTEGER);
const DECIMAL_PATTERN = /^[0-9]+$/;

/** A frame id as JSON output writes it. */
export function frameIdToJson(frameId: bigint): number | string {
  return frameId <= SAFE_INTEGER_MAX ? Number(frameId) : frameId.toString();
}

/** Parses a decimal frame id (command-line option or JSON string) 0..2^64-1; undefined when the
 *  text is not one. */
export function parseFrameIdText(text: string): bigint | undefined {
  if (!DECIMAL_PATTERN.test(text)) return undefined;
  const value = BigInt(text);
  return value <= FRAME_ID_MAX ? value : undefined;
}

/** A frame id read from JSON: a safe non-negative integer, or a decimal string for any uint64.
 *  A number above 2^53-1 is refused: JSON.parse has already rounded it, so it is not the id the
 *  writer meant. Returns an error text for the caller to place. */
export function frameIdFromJson(value: unknown): bigint | string {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return BigInt(value);
    if (Number.isInteger(value) && value > Number.MAX_SAFE_INTEGER) {
      return `frameId ${value} is above 2^53-1 and was rounded by JSON; write it as a decimal string`;
    }
    return `frameId ${value} is not a non-negative integer`;
  }
  if (typeof value === 'string') {
    return parseFrameIdText(value) ?? `frameId ${JSON.stringify(value)} is not a decimal uint64`;
  }
  return `frameId must be a number or a decimal string, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`;
}
