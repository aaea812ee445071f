// Prometheus metrics of the supplier, read from its statistics at scrape time, served at /metrics
// on a small node:http server (its own Registry, not prom-client's global one); anything else it is
// asked is refused with a JSON body naming the problem.
import { BeforeApplicationShutdown, Inject, Injectable, LoggerService, OnApplicationBootstrap } from '@nestjs/common';
import { Counter, Gauge, Registry } from 'prom-client';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { FrameSupplier } from '@framewire/supplier';
import { answerMalformedRequestsWithJson, HttpRefusal, limitHttpServer, SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import { SupplierConfig } from './config';
import { registerPoolMetrics } from './pool-metrics';

const METRICS_PATH = '/metrics';
const PREFIX = 'framewire_supplier_';

/** A Registry whose metrics mirror `supplier.stats()` each time it is scraped. */
export function supplierMetricsRegistry(supplier: FrameSupplier): Registry {
  const registry = new Registry();
  const streamLabels = ['stream'] as const;
  const workerLabels = ['worker', 'stream'] as const;
  new Counter({
    name: `${PREFIX}frames_published_total`,
    help: 'Frames published per stream.',
    labelNames: streamLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of supplier.stats().streams) this.inc({ stream: s.streamId }, s.framesPublished);
    },
  });
  new Counter({
    name: `${PREFIX}inbox_drops_total`,
    help: 'Frames overwritten in a stream inbox before fan-out took them.',
    labelNames: streamLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of supplier.stats().streams) this.inc({ stream: s.streamId }, s.inboxDrops);
    },
  });
  new Gauge({
    name: `${PREFIX}publish_rate_fps`,
    help: 'Frames per second published per stream, over a sliding window.',
    labelNames: streamLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of supplier.stats().streams) this.set({ stream: s.streamId }, s.publishRateFps);
    },
  });
  new Counter({
    name: `${PREFIX}worker_frames_delivered_total`,
    help: 'Frames delivered to each worker.',
    labelNames: workerLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const w of supplier.stats().workers) this.inc({ worker: w.workerId, stream: w.streamId }, w.framesDelivered);
    },
  });
  new Counter({
    name: `${PREFIX}worker_drops_total`,
    help: "Frames overwritten in a worker's mailbox before it took them.",
    labelNames: workerLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const w of supplier.stats().workers) this.inc({ worker: w.workerId, stream: w.streamId }, w.dropsTotal);
    },
  });
  new Gauge({
    name: `${PREFIX}worker_idle`,
    help: 'Whether the worker took no frame for longer than the idle threshold (1) or not (0).',
    labelNames: workerLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const w of supplier.stats().workers) this.set({ worker: w.workerId, stream: w.streamId }, w.idle ? 1 : 0);
    },
  });
  new Gauge({
    name: `${PREFIX}worker_last_delivery_age_seconds`,
    help: 'Age of the last delivered frame when it was sent (send time minus capture time).',
    labelNames: workerLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const w of supplier.stats().workers) this.set({ worker: w.workerId, stream: w.streamId }, w.lastDeliveryAgeUs / 1e6);
    },
  });
  const refusalLabels = ['worker', 'reason'] as const;
  new Counter({
    name: `${PREFIX}subscriptions_refused_total`,
    help: 'Subscriptions refused, per worker id and reason (id-in-use, worker-limit, caller-limit, stream-limit).',
    labelNames: refusalLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of supplier.refusedSubscriptions()) this.inc({ worker: r.workerId, reason: r.reason }, r.count);
    },
  });
  new Gauge({
    name: `${PREFIX}subscription_last_refused_timestamp_seconds`,
    help: 'When a subscription of the worker id was last refused for the reason (Unix time).',
    labelNames: refusalLabels,
    registers: [registry],
    collect() {
      this.reset();
      for (const r of supplier.refusedSubscriptions()) this.set({ worker: r.workerId, reason: r.reason }, r.lastRefusedAtMs / 1000);
    },
  });
  new Counter({
    name: `${PREFIX}shm_frame_reads_total`,
    help: 'Frames read from a shared-memory ring for workers that take bytes (one read per frame).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(supplier.sharedMemory.stats.frameReads);
    },
  });
  new Counter({
    name: `${PREFIX}shm_read_failures_total`,
    help: 'Frames whose bytes could not be read from their ring, by reason (each a drop for its byte workers).',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(supplier.sharedMemory.stats.failures)) this.inc({ reason }, n);
    },
  });
  registerPoolMetrics(registry, () => supplier.poolStats());
  return registry;
}

/** Why the metrics port does not answer `request` with the metrics (undefined: it does). */
export function metricsRequestRefusal(request: Pick<IncomingMessage, 'method' | 'url'>): HttpRefusal | undefined {
  const path = new URL(request.url ?? '/', 'http://metrics').pathname;
  if (path !== METRICS_PATH) return { status: 404, body: { error: `nothing at ${path.slice(0, 200)}: this port serves ${METRICS_PATH} only`, field: 'path' } };
  if (request.method !== 'GET' && request.method !== 'HEAD') return { status: 405, body: { error: `${METRICS_PATH} answers GET only (got ${request.method})`, field: 'method' } };
  return undefined;
}

/** Owns the /metrics HTTP server: listens when the application boots, closes when it stops. */
@Injectable()
export class SupplierMetricsServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly server: Server;
  private readonly registry: Registry;
  private readonly host: string;
  private readonly port: number;

  constructor(supplier: FrameSupplier, @Inject(SERVICE_CONFIG) config: SupplierConfig, @Inject(SERVICE_LOGGER) private readonly logger: LoggerService) {
    this.registry = supplierMetricsRegistry(supplier);
    this.host = config.grpcHost;
    this.port = config.metricsPort;
    this.server = createServer((req, res) => {
      const refusal = metricsRequestRefusal(req);
      if (refusal !== undefined) {
        res.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8', ...(refusal.status === 405 ? { allow: 'GET, HEAD' } : {}) }).end(JSON.stringify(refusal.body));
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: unknown) => {
          this.logger.error({ message: 'metrics collection failed', error: String(err) }, undefined, 'Metrics');
          res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ error: 'metrics collection failed' }));
        },
      );
    });
    limitHttpServer(this.server, config.connectionLimits);
    answerMalformedRequestsWithJson(this.server);
  }

  /** The bound port (resolved when 0 was configured). */
  get boundPort(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async onApplicationBootstrap(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err) => reject(new Error(`cannot listen for metrics on ${this.host}:${this.port}: ${err.message}`)));
      this.server.listen(this.port, this.host, () => resolve());
    });
    this.logger.log({ message: 'metrics listening', address: `${this.host}:${this.boundPort}`, path: METRICS_PATH }, 'Metrics');
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
