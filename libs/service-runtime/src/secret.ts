// Secret configuration values (the bearer token, TLS private keys). A Secret prints as a description
// of itself ("set (24 characters)") in logs, JSON, util.inspect, template strings and error messages;
// only reveal() gives the value, at the one place that uses it.
import { inspect } from 'node:util';
import { z } from 'zod';

export class Secret<T extends string | Buffer = string> {
  // A private field: not an own enumerable property, so spreading, Object.entries and deep-equality
  // helpers do not see it either.
  readonly #value: T;

  constructor(
    value: T,
    /** What is printed in place of the value. */
    readonly description: string,
  ) {
    this.#value = value;
  }

  /** The value itself: pass it straight to what needs it, never to a logger or a message. */
  reveal(): T {
    return this.#value;
  }

  toString(): string {
    return this.description;
  }

  toJSON(): string {
    return this.description;
  }

  [inspect.custom](): string {
    return this.description;
  }
}

/** A secret string, described by its length: `set (24 characters)`. */
export function secretText(value: string): Secret<string> {
  return new Secret(value, `set (${value.length} characters)`);
}

/** Secret bytes read from `source` (a file path), described by their size and source. */
export function secretBytes(value: Buffer, source: string): Secret<Buffer> {
  return new Secret(value, `set (${value.length} bytes, from ${source})`);
}

/** How a ConfigError shows the raw value of a variable, for the schemas that hold secrets. */
const shownValues = new WeakMap<z.ZodType, (raw: string) => string>();

/** Marks `schema` (an environment variable's) so that a ConfigError about it shows `show(raw)`
 *  instead of the raw value: for values that are or may hold secrets. */
export function shownInErrorsAs<T extends z.ZodType>(schema: T, show: (raw: string) => string): T {
  shownValues.set(schema, show);
  return schema;
}

/** How a ConfigError shows the raw value of the variable of `schema`: as marked, else quoted. */
export function shownValueOf(schema: unknown, raw: string): string {
  const show = schema instanceof z.ZodType ? shownValues.get(schema) : undefined;
  return show === undefined ? JSON.stringify(raw) : show(raw);
}

/**
 * An optional environment variable that holds a secret string: it parses into a Secret, and a
 * ConfigError about it gives the value's length, never the value.
 */
export function secretTextVariable(minLength: number) {
  const schema = z
    .string()
    .min(minLength, `must be at least ${minLength} characters`)
    .transform(secretText)
    .optional();
  return shownInErrorsAs(schema, (raw) => `${raw.length} characters`);
}
