// What `npm start` runs: the four services (two workers, members of one worker pool) as separate
// processes on one host, their ports and variables, in dependency order (supplier, gateway, capture,
// workers). Also where they
// listen, for tools that talk to a pipeline `npm start` runs (fw frames watch).
import { join } from 'node:path';
import type { ServiceSpec } from './supervisor';

/** Variables by name, as in process.env. */
type Environment = Readonly<Record<string, string | undefined>>;

export interface PlanOptions {
  /** Repository root (dist/ lies under it). */
  root: string;
  host: string;
  /** capture = base, supplier = base + 1, worker-1 = base + 2, gateway = base + 3, worker-2 = base + 4. */
  basePort: number;
  httpPort: number;
  metricsPort: number;
  /** Shared-memory ring between capture and the co-located supplier and workers. */
  shmRing: string;
  workers: readonly string[];
  /** The worker pool the workers join (FW_WORKER_POOL, default "analysis"; empty: none, each worker
   *  then analyses every frame of cam-1) and its mode (FW_WORKER_POOL_MODE, default sticky). */
  pool: { id: string; mode: string } | undefined;
  /** FW_WORKER_ANALYZERS of each worker, in the order of `workers` (FW_START_WORKER_ANALYZERS, lists
   *  separated by ";"); undefined: every worker takes FW_WORKER_ANALYZERS as given (or its default). */
  workerAnalyzers?: readonly string[];
  /** The caller's environment: passed to every service, under the plan's own variables. */
  env: Environment;
}

export const DEFAULT_BASE_PORT = 50051;
export const DEFAULT_HTTP_PORT = 8080;
export const DEFAULT_METRICS_PORT = 9102;
export const DEFAULT_SHM_RING = 'framewire-cam-1';
export const DEFAULT_WORKERS = ['worker-1', 'worker-2'] as const;
/** The pool npm start's workers join. Sticky, as the worker's own default for analyzers that include
 *  the tracker: each stream is analysed by one member, so its tracks stay one sequence of ids (in a
 *  shared pool two trackers would each see every other frame and publish two sets of ids). With the
 *  one camera of npm start, the second worker stands by (healthy: /api/health counts a member that
 *  owns nothing as on standby) and takes the stream over when the first one dies. */
export const DEFAULT_POOL = { id: 'analysis', mode: 'sticky' } as const;
/** Loaded into every service with `node --require` (relative to the repository root). */
export const LAUNCHER_LINK_PRELOAD = 'dist/tools/start/launcher-link-preload.js';

/** A service of the plan: its spec plus the facts the start-up messages need. */
export interface PlannedService extends ServiceSpec {
  app: string;
  grpcPort: number;
}

/** The gRPC port of each service of the plan. */
export interface ServicePorts {
  capture: number;
  supplier: number;
  gateway: number;
  /** In the order of PlanOptions.workers. */
  workers: number[];
}

/** A port variable of the launcher, or `fallback` when unset; RangeError naming it when not a port. */
function portVariable(env: Environment, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new RangeError(`${name}: must be a port 1-65535 (got ${JSON.stringify(raw)})`);
  return value;
}

/** FW_START_BASE_PORT, checked so that every port of the plan fits. */
function basePortFrom(env: Environment): number {
  const basePort = portVariable(env, 'FW_START_BASE_PORT', DEFAULT_BASE_PORT);
  if (basePort + 4 > 65535) throw new RangeError(`FW_START_BASE_PORT: ${basePort} + 4 exceeds 65535`);
  return basePort;
}

/** FW_START_WORKER_ANALYZERS: one analyzer list per worker of the plan, separated by ";" (the demo:
 *  "detect,tracks;pose,person-seg"); each becomes that worker's FW_WORKER_ANALYZERS. */
function workerAnalyzersFrom(env: Environment): string[] | undefined {
  const value = env.FW_START_WORKER_ANALYZERS;
  if (value === undefined || value === '') return undefined;
  const lists = value.split(';').map((l) => l.trim());
  if (lists.length !== DEFAULT_WORKERS.length || lists.some((l) => l === '')) {
    throw new RangeError(`FW_START_WORKER_ANALYZERS: must be ${DEFAULT_WORKERS.length} analyzer lists separated by ";" (one per worker: ${DEFAULT_WORKERS.join(', ')}), got ${JSON.stringify(value)}`);
  }
  return lists;
}

/** The address services bind and call each other on (FW_GRPC_HOST, else loopback). */
function hostFrom(env: Environment): string {
  return env.FW_GRPC_HOST || '127.0.0.1';
}

/** Reads the plan's knobs from the environment (FW_START_BASE_PORT, FW_HTTP_PORT, ...). */
export function planOptionsFrom(root: string, env: Environment): PlanOptions {
  return {
    root,
    host: hostFrom(env),
    basePort: basePortFrom(env),
    httpPort: portVariable(env, 'FW_HTTP_PORT', DEFAULT_HTTP_PORT),
    metricsPort: portVariable(env, 'FW_METRICS_PORT', DEFAULT_METRICS_PORT),
    shmRing: env.FW_CAPTURE_SHM_RING || DEFAULT_SHM_RING,
    workers: DEFAULT_WORKERS,
    // Set but empty: no pool.
    workerAnalyzers: workerAnalyzersFrom(env),
    pool: env.FW_WORKER_POOL === '' ? undefined : { id: env.FW_WORKER_POOL ?? DEFAULT_POOL.id, mode: env.FW_WORKER_POOL_MODE || DEFAULT_POOL.mode },
    env,
  };
}

/** The supplier of the pipeline `npm start` runs with this environment (FW_GRPC_HOST, FW_START_BASE_PORT). */
export function launcherSupplierAddress(env: Environment): string {
  return `${hostFrom(env)}:${servicePorts({ basePort: basePortFrom(env), workers: DEFAULT_WORKERS }).supplier}`;
}

/** Where each service listens: capture = base, supplier = base + 1, worker-1 = base + 2,
 *  gateway = base + 3, further workers from base + 4 on. */
export function servicePorts(o: Pick<PlanOptions, 'basePort' | 'workers'>): ServicePorts {
  return {
    capture: o.basePort,
    supplier: o.basePort + 1,
    gateway: o.basePort + 3,
    workers: o.workers.map((_, i) => (i === 0 ? o.basePort + 2 : o.basePort + 3 + i)),
  };
}

/** The services in start order. */
export function pipelinePlan(o: PlanOptions): PlannedService[] {
  const ports = servicePorts(o);
  const address = (p: number) => `${o.host}:${p}`;
  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env)) if (v !== undefined) inherited[k] = v;
  const common: Record<string, string> = {
    FW_LOG_FORMAT: 'text',
    ...inherited,
    FW_GRPC_HOST: o.host,
    FW_SUPPLIER_ADDRESS: address(ports.supplier),
    FW_GATEWAY_ADDRESS: address(ports.gateway),
  };
  const service = (name: string, app: string, grpcPort: number, env: Record<string, string>): PlannedService => ({
    name,
    app,
    grpcPort,
    // The preload stops the service when the launcher ends, however it ends (launcher-link.ts).
    args: ['--require', join(o.root, LAUNCHER_LINK_PRELOAD), '--enable-source-maps', join(o.root, 'dist/apps', app, 'src/main.js')],
    env: { ...common, ...env, FW_GRPC_PORT: String(grpcPort) },
    healthAddress: address(grpcPort),
  });
  return [
    service('supplier', 'supplier', ports.supplier, {
      FW_METRICS_PORT: String(o.metricsPort),
      // The pipeline's own workers always find a slot, however many other clients hold (docs/supplier.md).
      FW_SUPPLIER_RESERVED_WORKERS: o.env.FW_SUPPLIER_RESERVED_WORKERS || o.workers.join(','),
    }),
    service('gateway', 'gateway', ports.gateway, {
      FW_HTTP_PORT: String(o.httpPort),
      FW_CAPTURE_ADDRESSES: address(ports.capture),
      // /api/health then fails naming any of these workers that is not healthy (one crash-looping).
      FW_HEALTH_EXPECTED_WORKERS: o.env.FW_HEALTH_EXPECTED_WORKERS || o.workers.join(','),
    }),
    // Co-located services pass frames through shared memory (docs/shm.md); remote workers get bytes.
    service('capture', 'capture', ports.capture, { FW_CAPTURE_SOURCE: o.env.FW_CAPTURE_SOURCE || 'synthetic', FW_CAPTURE_SHM_RING: o.shmRing }),
    ...o.workers.map((id, i) =>
      service(id, 'worker', ports.workers[i], {
        FW_WORKER_ID: id,
        ...(o.workerAnalyzers === undefined ? {} : { FW_WORKER_ANALYZERS: o.workerAnalyzers[i] }),
        // Members of every stream: a camera started by hand on the same supplier is served too.
        ...(o.pool === undefined ? {} : { FW_WORKER_POOL: o.pool.id, FW_WORKER_POOL_MODE: o.pool.mode, FW_WORKER_STREAMS: o.env.FW_WORKER_STREAMS || '*' }),
      }),
    ),
  ];
}

/** The line that says the workers form a pool (undefined without one). */
export function poolLine(o: Pick<PlanOptions, 'workers' | 'pool'>): string | undefined {
  if (o.pool === undefined) return undefined;
  const how = o.pool.mode === 'sticky' ? 'each stream is analysed by one of them, the others stand by' : 'each frame is analysed by one of them';
  return `framewire: ${o.workers.join(', ')} are members of worker pool "${o.pool.id}" (${o.pool.mode}, all streams): ${how}. FW_WORKER_POOL= npm start runs them without a pool.`;
}

/** The one line that says where the gateway listens. */
export function gatewayLine(o: PlanOptions): string {
  const httpHost = o.env.FW_HTTP_HOST || o.host;
  return (
    `framewire: gateway http://${httpHost}:${o.httpPort} (viewer /, REST /api, WebSocket /ws, metrics /metrics); ` +
    `gRPC ${o.host}:${servicePorts(o).gateway}. Ctrl-C stops all.`
  );
}
