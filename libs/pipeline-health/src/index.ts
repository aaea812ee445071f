// Public entry point of @framewire/pipeline-health: what makes the pipeline healthy (the
// HealthAggregator on plain observations), the probe that observes capture and the supplier, and the
// typed grpc.health.v1 Check client it uses.
export { DEFAULT_REFUSALS_RECENT_MS, HEALTH_CHECK_NAMES, HealthAggregator } from './health-aggregator';
export type { HealthCheck, HealthCheckName, HealthInputs, HealthReport, HealthThresholds, ProbeOutcome, WorkerResultActivity } from './health-aggregator';
export { PipelineHealth } from './pipeline-health';
export type { PipelineHealthSources } from './pipeline-health';
export { PipelineProbe } from './pipeline-probe';
export type { PipelineObservation, PipelineProbeOptions } from './pipeline-probe';
