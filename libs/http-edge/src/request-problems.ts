// Validation of what HTTP and WebSocket clients send: query parameters, command bodies. Each
// problem becomes a RequestProblem naming the field, which the JSON error filter answers.
import { MAX_COMMAND_TIMEOUT_MS } from '@framewire/commands';
import { Command, ResultKind } from '@framewire/proto';
import { z } from 'zod';

/** A client error that names the request field at fault. */
export class RequestProblem extends Error {
  readonly code = 'BAD_REQUEST';
  constructor(
    readonly field: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'RequestProblem';
  }
}

/** The JSON body that answers a RequestProblem (with its status). */
export function problemBody(problem: RequestProblem): { error: string; field: string } {
  return { error: problem.message, field: problem.field };
}

/** Result kinds by the names the HTTP API and WebSocket query use. */
export const RESULT_KIND_NAMES: Readonly<Record<string, ResultKind>> = Object.freeze({
  keypoints: ResultKind.RESULT_KIND_KEYPOINTS,
  segmentation: ResultKind.RESULT_KIND_SEGMENTATION,
  detections: ResultKind.RESULT_KIND_DETECTIONS,
  tracks: ResultKind.RESULT_KIND_TRACKS,
  stage: ResultKind.RESULT_KIND_STAGE,
});

const KIND_NAME_OF = new Map<ResultKind, string>(Object.entries(RESULT_KIND_NAMES).map(([name, kind]) => [kind, name]));

/** A result kind's name in the HTTP API ('unspecified' for a kind it does not name). */
export function resultKindName(kind: ResultKind): string {
  return KIND_NAME_OF.get(kind) ?? 'unspecified';
}

/** Longest stream or worker id accepted in a query (ids are short names). */
export const MAX_ID_LENGTH = 256;

function parseKind(field: string, name: string): ResultKind {
  const kind = RESULT_KIND_NAMES[name.trim()];
  if (kind === undefined) {
    throw new RequestProblem(field, `${field} must be one of ${Object.keys(RESULT_KIND_NAMES).join(', ')} (got ${JSON.stringify(name)})`);
  }
  return kind;
}

function parseId(field: string, value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new RequestProblem(field, `query parameter ${field} must be given once`);
  if (value.length > MAX_ID_LENGTH) throw new RequestProblem(field, `${field} is longer than ${MAX_ID_LENGTH} characters`);
  return value;
}

function requireId(field: string, value: unknown): string {
  const id = parseId(field, value);
  if (id === undefined) throw new RequestProblem(field, `query parameter ${field} is required`);
  return id;
}

/** `GET /api/results/latest?stream=&kind=&worker=`: stream and kind required, worker optional. */
export function parseLatestResultQuery(query: Record<string, unknown>): { streamId: string; kind: ResultKind; workerId?: string } {
  const streamId = requireId('stream', query.stream);
  const kindName = requireId('kind', query.kind);
  return { streamId, kind: parseKind('kind', kindName), workerId: parseId('worker', query.worker) };
}

export interface ResultFilterQuery {
  streamId?: string;
  workerId?: string;
  kinds?: ResultKind[];
}

/** `/ws?stream=&worker=&kind=keypoints,tracks`: each optional; unknown parameters are refused. */
export function parseResultFilterQuery(params: URLSearchParams): ResultFilterQuery {
  const known = new Set(['stream', 'worker', 'kind']);
  for (const key of params.keys()) {
    if (!known.has(key)) throw new RequestProblem(key, `unknown query parameter ${JSON.stringify(key)} (accepted: stream, worker, kind)`);
  }
  const single = (name: string): string | undefined => {
    const values = params.getAll(name);
    return parseId(name, values.length > 1 ? values : values[0]);
  };
  const kindList = single('kind');
  const kinds = kindList === undefined ? undefined : [...new Set(kindList.split(',').map((k) => parseKind('kind', k)))];
  return { streamId: single('stream'), workerId: single('worker'), kinds };
}

/** Bound of a command request's text fields (POST /api/commands); timeoutMs is bounded by the
 *  router's MAX_COMMAND_TIMEOUT_MS, which every path of a command enforces. */
export const MAX_COMMAND_FIELD_LENGTH = 256;

const commandBody = z.strictObject({
  requestId: z.string().min(1).max(MAX_COMMAND_FIELD_LENGTH),
  target: z.string().min(1).max(MAX_COMMAND_FIELD_LENGTH),
  type: z.string().min(1).max(MAX_COMMAND_FIELD_LENGTH),
  payload: z.record(z.string(), z.unknown()).optional(),
  timeoutMs: z.number().int().min(1).max(MAX_COMMAND_TIMEOUT_MS).optional(),
});

/** The body of POST /api/commands as a Command; timeoutMs 0 (absent) means the gateway's default. */
export function parseCommandBody(body: unknown): Command {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new RequestProblem('body', 'the body must be a JSON object (content-type: application/json)');
  }
  const parsed = commandBody.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.code === 'unrecognized_keys' ? issue.keys[0] : issue.path.length > 0 ? issue.path.join('.') : 'body';
    const message = issue.code === 'unrecognized_keys' ? `unknown field ${JSON.stringify(field)}` : `${field}: ${issue.message}`;
    throw new RequestProblem(field, message);
  }
  const c = parsed.data;
  return {
    requestId: c.requestId,
    target: c.target,
    type: c.type,
    payloadJson: c.payload === undefined ? '' : JSON.stringify(c.payload),
    timeoutMs: c.timeoutMs ?? 0,
  };
}

/** Refuses query parameters outside `known`, naming the first unknown one. */
function checkKnownParameters(params: URLSearchParams, known: readonly string[]): void {
  for (const key of params.keys()) {
    if (!known.includes(key)) throw new RequestProblem(key, `unknown query parameter ${JSON.stringify(key)} (accepted: ${known.join(', ')})`);
  }
}

function singleParameter(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  return parseId(name, values.length > 1 ? values : values[0]);
}

/** Stream ids as every service accepts them (they name archive folders too). */
const STREAM_ID = /^[A-Za-z0-9._-]{1,64}$/;

function requireStreamId(params: URLSearchParams): string {
  const stream = singleParameter(params, 'stream');
  if (stream === undefined) throw new RequestProblem('stream', 'query parameter stream is required');
  if (!STREAM_ID.test(stream) || stream === '.' || stream === '..') throw new RequestProblem('stream', `stream must be 1-64 of A-Z a-z 0-9 . _ - (got ${JSON.stringify(stream)})`);
  return stream;
}

/** `/ws/video?stream=<id>`. */
export function parseVideoQuery(params: URLSearchParams): { streamId: string } {
  checkKnownParameters(params, ['stream']);
  return { streamId: requireStreamId(params) };
}

export interface ReplayQuery {
  streamId: string;
  kinds?: ResultKind[];
  fromTimeUs?: number;
  toTimeUs?: number;
  /** Send the recorded frames too (when frame recording was on). */
  video: boolean;
  recordedPace: boolean;
}

function timeParameter(params: URLSearchParams, name: string): number | undefined {
  const raw = singleParameter(params, name);
  if (raw === undefined) return undefined;
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new RequestProblem(name, `${name} must be microseconds since the Unix epoch, a non-negative integer (got ${JSON.stringify(raw)})`);
  }
  return Number(raw);
}

function choice<T extends string>(params: URLSearchParams, name: string, values: readonly T[], fallback: T): T {
  const raw = singleParameter(params, name);
  if (raw === undefined) return fallback;
  if (!(values as readonly string[]).includes(raw)) throw new RequestProblem(name, `${name} must be one of ${values.join(', ')} (got ${JSON.stringify(raw)})`);
  return raw as T;
}

/** `/ws/replay?stream=<id>&from=<µs>&to=<µs>&kind=<kinds>&video=on|off&pace=recorded|fast`. */
export function parseReplayQuery(params: URLSearchParams): ReplayQuery {
  checkKnownParameters(params, ['stream', 'from', 'to', 'kind', 'video', 'pace']);
  const streamId = requireStreamId(params);
  const fromTimeUs = timeParameter(params, 'from');
  const toTimeUs = timeParameter(params, 'to');
  if (fromTimeUs !== undefined && toTimeUs !== undefined && fromTimeUs > toTimeUs) throw new RequestProblem('from', `from ${fromTimeUs} is after to ${toTimeUs}`);
  const kindList = singleParameter(params, 'kind');
  const kinds = kindList === undefined ? undefined : [...new Set(kindList.split(',').map((k) => parseKind('kind', k)))];
  return {
    streamId,
    kinds,
    fromTimeUs,
    toTimeUs,
    video: choice(params, 'video', ['on', 'off'], 'on') === 'on',
    recordedPace: choice(params, 'pace', ['recorded', 'fast'], 'recorded') === 'recorded',
  };
}

/** `GET /api/replay/streams` takes no parameters. */
export function parseNoQuery(query: Record<string, unknown>): void {
  const unknown = Object.keys(query)[0];
  if (unknown !== undefined) throw new RequestProblem(unknown, `unknown query parameter ${JSON.stringify(unknown)} (this endpoint takes none)`);
}
