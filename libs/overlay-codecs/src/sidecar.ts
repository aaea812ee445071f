// The JSON sidecar naming the points of a keypoints archive (formats.md §5), in the shape the RW
// readers accept. Pure text <-> data: the caller owns the file.
import { UINT32_MAX } from './byte-writer';

/** The version the RW writers put in a sidecar they create. In RW the field names the model's
 *  version, so a reader accepts any string. */
export const DEFAULT_SIDECAR_VERSION = '1.0';

export interface KeyPointsSidecar {
  version: string;
  /** The worker (model) that produced the keypoints; `compute_module_name` in the JSON. */
  computeModuleName: string;
  /** Point name -> keypoint id (uint32). */
  points: Readonly<Record<string, number>>;
}

export type SidecarErrorCode = 'INVALID_JSON' | 'MISSING_FIELD' | 'INVALID_FIELD';

/** A sidecar that does not have the §5 shape. `field` is a JSON path such as `points.nose`. */
export class SidecarError extends Error {
  constructor(
    readonly code: SidecarErrorCode,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function requireString(source: Record<string, unknown>, field: string): string {
  if (!(field in source)) throw new SidecarError('MISSING_FIELD', field, `sidecar field "${field}" is missing`);
  const value = source[field];
  if (typeof value !== 'string') {
    throw new SidecarError('INVALID_FIELD', field, `sidecar field "${field}" is ${describe(value)}, expected a string`);
  }
  return value;
}

function checkPoints(points: unknown): Record<string, number> {
  if (!isPlainObject(points)) {
    throw new SidecarError('INVALID_FIELD', 'points', `sidecar field "points" is ${describe(points)}, expected an object of name: id`);
  }
  const entries: [string, number][] = [];
  for (const [name, id] of Object.entries(points)) {
    if (!(typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= UINT32_MAX)) {
      const field = `points.${name}`;
      throw new SidecarError(
        'INVALID_FIELD',
        field,
        `sidecar field "${field}" is ${describe(id)}, expected a keypoint id (an integer in 0..${UINT32_MAX})`,
      );
    }
    entries.push([name, id]);
  }
  // fromEntries defines properties, so a point named "__proto__" stays a point.
  return Object.fromEntries(entries);
}

/** Checks a parsed sidecar (the JSON object) and turns it into a KeyPointsSidecar. Unknown fields
 *  are ignored, as the RW readers ignore them. Throws SidecarError. */
export function validateKeyPointsSidecar(value: unknown): KeyPointsSidecar {
  if (!isPlainObject(value)) {
    throw new SidecarError('INVALID_FIELD', '', `sidecar is ${describe(value)}, expected a JSON object`);
  }
  const version = requireString(value, 'version');
  const computeModuleName = requireString(value, 'compute_module_name');
  if (!('points' in value)) throw new SidecarError('MISSING_FIELD', 'points', 'sidecar field "points" is missing');
  return { version, computeModuleName, points: checkPoints(value.points) };
}

/** Parses and validates sidecar JSON text. Throws SidecarError. */
export function parseKeyPointsSidecar(json: string): KeyPointsSidecar {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    throw new SidecarError('INVALID_JSON', '', `sidecar is not JSON: ${(error as Error).message}`);
  }
  return validateKeyPointsSidecar(value);
}

/** The sidecar as JSON text in the RW shape (snake_case keys), after the same checks as a read. */
export function formatKeyPointsSidecar(sidecar: KeyPointsSidecar): string {
  const json = {
    version: sidecar.version,
    compute_module_name: sidecar.computeModuleName,
    points: sidecar.points,
  };
  validateKeyPointsSidecar(json);
  return `${JSON.stringify(json, null, 2)}\n`;
}
