// What the container suites read the stack with, from the host and only through its public doors:
// gRPC (ResultHub subscribe and replay, the supplier's GetStats), WebSocket /ws and REST.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { FrameSupplierClient, ReplayRequest, ReplayResponse, Result, ResultHubClient, ResultKind, SubscribeResultsRequest, SupplierStats } from '@framewire/proto';
import { REPO_ROOT } from '@framewire/testing';

// Testcontainers' reaper (Ryuk) is an image that cannot be pulled here; the suites remove what they
// start themselves (afterAll, and removeLeftovers for what a dead run left).
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

/** Bound on one unary gRPC call or HTTP request from a test. */
export const CALL_TIMEOUT_MS = 10_000;
/** Bound on building the images when the suites find them missing or stale (CI built them already). */
const IMAGE_BUILD_TIMEOUT_MS = 8 * 60_000;

/** The Dockerfiles' FROM. */
const BASE_IMAGE = 'node:20-bookworm-slim';

function imageExists(name: string): boolean {
  try {
    execFileSync('docker', ['image', 'inspect', name], { stdio: 'ignore', timeout: CALL_TIMEOUT_MS });
    return true;
  } catch {
    return false;
  }
}

/** Builds framewire/<service>:latest unless the images were built from the current dist/ (which
 *  Jest's global setup has just compiled); two suites asking at once share one build. Where no
 *  base image exists (this project's machines reach no registry) it is made locally first, as
 *  .ci/run does. */
export function ensureImages(): void {
  if (!imageExists(BASE_IMAGE)) {
    execFileSync(join(REPO_ROOT, 'tools/docker/make-base-image.sh'), [], { stdio: ['ignore', 'pipe', 'inherit'], timeout: IMAGE_BUILD_TIMEOUT_MS });
    process.stderr.write(`made a local ${BASE_IMAGE} for the container suites (tools/docker/make-base-image.sh); with a registry, \`docker rmi ${BASE_IMAGE}\` lets the official one be pulled\n`);
  }
  execFileSync(process.execPath, [join(REPO_ROOT, 'tools/docker/build-images.mjs'), '--if-changed', '--skip-build'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: IMAGE_BUILD_TIMEOUT_MS,
  });
}

/** Polls `condition` until it holds; rejects naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

export interface ResultRecorder {
  results: Result[];
  error?: grpc.ServiceError;
  close(): void;
}

/** A SubscribeResults call on the gateway that keeps what arrives. */
export function subscribeResults(gatewayAddress: string, request: Partial<SubscribeResultsRequest> = {}): ResultRecorder {
  const client = new ResultHubClient(gatewayAddress, grpc.credentials.createInsecure());
  const call = client.subscribeResults({ streamId: '', workerId: '', kinds: [], ...request });
  const recorder: ResultRecorder = {
    results: [],
    close() {
      call.cancel();
      client.close();
    },
  };
  call.on('data', (r: { result?: Result }) => r.result && recorder.results.push(r.result));
  call.on('error', (err: grpc.ServiceError) => {
    if (err.code !== grpc.status.CANCELLED) recorder.error = err;
  });
  return recorder;
}

/** Everything the gateway's archive replays for `request` (as fast as it can). */
export async function replay(gatewayAddress: string, request: Partial<ReplayRequest>, timeoutMs = 30_000): Promise<Result[]> {
  const client = new ResultHubClient(gatewayAddress, grpc.credentials.createInsecure());
  const replayed: Result[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const call = client.replay(
        { streamId: 'cam-1', kinds: [], fromSequence: 0, toSequence: 0, fromTimeUs: 0, toTimeUs: 0, recordedPace: false, ...request },
        { deadline: Date.now() + timeoutMs },
      );
      call.on('data', (r: ReplayResponse) => r.result && replayed.push(r.result));
      call.on('error', reject);
      call.on('end', resolve);
    });
  } finally {
    client.close();
  }
  return replayed;
}

export async function supplierStats(supplierAddress: string): Promise<SupplierStats> {
  const client = new FrameSupplierClient(supplierAddress, grpc.credentials.createInsecure());
  try {
    const reply = await new Promise<{ stats?: SupplierStats }>((resolve, reject) =>
      client.getStats({}, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    return reply.stats ?? { streams: [], workers: [] };
  } finally {
    client.close();
  }
}

export interface WebSocketRecorder {
  results: Result[];
  opened: Promise<void>;
  close(): void;
}

/** A client of the gateway's /ws: each binary message is one protobuf Result. */
export function watchWebSocket(httpUrl: string, query: string): WebSocketRecorder {
  const socket = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/ws${query}`);
  const recorder: WebSocketRecorder = {
    results: [],
    opened: new Promise((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    }),
    close: () => socket.close(),
  };
  socket.on('message', (data: Buffer, isBinary: boolean) => isBinary && recorder.results.push(Result.decode(data)));
  return recorder;
}

export interface HttpReply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export async function http(url: string, init: RequestInit = {}): Promise<HttpReply> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch {
    return { status: res.status, body: text };
  }
}

export function postCommand(httpUrl: string, command: object): Promise<HttpReply> {
  return http(`${httpUrl}/api/commands`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(command) });
}

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
