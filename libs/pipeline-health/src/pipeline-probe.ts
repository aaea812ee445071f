// Asks capture and supplier how they are: grpc.health.v1 Check on each and the supplier's GetStats,
// each with a short deadline. Observations are cached for a moment so that /api/health and
// /api/stats stay cheap however often they are polled; concurrent callers share one round of calls.
import * as grpc from '@grpc/grpc-js';
import { FrameSupplierClient, SupplierStats } from '@framewire/proto';
import { channelCredentials, channelOptions, HealthClient, tokenMetadata, WHOLE_SERVER } from '@framewire/grpc-client';
import type { SecurityConfig } from '@framewire/service-runtime';
import type { ProbeOutcome } from './health-aggregator';

export interface PipelineObservation {
  /** When the calls were made (ms since the epoch). */
  observedAtMs: number;
  captures: ProbeOutcome[];
  supplier: ProbeOutcome;
  supplierStats: SupplierStats | { error: string };
}

export interface PipelineProbeOptions {
  captureAddresses: readonly string[];
  supplierAddress: string;
  deadlineMs: number;
  cacheMs: number;
  security: SecurityConfig;
}

function describeError(err: grpc.ServiceError): string {
  return err.code === grpc.status.DEADLINE_EXCEEDED ? 'no answer within the deadline' : err.details || err.message;
}

/** Owns one channel per address; close() releases them. */
export class PipelineProbe {
  private readonly healthClients = new Map<string, HealthClient>();
  private readonly supplierClient: FrameSupplierClient;
  private cached: PipelineObservation | undefined;
  private inFlight: Promise<PipelineObservation> | undefined;

  constructor(private readonly options: PipelineProbeOptions) {
    const credentials = channelCredentials(options.security);
    const channel = channelOptions(options.security);
    for (const address of new Set([...options.captureAddresses, options.supplierAddress])) {
      this.healthClients.set(address, new HealthClient(address, { credentials, channelOptions: channel }));
    }
    this.supplierClient = new FrameSupplierClient(options.supplierAddress, credentials, channel);
  }

  /** The latest observation, made anew when the cached one is older than cacheMs. */
  observe(nowMs: number = Date.now()): Promise<PipelineObservation> {
    if (this.cached !== undefined && nowMs - this.cached.observedAtMs < this.options.cacheMs) return Promise.resolve(this.cached);
    this.inFlight ??= this.observeNow(nowMs).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  close(): void {
    for (const client of this.healthClients.values()) client.close();
    this.supplierClient.close();
  }

  private async observeNow(nowMs: number): Promise<PipelineObservation> {
    const [captures, supplier, supplierStats] = await Promise.all([
      Promise.all(this.options.captureAddresses.map((a) => this.check(a))),
      this.check(this.options.supplierAddress),
      this.supplierStats(),
    ]);
    this.cached = { observedAtMs: nowMs, captures, supplier, supplierStats };
    return this.cached;
  }

  private check(address: string): Promise<ProbeOutcome> {
    const client = this.healthClients.get(address);
    if (client === undefined) throw new Error(`no health client for ${address}`); // constructor made one per address
    return client.check(WHOLE_SERVER, { deadlineMs: this.options.deadlineMs }).then(
      (status) => ({ address, status, ok: status === 'SERVING' }),
      (err: grpc.ServiceError) => ({ address, status: describeError(err), ok: false }),
    );
  }

  private supplierStats(): Promise<SupplierStats | { error: string }> {
    return new Promise((resolve) => {
      this.supplierClient.getStats(
        {},
        tokenMetadata(this.options.security.token),
        { deadline: Date.now() + this.options.deadlineMs },
        (err, reply) => {
          if (err) resolve({ error: describeError(err) });
          else resolve(reply.stats ?? { streams: [], workers: [], refused: [], pools: [] });
        },
      );
    });
  }
}
