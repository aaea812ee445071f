// Gathers the HealthAggregator's inputs from the live gateway (probe of capture and supplier, the
// router's attached services, the hub's worker activity, the gRPC server's status).
import type { SupplierStats } from '@framewire/proto';
import { HealthAggregator, HealthReport, HealthThresholds } from './health-aggregator';
import { PipelineObservation, PipelineProbe } from './pipeline-probe';

export interface PipelineHealthSources {
  probe: Pick<PipelineProbe, 'observe'>;
  gatewayServing: () => boolean;
  attachedServices: () => readonly string[];
  workerResults: () => readonly { workerId: string; lastReceivedTimeUs: number }[];
}

export class PipelineHealth {
  private readonly aggregator: HealthAggregator;

  constructor(
    private readonly sources: PipelineHealthSources,
    thresholds: HealthThresholds,
  ) {
    this.aggregator = new HealthAggregator(thresholds);
  }

  async report(): Promise<HealthReport> {
    const observation = await this.sources.probe.observe();
    return this.aggregator.evaluate({
      nowMs: Date.now(),
      gatewayServing: this.sources.gatewayServing(),
      captures: observation.captures,
      supplier: observation.supplier,
      supplierStats: observation.supplierStats,
      attachedServices: this.sources.attachedServices(),
      workerResults: this.sources.workerResults(),
    });
  }

  /** The supplier's statistics (cached like health), or why they are unavailable. */
  async supplierStats(): Promise<SupplierStats | { error: string }> {
    return (await this.observation()).supplierStats;
  }

  observation(): Promise<PipelineObservation> {
    return this.sources.probe.observe();
  }
}
