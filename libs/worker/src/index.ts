// Public entry point of @framewire/worker, the TypeScript worker SDK: runWorker (a whole worker as
// one call), and its parts: publishing results to the gateway, pacing the frames a worker asks for,
// the frame loop, the result envelope and the worker's command handlers.
export {
  BACKOFF_RESET_AFTER_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_QUEUED_RESULT_BYTES,
  DEFAULT_MAX_QUEUED_RESULTS,
  DEFAULT_PUBLISH_BACKOFF,
  DEFAULT_PUBLISHER_CLOSE_TIMEOUT_MS,
  MAX_WRITES_IN_FLIGHT,
  ResultPublisher,
} from './result-publisher';
export type { PublisherLogger, ResultPublisherOptions, ResultPublisherStats } from './result-publisher';
export { FramePacer, MAX_PACING_SLICE_MS, MAX_WORKER_FPS } from './frame-pacer';
export { analyseFrame, analyseFrames, createFrameLoopStats, RESUBSCRIBE_BACKOFF, runFrameLoop } from './frame-loop';
export type { FrameLoopOptions, FrameLoopStats, SubscriptionState } from './frame-loop';
export { resultsOf } from './results';
export type { ResultEnvelope } from './results';
export { workerCommandHandlers } from './worker-commands';
export type { ConfigurableAnalysis, SetAnalyzerPayload, SetFpsPayload, WorkerCommandHandlers } from './worker-commands';
export {
  ANALYZE_FUNCTION_NAME,
  DEFAULT_WORKER_ANALYSIS_WIDTH,
  DEFAULT_WORKER_STOP_TIMEOUT_MS,
  describeSubscription,
  runWorker,
  servingStatusOf,
  STATS_LOG_INTERVAL_MS,
  WorkerOptionsError,
} from './run-worker';
export type { AnalyzerSource, RunWorkerOptions, WorkerHandle, WorkerHealth, WorkerPool, WorkerStats } from './run-worker';
export { ANALYZER_FACTORY_EXPORT, AnalyzerModuleError, isModulePath, loadAnalyzerModule, loadAnalyzerSources } from './analyzer-modules';
