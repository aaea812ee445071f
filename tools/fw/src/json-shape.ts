// Checks that a JSON value read from a file has the shape a frame needs, with errors that name the
// field, so that a bad line in a large file is found by its message alone.

/** A JSON value that does not have the shape of its protocol; the converter adds the line. */
export class JsonShapeError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'JsonShapeError';
  }
}

export function expectObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JsonShapeError(`${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function expectArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new JsonShapeError(`${field} must be an array`);
  return value;
}

export function expectNumber(value: unknown, field: string): number {
  if (typeof value !== 'number') throw new JsonShapeError(`${field} must be a number, got ${value === undefined ? 'nothing' : JSON.stringify(value)}`);
  return value;
}
