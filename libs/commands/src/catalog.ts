// The known command types (which kind of service accepts each, its payload schema, a one-line
// description) and the checks on commands entering the gateway or a service.
import type { Command } from '@framewire/proto';
import { z } from 'zod';
import { CommandValidationError } from './errors';

/** The kinds of service that accept commands. A service instance has its own id (e.g. "worker-1"). */
export type ServiceKind = 'capture' | 'supplier' | 'worker';

export interface CommandSpec {
  kind: ServiceKind;
  payload: z.ZodType;
  description: string;
}

/** Longest request id. */
export const MAX_REQUEST_ID_LENGTH = 128;
/** Request ids: letters, digits and . _ : ~ - (UUIDs, ULIDs, "retry-3"). */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:~-]+$/;
/** Service ids (targets): 1-64 letters, digits and . _ : -, as worker ids at the supplier. */
export const SERVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
/** Command types look like "capture.set_fps". */
export const COMMAND_TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
/** Longest command type. */
export const MAX_COMMAND_TYPE_LENGTH = 64;
/** Largest payload_json, UTF-8 bytes. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Deepest nesting of objects and arrays in a payload (keeps validation off deep recursion). */
export const MAX_PAYLOAD_DEPTH = 16;
/** Waiting time of a command whose timeout_ms is 0. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
/** Longest timeout_ms a caller may ask for. */
export const MAX_COMMAND_TIMEOUT_MS = 60_000;
/** Frame rates: capture takes whole numbers 1..240; a worker also 0 (as fast as frames come). */
export const MAX_FPS = 240;
/** Longest source string of capture.switch_source. */
export const MAX_SOURCE_LENGTH = 4096;
/** Analyzers a worker runs. */
/** An analyzer's name as a worker knows it: a built-in (motion, tracks, keypoints), a model analyzer
 *  (detect, pose, person-seg) or a user's (its `name`). Which ones a worker runs only it knows: it
 *  answers an unknown name with an error listing its own. */
export const ANALYZER_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,99}$/;
/** Ranges of the supplier limits that may change at run time. */
export const SUPPLIER_LIMIT_RANGES = {
  maxWorkers: { min: 1, max: 4096 },
  maxStreams: { min: 1, max: 1024 },
  idleAfterMs: { min: 1, max: 24 * 3600 * 1000 },
} as const;

const emptyPayload = z.strictObject({});
const intIn = (range: { min: number; max: number }) => z.number().int().min(range.min).max(range.max);

const setLimitsPayload = z
  .strictObject({
    maxWorkers: intIn(SUPPLIER_LIMIT_RANGES.maxWorkers).optional(),
    maxStreams: intIn(SUPPLIER_LIMIT_RANGES.maxStreams).optional(),
    idleAfterMs: intIn(SUPPLIER_LIMIT_RANGES.idleAfterMs).optional(),
  })
  .refine((p) => Object.values(p).some((v) => v !== undefined), { message: 'must set at least one of maxWorkers, maxStreams, idleAfterMs' });

const setAnalyzerPayload = z
  .strictObject({
    analyzer: z.string().regex(ANALYZER_NAME, { message: 'must be an analyzer name: 1-100 letters, digits and ._:@/- (e.g. motion, detect, pose)' }),
    enabled: z.boolean().optional(),
    settings: z.record(z.string(), z.json()).optional(),
  })
  .refine((p) => p.enabled !== undefined || p.settings !== undefined, { message: 'must set enabled or settings (or both)' });

export const COMMAND_CATALOG = {
  'capture.pause': {
    kind: 'capture',
    payload: emptyPayload,
    description: 'Stop publishing frames (the source keeps running, its frames are discarded and counted).',
  },
  'capture.resume': {
    kind: 'capture',
    payload: emptyPayload,
    description: 'Publish frames again after capture.pause.',
  },
  'capture.set_fps': {
    kind: 'capture',
    payload: z.strictObject({ fps: z.number().int().min(1).max(MAX_FPS) }),
    description: 'Change the capture frame rate (whole frames per second, 1-240); the source restarts at the new rate.',
  },
  'capture.switch_source': {
    kind: 'capture',
    payload: z.strictObject({
      source: z
        .string()
        .max(MAX_SOURCE_LENGTH)
        .regex(/^(synthetic|images:[^\0]+|ffmpeg:[^\0]+)$/, 'must be "synthetic", "images:<folder>" or "ffmpeg:<url-or-path>"'),
    }),
    description: 'Replace the source without restarting the process; a source that yields no first frame is refused and the old one keeps running.',
  },
  'supplier.set_limits': {
    kind: 'supplier',
    payload: setLimitsPayload,
    description: 'Change the supplier limits that are safe at run time: maxWorkers, maxStreams (new subscriptions/streams only) and idleAfterMs.',
  },
  'worker.set_analyzer': {
    kind: 'worker',
    payload: setAnalyzerPayload,
    description: 'Turn an analyzer (motion, tracks, keypoints) on or off and/or change its settings.',
  },
  'worker.set_fps': {
    kind: 'worker',
    payload: z.strictObject({ fps: z.number().min(0).max(MAX_FPS) }),
    description: 'Cap the rate at which the worker analyzes frames (0-240; 0 = as fast as frames come).',
  },
} as const satisfies Record<string, CommandSpec>;

export type CommandType = keyof typeof COMMAND_CATALOG;
export type CommandPayload<T extends CommandType> = z.infer<(typeof COMMAND_CATALOG)[T]['payload']>;

/** Every known type, in catalog order. */
export const COMMAND_TYPES = Object.keys(COMMAND_CATALOG) as CommandType[];

export function isCommandType(type: string): type is CommandType {
  return Object.prototype.hasOwnProperty.call(COMMAND_CATALOG, type);
}

/** The types a kind of service accepts. */
export function commandTypesFor(kind: ServiceKind): CommandType[] {
  return COMMAND_TYPES.filter((t) => COMMAND_CATALOG[t].kind === kind);
}

/** JSON Schema of a type's payload (for OpenAPI descriptions). */
export function commandPayloadJsonSchema(type: CommandType): Record<string, unknown> {
  return z.toJSONSchema(COMMAND_CATALOG[type].payload, { unrepresentable: 'any' }) as Record<string, unknown>;
}

/** A value as it reads in an error message, cut short. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

function depthOf(value: unknown): number {
  // Iterative, so that a hostile payload cannot overflow the stack here.
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_PAYLOAD_DEPTH) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/** payload_json as an object: "" is {}, anything but a JSON object (or too large, too deep) is refused. */
function parsePayloadObject(payloadJson: string): Record<string, unknown> {
  if (payloadJson === '') return {};
  const bytes = Buffer.byteLength(payloadJson, 'utf8');
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new CommandValidationError('payload_json', `payload_json has ${bytes} bytes; at most ${MAX_PAYLOAD_BYTES} are allowed`);
  }
  let value: unknown;
  try {
    value = JSON.parse(payloadJson);
  } catch (err) {
    throw new CommandValidationError('payload_json', `payload_json is not JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CommandValidationError('payload_json', `payload_json must be a JSON object or "" (got ${show(value)})`);
  }
  if (depthOf(value) > MAX_PAYLOAD_DEPTH) {
    throw new CommandValidationError('payload_json', `payload_json nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  }
  return value as Record<string, unknown>;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const key of path) {
    if (typeof v !== 'object' || v === null || !Object.prototype.hasOwnProperty.call(v, key)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function fieldName(path: readonly PropertyKey[]): string {
  return ['payload', ...path.map(String)].join('.');
}

/** The first problem zod found, as a CommandValidationError naming the field and the value. */
function describeIssue(type: CommandType, issue: z.core.$ZodIssue, payload: unknown): CommandValidationError {
  const value = valueAt(payload, issue.path);
  const field = fieldName(issue.path);
  const got = `(got ${show(value)})`;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0];
      const known = Object.keys((COMMAND_CATALOG[type].payload as unknown as { shape?: object }).shape ?? {});
      return new CommandValidationError(
        fieldName([...issue.path, key]),
        `${fieldName([...issue.path, key])} is not a field of ${type} (its fields: ${known.length === 0 ? 'none' : known.join(', ')})`,
      );
    }
    case 'invalid_type':
      if (value === undefined) return new CommandValidationError(field, `${field} is required`);
      return new CommandValidationError(field, `${field} must be ${issue.expected === 'int' ? 'a whole number' : `a ${issue.expected}`} ${got}`);
    case 'too_big':
      return new CommandValidationError(field, `${field} must be at most ${String(issue.maximum)}${issue.origin === 'string' ? ' characters long' : ''} ${got}`);
    case 'too_small':
      return new CommandValidationError(field, `${field} must be at least ${String(issue.minimum)}${issue.origin === 'string' ? ' characters long' : ''} ${got}`);
    case 'invalid_value':
      return new CommandValidationError(field, `${field} must be one of ${issue.values.map((v) => show(v)).join(', ')} ${got}`);
    default:
      return new CommandValidationError(field, `${field} ${issue.message} ${got}`);
  }
}

/**
 * The payload of a command of `type`, checked against the catalog. Throws CommandValidationError:
 * code UNKNOWN_TYPE for a type not in the catalog, else naming the field ("payload.fps") and value.
 */
export function parseCommandPayload(type: string, payloadJson: string): unknown {
  if (typeof type !== 'string' || !isCommandType(type)) {
    throw new CommandValidationError('type', `unknown command type ${show(type)}; known types: ${COMMAND_TYPES.join(', ')}`, 'UNKNOWN_TYPE');
  }
  if (typeof payloadJson !== 'string') throw new CommandValidationError('payload_json', `payload_json must be a string (got ${show(payloadJson)})`);
  const payload = parsePayloadObject(payloadJson);
  const parsed = COMMAND_CATALOG[type].payload.safeParse(payload);
  if (!parsed.success) throw describeIssue(type, parsed.error.issues[0], payload);
  return parsed.data;
}

/**
 * Checks a command entering the gateway: request_id, target, timeout_ms, payload_json (a JSON
 * object or "", at most MAX_PAYLOAD_BYTES) and type (last: a well-formed type missing from the
 * catalog throws with code UNKNOWN_TYPE, so callers can answer UNKNOWN_TYPE). The payload's fields
 * are checked by the service that applies the command (parseCommandPayload), which answers ERROR.
 */
export function validateCommand(command: Command, maxTimeoutMs: number = MAX_COMMAND_TIMEOUT_MS): void {
  if (typeof command !== 'object' || command === null) throw new CommandValidationError('command', 'command is missing');
  const { requestId, target, type, payloadJson, timeoutMs } = command;
  if (typeof requestId !== 'string' || requestId.length === 0) throw new CommandValidationError('request_id', 'request_id is required');
  if (requestId.length > MAX_REQUEST_ID_LENGTH) {
    throw new CommandValidationError('request_id', `request_id has ${requestId.length} characters; at most ${MAX_REQUEST_ID_LENGTH} are allowed`);
  }
  if (!REQUEST_ID_PATTERN.test(requestId)) {
    throw new CommandValidationError('request_id', `request_id ${show(requestId)} may hold only letters, digits, '.', '_', ':', '~' and '-'`);
  }
  if (typeof target !== 'string' || target.length === 0) throw new CommandValidationError('target', 'target is required (a service id such as "capture")');
  if (!SERVICE_ID_PATTERN.test(target)) {
    throw new CommandValidationError('target', `target ${show(target)} is not a service id (1-64 letters, digits, '.', '_', ':', '-')`);
  }
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > maxTimeoutMs) {
    throw new CommandValidationError('timeout_ms', `timeout_ms must be a whole number 0-${maxTimeoutMs} (0: the default) (got ${show(timeoutMs)})`);
  }
  if (typeof payloadJson !== 'string') throw new CommandValidationError('payload_json', `payload_json must be a string (got ${show(payloadJson)})`);
  parsePayloadObject(payloadJson);
  if (typeof type !== 'string' || type.length === 0) throw new CommandValidationError('type', 'type is required (e.g. "capture.pause")');
  if (type.length > MAX_COMMAND_TYPE_LENGTH || !COMMAND_TYPE_PATTERN.test(type)) {
    throw new CommandValidationError('type', `type ${show(type)} is not a command type (e.g. "capture.set_fps")`);
  }
  if (!isCommandType(type)) {
    throw new CommandValidationError('type', `unknown command type ${show(type)}; known types: ${COMMAND_TYPES.join(', ')}`, 'UNKNOWN_TYPE');
  }
}
