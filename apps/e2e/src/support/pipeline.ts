// The whole pipeline as real processes (supplier, gateway, capture, workers) on free ports; the
// suites read it with the clients of @framewire/testing at its addresses.
import { setTimeout as sleep } from 'node:timers/promises';
import { findFreePort, ServiceProcess, startServiceProcess, stopServiceProcess } from '@framewire/testing';

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
  /** The gateway's HTTP side, http://127.0.0.1:<port>. */
  httpUrl: string;
  /** host:port of the gateway's and the supplier's gRPC. */
  gatewayAddress: string;
  supplierAddress: string;
  services: Map<string, ServiceProcess>;
  /** Starts (or restarts) the worker `id` on its port. */
  startWorker(id: string): Promise<ServiceProcess>;
  /** Starts (or restarts) the capture on its port: its sequences begin again. */
  startCapture(): Promise<ServiceProcess>;
  /** Starts again, on its ports and with its settings, a service of the pipeline that has exited
   *  (supplier, gateway, capture or a worker id). */
  restartService(name: string): Promise<ServiceProcess>;
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
  const startSupplier = () => start('supplier', 'supplier', { FW_GRPC_PORT: String(ports.supplier) });
  const startGateway = () =>
    start(
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
  const pipeline: Pipeline = {
    options,
    ports,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    gatewayAddress: `127.0.0.1:${ports.gateway}`,
    supplierAddress: `127.0.0.1:${ports.supplier}`,
    services,
    startWorker: (id) =>
      start(id, 'worker', {
        FW_GRPC_PORT: String(ports.workers[id]),
        FW_WORKER_ID: id,
        FW_STREAM_ID: options.streamId,
      }),
    startCapture: () =>
      start('capture', 'capture', {
        FW_GRPC_PORT: String(ports.capture),
        FW_STREAM_ID: options.streamId,
        FW_CAPTURE_SOURCE: 'synthetic',
        FW_CAPTURE_FPS: String(options.fps),
        FW_CAPTURE_WIDTH: String(options.width),
        FW_CAPTURE_HEIGHT: String(options.height),
      }),
    restartService(name) {
      const running = services.get(name);
      if (running !== undefined && running.child.exitCode === null && running.child.signalCode === null) throw new Error(`${name} is still running`);
      if (name === 'supplier') return startSupplier();
      if (name === 'gateway') return startGateway();
      if (name === 'capture') return pipeline.startCapture();
      if (name in ports.workers) return pipeline.startWorker(name);
      throw new Error(`${name} is not a service of this pipeline`);
    },
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
    await startSupplier();
    await startGateway();
    await pipeline.startCapture();
    for (const id of options.workers) await pipeline.startWorker(id);
  } catch (err) {
    await pipeline.stop();
    throw err;
  }
  return pipeline;
}

export { sleep };
