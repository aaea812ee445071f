// Validation of what HTTP and WebSocket clients send: query parameters, command bodies. Each
// problem becomes a RequestProblem naming the field, which the JSON error filter answers.
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

/** Result kinds by the names the HTTP API and WebSocket query use. */
export const RESULT_KIND_NAMES: Readonly<Record<string, ResultKind>> = Object.freeze({
  keypoints: ResultKind.RESULT_KIND_KEYPOINTS,
  segmentation: ResultKind.RESULT_KIND_SEGMENTATION,
  detections: ResultKind.RESULT_KIND_DETECTIONS,
  tracks: ResultKind.RESULT_KIND_TRACKS,
  stage: ResultKind.RESULT_KIND_STAGE,
});

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

/** `GET /api/results/latest?stream=&kind=`: both required. */
export function parseLatestResultQuery(query: Record<string, unknown>): { streamId: string; kind: ResultKind } {
  const streamId = requireId('stream', query.stream);
  const kindName = requireId('kind', query.kind);
  return { streamId, kind: parseKind('kind', kindName) };
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

/** Bounds of a command request (POST /api/commands). */
export const MAX_COMMAND_TIMEOUT_MS = 600_000;
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
