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

/** The schemas of environment variables that hold secrets (see secretTextVariable). */
const secretSchemas = new WeakSet<z.ZodType>();

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
  secretSchemas.add(schema);
  return schema;
}

/** Whether `schema` (a value of an environment shape) was made by secretTextVariable. */
export function isSecretVariable(schema: unknown): boolean {
  return schema instanceof z.ZodType && secretSchemas.has(schema);
}
