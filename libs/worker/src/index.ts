// Public entry point of @framewire/worker: the reusable parts of a framewire worker (the worker SDK
// grows here): publishing results to the gateway and pacing the frames a worker asks for.
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
