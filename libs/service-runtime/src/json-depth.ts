// How deeply a JSON text nests, measured on the text before it is parsed. V8's JSON.parse copes with
// any depth, but what handles the value next (JSON.stringify, validators, loggers) recurses, and a
// body of 20,000 brackets in under 64 KiB overflows the stack there. Bodies are refused first.

/** Deepest nesting of objects and arrays accepted in a JSON request body. */
export const DEFAULT_JSON_MAX_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * The nesting depth of the objects and arrays in UTF-8 JSON `text` (0 for a scalar), counting no
 * further than `limit + 1`. Brackets inside strings do not count. Malformed text is measured as far
 * as it goes; the parser reports what is wrong with it.
 */
export function jsonNestingDepth(text: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}

/** A JSON body nested deeper than allowed: HTTP 400, in body-parser's error shape (status, type). */
export class JsonTooDeepError extends Error {
  readonly status = 400;
  readonly type = 'entity.too.deep';
  constructor(readonly limit: number) {
    super(`the body nests objects and arrays deeper than ${limit} levels`);
    this.name = 'JsonTooDeepError';
  }
}

/** A body-parser `verify` hook that refuses bodies nested deeper than `limit` before they are parsed. */
export function refuseDeepJson(limit: number): (req: unknown, res: unknown, body: Buffer) => void {
  return (_req, _res, body) => {
    if (jsonNestingDepth(body, limit) > limit) throw new JsonTooDeepError(limit);
  };
}
