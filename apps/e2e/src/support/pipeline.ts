// The whole pipeline as real processes (supplier, gateway, capture, workers) on free ports, and the
// clients the end-to-end suites read it with: a gRPC results subscriber, a WebSocket client, REST.
import * as grpc from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { Result, ResultHubClient, ResultKind, SubscribeResultsRequest } from '@framewire/proto';
import { nowMicros } from '@framewire/results';
import { ServiceProcess, startServiceProcess, stopServiceProcess } from '@framewire/testing';
import { findFreePort, waitFor } from './frame-path';

/** A service that does not stop gracefully within this is killed. */
export const STOP_BOUND_MS = 8_000;

export interface PipelineOptions {
  streamId: string;
  fps: number;
  width: number;
  height: number;
  archiveDir: string;
  token?: string;
  workers: readonly string[];
  /** Extra variables for every service. */
  env?: Record<string, string>;
  /** Extra variables for one app, over the pipeline's own (e.g. another capture source). */
  appEnv?: Partial<Record<'supplier' | 'gateway' | 'capture' | 'worker', Record<string, string>>>;
}

export interface Pipeline {
  options: PipelineOptions;
  ports: { supplier: number; capture: number; gateway: number; http: number; workers: Record<string, number> };
  services: Map<string, ServiceProcess>;
  /** Starts (or restarts) the worker `id` on its port. */
  startWorker(id: string): Promise<ServiceProcess>;
  stopService(name: string, signal?: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const ports = {
    supplier: await findFreePort(),
    capture: await findFreePort(),
    gateway: await findFreePort(),
    http: await findFreePort(),
    workers: {} as Record<string, number>,
  };
  for (const id of options.workers) ports.workers[id] = await findFreePort();
  const common: Record<string, string> = {
    FW_METRICS_PORT: '0',
    FW_SHUTDOWN_TIMEOUT_MS: '5000',
    FW_GATEWAY_ADDRESS: `127.0.0.1:${ports.gateway}`,
    FW_SUPPLIER_ADDRESS: `127.0.0.1:${ports.supplier}`,
    ...(options.token === undefined ? {} : { FW_AUTH_TOKEN: options.token }),
    ...options.env,
  };
  const services = new Map<string, ServiceProcess>();
  const start = async (name: string, app: string, env: Record<string, string>, listeners?: string[]) => {
    const appEnv = options.appEnv?.[app as keyof NonNullable<PipelineOptions['appEnv']>] ?? {};
    const service = await startServiceProcess(app, { ...common, ...env, ...appEnv }, listeners ? { listeners } : {});
    services.set(name, service);
    return service;
  };
  const pipeline: Pipeline = {
    options,
    ports,
    services,
    startWorker: (id) =>
      start(id, 'worker', {
        FW_GRPC_PORT: String(ports.workers[id]),
        FW_WORKER_ID: id,
        FW_STREAM_ID: options.streamId,
      }),
    async stopService(name, signal = 'SIGTERM') {
      const service = services.get(name);
      if (service) await stopServiceProcess(service, signal, STOP_BOUND_MS);
    },
    async stop() {
      for (const name of [...services.keys()].reverse()) await pipeline.stopService(name);
      services.clear();
    },
  };
  try {
    await start('supplier', 'supplier', { FW_GRPC_PORT: String(ports.supplier) });
    await start(
      'gateway',
      'gateway',
      {
        FW_GRPC_PORT: String(ports.gateway),
        FW_HTTP_PORT: String(ports.http),
        FW_ARCHIVE_DIR: options.archiveDir,
        FW_CAPTURE_ADDRESSES: `127.0.0.1:${ports.capture}`,
      },
      ['gRPC', 'HTTP'],
    );
    await start('capture', 'capture', {
      FW_GRPC_PORT: String(ports.capture),
      FW_STREAM_ID: options.streamId,
      FW_CAPTURE_SOURCE: 'synthetic',
      FW_CAPTURE_FPS: String(options.fps),
      FW_CAPTURE_WIDTH: String(options.width),
      FW_CAPTURE_HEIGHT: String(options.height),
    });
    for (const id of options.workers) await pipeline.startWorker(id);
  } catch (err) {
    await pipeline.stop();
    throw err;
  }
  return pipeline;
}

export function bearer(token: string | undefined): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token !== undefined) m.set('authorization', `Bearer ${token}`);
  return m;
}

export interface ResultRecorder {
  results: Result[];
  /** When each result arrived, µs since the Unix epoch (same index as results). */
  receivedTimesUs: number[];
  error?: grpc.ServiceError;
  close(): void;
}

/** Subscribes to the gateway's results over gRPC and keeps what arrives. */
export function subscribeResults(gatewayPort: number, request: Partial<SubscribeResultsRequest>): ResultRecorder {
  const client = new ResultHubClient(`127.0.0.1:${gatewayPort}`, grpc.credentials.createInsecure());
  const call = client.subscribeResults({ streamId: '', workerId: '', kinds: [], ...request });
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

export interface WebSocketRecorder {
  socket: WebSocket;
  results: Result[];
  opened: Promise<void>;
  close(): void;
}

/** A WebSocket client of /ws that decodes each binary message as one Result. */
export function watchWebSocket(httpPort: number, query: string): WebSocketRecorder {
  const socket = new WebSocket(`ws://127.0.0.1:${httpPort}/ws${query}`);
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

export interface HttpReply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** One HTTP request to the gateway, bounded; the body parsed as JSON when it is JSON. */
export async function http(port: number, path: string, init: RequestInit = {}): Promise<HttpReply> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body };
}

export function postCommand(port: number, command: object, token?: string): Promise<HttpReply> {
  return http(port, '/api/commands', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(command),
  });
}

/** Waits until /api/health answers `status` (200 or 503); returns the last reply. */
export async function waitForHealth(httpPort: number, status: number, timeoutMs: number): Promise<HttpReply> {
  let last: HttpReply | undefined;
  await waitFor(
    `/api/health ${status}`,
    async () => {
      last = await http(httpPort, '/api/health').catch(() => undefined);
      return last?.status === status;
    },
    timeoutMs,
  );
  return last as HttpReply;
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

export { sleep };
