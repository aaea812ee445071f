// Public entry point of @framewire/results: the gateway's results core — validation of results
// from workers, the fan-out hub with bounded drop-oldest subscriber queues, recording to archives
// and replay. Policies and file layout: docs/results.md.
export { DEFAULT_MAX_DETECTIONS, DEFAULT_MAX_INSTANCES, DEFAULT_MAX_POINTS_PER_INSTANCE, DEFAULT_MAX_POINTS_PER_RESULT, DEFAULT_RESULT_LIMITS, MAX_LABEL_LENGTH, RESULT_KINDS, ResultValidationError, decodeResult, resultKindOf, validateResult } from './validate';
export { DEFAULT_LATEST_BYTES_BUDGET, DEFAULT_QUEUED_BYTES_BUDGET, DEFAULT_STALL_TIMEOUT_MS, DEFAULT_SUBSCRIBER_QUEUE_BYTES, ResultHub, describeStall, nowMicros, type LatencySummary, type PublishedResult, type ResultSubscription } from './hub';
export { TransportMeter } from './transport-meter';
export { ResultRecorder } from './recorder';
export {
  DEFAULT_MAX_ARCHIVE_DIRECTORIES,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_MAX_PENDING_BYTES_PER_ARCHIVE,
  DEFAULT_MAX_PENDING_PER_ARCHIVE,
  DEFAULT_SWEEP_INTERVAL_MS,
  IDLE_ARCHIVE_CLOSE_MS,
  MAX_OPEN_ARCHIVES,
  ResultRecorderConfigError,
  type RecorderLogger,
  type ResultRecorderOptions,
  type ResultRecorderStats,
} from './recorder-options';
export { RECORDER_KEYPOINTS_MASTER_INTERVAL } from './writer-pair';
export { ReplayRequestError, recordedStreams, replayOrder, replayResults, validateReplayOptions } from './replay';
export { EnvelopeMismatchError } from './envelope';
export { ENVELOPE_SUFFIX, isRwKind, resultArchiveBaseName, rwArchiveBaseName, workerDirectory } from './layout';
export { asReceived, exampleResult } from './examples';
export {
  DEFAULT_MAX_REPLAY_CALLS,
  DEFAULT_MAX_SUBSCRIBERS,
  receivePublishedResults,
  ReplayCalls,
  resultHubGrpcService,
  resultHubServiceDefinition,
  STALLED_CALL_GRACE_MS,
  streamSubscribedResults,
  SUBSCRIBER_TRANSPORT_WINDOW_BYTES,
} from './grpc-calls';
export type { ReplayCallOptions, ResultSubscriptionOptions } from './grpc-calls';
export { DEFAULT_WS_MAX_BUFFERED_BYTES, DEFAULT_WS_MAX_CLIENTS, ResultsWebSocket, WS_PATH } from './results-websocket';
export type { ResultsWebSocketOptions, ResultsWebSocketStats, WebSocketClientStats } from './results-websocket';
export { DEFAULT_LATEST_JSON_CACHE_CHARS, LatestResultJson, matchesIfNoneMatch, MAX_LATEST_JSON_BODIES } from './latest-result-json';
export type { LatestResultBody } from './latest-result-json';
