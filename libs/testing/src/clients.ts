// Clients of a running framewire through its public doors only, by address: gRPC results
// (PublishResults, SubscribeResults, Replay), the supplier's GetStats and Pull, the gateway's REST
// API and its /ws WebSocket.
// Shared by the process-level suites (apps/e2e), the container suites (apps/e2e-containers) and
// the benchmarks; plus polling and a process's memory and CPU time.
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import WebSocket from 'ws';
import {
  Delivery,
  FrameSupplierClient,
  PullRequest,
  PullResponse,
  ReplayRequest,
  ReplayResponse,
  Result,
  ResultHubClient,
  ResultKind,
  SubscribeRequest,
  SubscribeResultsRequest,
  SupplierStats,
} from '@framewire/proto';

/** Wall clock in µs (as @framewire/results' nowMicros; not imported, so that the results lib's
 *  own dependencies may use this test lib without a cycle). */
const nowMicros = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);

/** Bound on one unary gRPC call or HTTP request from a test. */
export const CALL_TIMEOUT_MS = 10_000;
/** How often waitFor looks again. */
const DEFAULT_POLL_MS = 50;
/** Default bound on a Replay call, and on a PublishResults call. */
const REPLAY_TIMEOUT_MS = 30_000;
const PUBLISH_TIMEOUT_MS = 60_000;

/** Polls `condition` until it holds; rejects naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, pollMs = DEFAULT_POLL_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1 (for services that must restart on the same port). */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

function statusFieldMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/** Resident set size of a live process, MiB (VmRSS). */
export function residentMiB(pid: number): number {
  return statusFieldMiB(pid, 'VmRSS');
}

/** Peak resident set size of a live process so far, MiB (VmHWM). */
export function peakResidentMiB(pid: number): number {
  return statusFieldMiB(pid, 'VmHWM');
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ; 100 on Linux, fixed by the kernel ABI). */
const USER_HZ = 100;

/** CPU time a live process has used so far, user and system, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // "pid (command) state ppid ...": fields after the command; utime and stime are the 14th and 15th fields.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/**
 * Runs a full garbage collection in this process, so a memory figure taken after it counts what
 * is still referenced, not what is garbage the collector has not reached yet. Works without
 * --expose-gc: the flag is set at run time and `gc` taken from a fresh context.
 */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Which kind of payload a result carries. */
export const kindOf = (r: Result): ResultKind =>
  r.keypoints
    ? ResultKind.RESULT_KIND_KEYPOINTS
    : r.segmentation
      ? ResultKind.RESULT_KIND_SEGMENTATION
      : r.detections
        ? ResultKind.RESULT_KIND_DETECTIONS
        : r.tracks
          ? ResultKind.RESULT_KIND_TRACKS
          : ResultKind.RESULT_KIND_STAGE;

/** One result's identity: which worker, which frame, which kind. */
export const resultKey = (r: Result): string => `${r.workerId}/${r.frameSequence}/${kindOf(r)}`;

export interface ResultRecorder {
  results: Result[];
  /** When each result arrived, µs since the Unix epoch (same index as results). */
  receivedTimesUs: number[];
  error?: grpc.ServiceError;
  close(): void;
}

/** A SubscribeResults call on the gateway (host:port) that keeps what arrives. */
export function subscribeResults(gatewayAddress: string, request: Partial<SubscribeResultsRequest> = {}, metadata = new grpc.Metadata()): ResultRecorder {
  const client = new ResultHubClient(gatewayAddress, grpc.credentials.createInsecure());
  const call = client.subscribeResults({ streamId: '', workerId: '', kinds: [], ...request }, metadata);
  const recorder: ResultRecorder = {
    results: [],
    receivedTimesUs: [],
    close() {
      call.cancel();
      client.close();
    },
  };
  call.on('data', (r: { result?: Result }) => {
    if (r.result === undefined) return;
    recorder.results.push(r.result);
    recorder.receivedTimesUs.push(nowMicros());
  });
  call.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) recorder.error = err;
  });
  return recorder;
}

/** One PublishResults call on the gateway (host:port) writing `results` as its flow control allows;
 *  resolves with the number of results the gateway accepted. */
export async function publishResults(gatewayAddress: string, results: Iterable<Result>, metadata = new grpc.Metadata()): Promise<number> {
  const client = new ResultHubClient(gatewayAddress, grpc.credentials.createInsecure());
  try {
    return await new Promise<number>((resolve, reject) => {
      const call = client.publishResults(metadata, { deadline: Date.now() + PUBLISH_TIMEOUT_MS }, (err, response) =>
        err ? reject(err) : resolve(response?.resultsReceived ?? 0),
      );
      void (async () => {
        for (const result of results) if (!call.write({ result })) await once(call, 'drain');
        call.end();
      })();
    });
  } finally {
    client.close();
  }
}

/** Everything the gateway's archive replays for `request`, as fast as it can. */
export async function replay(
  gatewayAddress: string,
  request: Partial<ReplayRequest> & { streamId: string },
  timeoutMs = REPLAY_TIMEOUT_MS,
  metadata = new grpc.Metadata(),
): Promise<Result[]> {
  const client = new ResultHubClient(gatewayAddress, grpc.credentials.createInsecure());
  const replayed: Result[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const call = client.replay({ kinds: [], fromSequence: 0, toSequence: 0, fromTimeUs: 0, toTimeUs: 0, recordedPace: false, ...request }, metadata, { deadline: Date.now() + timeoutMs });
      call.on('data', (r: ReplayResponse) => r.result && replayed.push(r.result));
      call.on('error', reject);
      call.on('end', resolve);
    });
  } finally {
    client.close();
  }
  return replayed;
}

/** The supplier's GetStats (host:port). */
export async function supplierStats(supplierAddress: string): Promise<SupplierStats> {
  const client = new FrameSupplierClient(supplierAddress, grpc.credentials.createInsecure());
  try {
    const reply = await new Promise<{ stats?: SupplierStats }>((resolve, reject) =>
      client.getStats({}, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    return reply.stats ?? { streams: [], workers: [], refused: [], pools: [] };
  } finally {
    client.close();
  }
}

export interface PullClient {
  deliveries: Delivery[];
  /** The status the call ended with (OK when the supplier ended it normally). */
  ended: Promise<grpc.StatusObject>;
  /** Grants `credits` more frames. */
  grant(credits: number): void;
  /** Cancels the call and closes the channel. */
  close(): void;
}

/**
 * A Pull call at the supplier (host:port) that subscribes with `subscribe`, grants `credits` (1)
 * and then one more per delivery while `keepTaking` is true (a live worker), or only what grant()
 * adds (a worker that fell silent, or one that only holds its subscription).
 */
export function openPull(
  supplierAddress: string,
  subscribe: Partial<SubscribeRequest> & Pick<SubscribeRequest, 'workerId' | 'streamId'>,
  options: { credits?: number; keepTaking?: boolean; metadata?: grpc.Metadata } = {},
): PullClient & { keepTaking: boolean } {
  const client = new FrameSupplierClient(supplierAddress, grpc.credentials.createInsecure());
  const call: grpc.ClientDuplexStream<PullRequest, PullResponse> = client.pull(options.metadata ?? new grpc.Metadata());
  const pull = {
    deliveries: [] as Delivery[],
    keepTaking: options.keepTaking ?? false,
    ended: new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve)),
    grant: (credits: number) => void call.write({ credits }),
    close: () => {
      call.cancel();
      client.close();
    },
  };
  call.on('error', () => undefined);
  call.on('data', (r: PullResponse) => {
    if (r.delivery === undefined) return;
    pull.deliveries.push(r.delivery);
    if (pull.keepTaking) pull.grant(1);
  });
  call.write({ subscribe: SubscribeRequest.fromPartial(subscribe) });
  const credits = options.credits ?? 1;
  if (credits > 0) pull.grant(credits);
  return pull;
}

export interface WebSocketRecorder {
  socket: WebSocket;
  results: Result[];
  opened: Promise<void>;
  close(): void;
}

/** A client of the gateway's /ws (`httpUrl` like http://127.0.0.1:8080): each binary message is one
 *  protobuf Result. With `token`, it sends `Authorization: Bearer <token>` (a program's way). */
export function watchResultsWebSocket(httpUrl: string, query: string, token?: string): WebSocketRecorder {
  const socket = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/ws${query}`, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  const recorder: WebSocketRecorder = {
    socket,
    results: [],
    opened: new Promise((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    }),
    close: () => socket.close(),
  };
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) recorder.results.push(Result.decode(data));
  });
  return recorder;
}

/** What a WebSocket upgrade came to: an open socket (with the subprotocol the server chose), or
 *  the HTTP answer that refused it (its JSON body parsed when it is JSON). */
export type UpgradeOutcome =
  | { opened: true; socket: WebSocket; protocol: string }
  | { opened: false; status: number; headers: Record<string, string | string[] | undefined>; body: any }; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Tries one upgrade of `url` (ws://…) with the given headers (Origin, Authorization) and
 *  subprotocols; never throws for a refusal. Rejects only when nothing answered within the bound. */
export function tryWebSocket(url: string, options: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<UpgradeOutcome> {
  const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers, handshakeTimeout: CALL_TIMEOUT_MS });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ opened: true, socket, protocol: socket.protocol }));
    socket.once('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON: kept as text
        }
        resolve({ opened: false, status: response.statusCode ?? 0, headers: response.headers, body });
      });
    });
    // Not once: an abandoned handshake may report a second error, which must not go unheard.
    socket.on('error', reject);
  });
}

export interface HttpReply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One bounded HTTP request; the body parsed as JSON when it is JSON, else kept as text. */
export async function http(url: string, init: RequestInit = {}): Promise<HttpReply> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

/** POST /api/commands with the command as JSON, and the bearer token when given. */
export function postCommand(httpUrl: string, command: object, token?: string): Promise<HttpReply> {
  return http(`${httpUrl}/api/commands`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(command),
  });
}

/** Waits until /api/health answers `status` (200 or 503); returns the last reply. */
export async function waitForHealth(httpUrl: string, status: number, timeoutMs: number): Promise<HttpReply> {
  let last: HttpReply | undefined;
  await waitFor(
    `/api/health ${status}`,
    async () => {
      last = await http(`${httpUrl}/api/health`).catch(() => undefined);
      return last?.status === status;
    },
    timeoutMs,
    250,
  );
  return last as HttpReply;
}
