// Gateway's configuration, read once from the environment at start-up.
import { DEFAULT_COMMAND_TIMEOUT_MS, MAX_COMMAND_TIMEOUT_MS } from '@framewire/commands';
import {
  DEFAULT_LATEST_BYTES_BUDGET,
  DEFAULT_MAX_ARCHIVE_DIRECTORIES,
  DEFAULT_MAX_PENDING_BYTES,
  DEFAULT_QUEUED_BYTES_BUDGET,
  DEFAULT_STALL_TIMEOUT_MS,
  DEFAULT_SUBSCRIBER_QUEUE_BYTES,
} from '@framewire/results';
import { integerVariable, portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service-runtime';
import { DEFAULT_CLIENT_MAX_BUFFERED_BYTES, DEFAULT_DISPLAY_FPS, DEFAULT_MAX_WATCHED_STREAMS, MAX_DISPLAY_FPS } from '@framewire/viewer-video';
import { DEFAULT_REFUSALS_RECENT_MS } from '@framewire/pipeline-health';
import { z } from 'zod';
import { AllowedOriginError, parseAllowedOrigins } from '@framewire/http-edge';

export const DEFAULT_GATEWAY_GRPC_PORT = 50054;
export const DEFAULT_GATEWAY_HTTP_PORT = 8080;
export const DEFAULT_CAPTURE_ADDRESSES = '127.0.0.1:50051';
export const DEFAULT_SUPPLIER_ADDRESS = '127.0.0.1:50052';
/** An archive segment is closed and a new one begun past this size or age. */
export const DEFAULT_ARCHIVE_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_ARCHIVE_SEGMENT_AGE_MS = 10 * 60_000;
/** Archives older than this, or beyond this total size, are deleted (0 = keep). */
export const DEFAULT_ARCHIVE_RETENTION_MS = 24 * 3600_000;
export const DEFAULT_ARCHIVE_RETENTION_BYTES = 10 * 1024 * 1024 * 1024;
/** Deadline of one health or stats call to capture and supplier. */
export const DEFAULT_HEALTH_PROBE_DEADLINE_MS = 500;
/** Probe results are reused for this long, so that /api/health stays cheap. */
export const DEFAULT_HEALTH_CACHE_MS = 1_000;
/** A worker whose last result is older than this counts as not publishing. */
export const DEFAULT_HEALTH_WORKER_RESULTS_MS = 3_000;
/** A stream whose last sequence has not moved for this long (and whose rate is 0) is not flowing. */
export const DEFAULT_HEALTH_FRAMES_STALE_MS = 3_000;
/** /api/health needs at least this many healthy workers (deployments with N workers may ask for N). */
export const DEFAULT_HEALTH_MIN_WORKERS = 1;
const MAX_HEALTH_MIN_WORKERS = 4096;
/** A worker id as the supplier accepts it. */
const WORKER_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/** Streams the video relay may subscribe to for viewers at once: at most the supplier's own limit. */
const MAX_VIEWER_STREAMS = 1024;
/** Smallest and largest memory budget accepted for the result queues (one largest result fits 4 MiB). */
const MIN_BUDGET_BYTES = 4 * 1024 * 1024;
const MAX_BUDGET_BYTES = 2 ** 40;
const MAX_ARCHIVE_DIRECTORIES = 1_000_000;
/** Bounds of FW_RESULTS_STALL_TIMEOUT_MS. */
const MIN_STALL_TIMEOUT_MS = 1_000;
const MAX_STALL_TIMEOUT_MS = 3_600_000;

const onOff = (defaultValue: 'on' | 'off') =>
  z
    .enum(['on', 'off'])
    .default(defaultValue)
    .transform((v) => v === 'on');
const ON_OFF = onOff('on');
/** Where relayed frames are recorded when FW_VIEWER_RECORD_FRAMES=on (beside, not inside, the
 *  results archive: its retention and replay walk every folder of FW_ARCHIVE_DIR as a stream). */
export const DEFAULT_FRAME_ARCHIVE_DIR = 'data/frames';

/** host:port, as given to a gRPC channel. */
const ADDRESS = /^[^\s,]+:\d{1,5}$/;
/** FW_HTTP_ALLOWED_ORIGINS: origins besides the gateway's own whose pages may use it. */
const allowedOrigins = z
  .string()
  .default('')
  .transform((value, context) => {
    try {
      return parseAllowedOrigins(value);
    } catch (error) {
      if (!(error instanceof AllowedOriginError)) throw error;
      context.addIssue({ code: 'custom', message: error.message });
      return z.NEVER;
    }
  });

const addressList = (defaultValue: string) =>
  z
    .string()
    .default(defaultValue)
    .transform((v) => v.split(',').map((a) => a.trim()).filter((a) => a !== ''))
    .refine((list) => list.length > 0 && list.every((a) => ADDRESS.test(a)), 'must be a comma-separated list of host:port');

export interface ArchiveSettings {
  /** Recording on (FW_ARCHIVE=on) or off. */
  enabled: boolean;
  directory: string;
  segmentBytes: number;
  segmentAgeMs: number;
  /** 0 keeps archives regardless of age / size. */
  retentionMs: number;
  retentionBytes: number;
  /** Bytes of results waiting for the disk, all archives together (FW_ARCHIVE_PENDING_BYTES). */
  pendingBytes: number;
  /** Stream/worker directories the archive may hold (FW_ARCHIVE_MAX_DIRECTORIES). */
  maxDirectories: number;
}

/** Memory budgets of the results hub (docs/reliability.md). */
export interface ResultsSettings {
  /** Bytes waiting for one subscriber (FW_RESULTS_SUBSCRIBER_QUEUE_BYTES). */
  subscriberQueueBytes: number;
  /** Bytes of results waiting for all subscribers together, in their queues (distinct results) and
   *  their transports (FW_RESULTS_QUEUE_BYTES). */
  queuedBytes: number;
  /** A subscriber or replay whose connection takes nothing for this long is disconnected
   *  (FW_RESULTS_STALL_TIMEOUT_MS). */
  stallTimeoutMs: number;
  /** Bytes of the latest results kept for /api/results/latest (FW_RESULTS_LATEST_BYTES). */
  latestBytes: number;
}

/** FW_HEALTH_EXPECTED_WORKERS: comma-separated worker ids, each of which must be healthy. */
const workerIdList = z
  .string()
  .default('')
  .transform((v) => [...new Set(v.split(',').map((id) => id.trim()).filter((id) => id !== ''))])
  .refine((list) => list.every((id) => WORKER_ID.test(id)), 'must be a comma-separated list of worker ids (1-64 of A-Z a-z 0-9 . _ : -)')
  .refine((list) => list.length <= MAX_HEALTH_MIN_WORKERS, `must list at most ${MAX_HEALTH_MIN_WORKERS} worker ids`);

export interface HealthSettings {
  captureAddresses: readonly string[];
  supplierAddress: string;
  probeDeadlineMs: number;
  cacheMs: number;
  workerResultsFreshMs: number;
  framesStaleMs: number;
  minHealthyWorkers: number;
  /** Worker ids that must each be healthy (FW_HEALTH_EXPECTED_WORKERS; empty: none in particular). */
  expectedWorkers: readonly string[];
  /** A refused subscription of a known worker fails the workers check this long (FW_HEALTH_REFUSALS_MS). */
  refusalsRecentMs: number;
}

export interface ViewerSettings {
  /** Frames per second relayed to each browser (FW_VIEWER_FPS). */
  displayFps: number;
  /** A browser is sent the next frame only while its socket holds fewer unsent bytes (FW_VIEWER_MAX_BUFFERED_BYTES). */
  clientMaxBufferedBytes: number;
  /** Record the relayed JPEG frames for replay (FW_VIEWER_RECORD_FRAMES=on). */
  recordFrames: boolean;
  /** Frame archive directory (FW_FRAME_ARCHIVE_DIR); rotation and retention are the archive's. */
  frameArchiveDirectory: string;
  /** Streams viewers may make the relay subscribe to at once (FW_VIEWER_MAX_STREAMS). */
  maxStreams: number;
}

export interface GatewayConfig extends ServiceConfig {
  httpHost: string;
  httpPort: number;
  /** Origins besides its own whose pages may use the gateway (FW_HTTP_ALLOWED_ORIGINS), serialized
   *  as browsers send them. */
  httpAllowedOrigins: readonly string[];
  /** Same as archive.directory (kept for callers of the first version). */
  archiveDir: string;
  archive: ArchiveSettings;
  results: ResultsSettings;
  health: HealthSettings;
  viewer: ViewerSettings;
  commandTimeoutMs: number;
}

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const e = readEnvironment(
    {
      ...serviceEnvironment,
      FW_GRPC_PORT: portVariable(DEFAULT_GATEWAY_GRPC_PORT),
      FW_HTTP_PORT: portVariable(DEFAULT_GATEWAY_HTTP_PORT),
      // Unset: the same interface as gRPC (FW_GRPC_HOST).
      FW_HTTP_HOST: z.string().min(1).optional(),
      FW_HTTP_ALLOWED_ORIGINS: allowedOrigins,
      FW_ARCHIVE: ON_OFF,
      FW_ARCHIVE_DIR: z.string().min(1).default('data/archive'),
      FW_ARCHIVE_SEGMENT_BYTES: integerVariable(4096, 2 ** 40, DEFAULT_ARCHIVE_SEGMENT_BYTES),
      FW_ARCHIVE_SEGMENT_AGE_MS: integerVariable(1000, 7 * 24 * 3600_000, DEFAULT_ARCHIVE_SEGMENT_AGE_MS),
      FW_ARCHIVE_RETENTION_MS: integerVariable(0, 10 * 365 * 24 * 3600_000, DEFAULT_ARCHIVE_RETENTION_MS),
      FW_ARCHIVE_RETENTION_BYTES: integerVariable(0, 2 ** 50, DEFAULT_ARCHIVE_RETENTION_BYTES),
      FW_ARCHIVE_PENDING_BYTES: integerVariable(MIN_BUDGET_BYTES, MAX_BUDGET_BYTES, DEFAULT_MAX_PENDING_BYTES),
      FW_ARCHIVE_MAX_DIRECTORIES: integerVariable(1, MAX_ARCHIVE_DIRECTORIES, DEFAULT_MAX_ARCHIVE_DIRECTORIES),
      FW_RESULTS_SUBSCRIBER_QUEUE_BYTES: integerVariable(MIN_BUDGET_BYTES, MAX_BUDGET_BYTES, DEFAULT_SUBSCRIBER_QUEUE_BYTES),
      FW_RESULTS_QUEUE_BYTES: integerVariable(MIN_BUDGET_BYTES, MAX_BUDGET_BYTES, DEFAULT_QUEUED_BYTES_BUDGET),
      FW_RESULTS_LATEST_BYTES: integerVariable(MIN_BUDGET_BYTES, MAX_BUDGET_BYTES, DEFAULT_LATEST_BYTES_BUDGET),
      FW_RESULTS_STALL_TIMEOUT_MS: integerVariable(MIN_STALL_TIMEOUT_MS, MAX_STALL_TIMEOUT_MS, DEFAULT_STALL_TIMEOUT_MS),
      FW_CAPTURE_ADDRESSES: addressList(DEFAULT_CAPTURE_ADDRESSES),
      FW_SUPPLIER_ADDRESS: z.string().regex(ADDRESS, 'must be host:port').default(DEFAULT_SUPPLIER_ADDRESS),
      FW_COMMAND_TIMEOUT_MS: integerVariable(1, MAX_COMMAND_TIMEOUT_MS, DEFAULT_COMMAND_TIMEOUT_MS),
      FW_HEALTH_PROBE_DEADLINE_MS: integerVariable(10, 60_000, DEFAULT_HEALTH_PROBE_DEADLINE_MS),
      FW_HEALTH_CACHE_MS: integerVariable(0, 60_000, DEFAULT_HEALTH_CACHE_MS),
      FW_HEALTH_WORKER_RESULTS_MS: integerVariable(100, 600_000, DEFAULT_HEALTH_WORKER_RESULTS_MS),
      FW_HEALTH_FRAMES_STALE_MS: integerVariable(100, 600_000, DEFAULT_HEALTH_FRAMES_STALE_MS),
      FW_VIEWER_FPS: integerVariable(1, MAX_DISPLAY_FPS, DEFAULT_DISPLAY_FPS),
      FW_VIEWER_MAX_BUFFERED_BYTES: integerVariable(0, 64 * 1024 * 1024, DEFAULT_CLIENT_MAX_BUFFERED_BYTES),
      FW_VIEWER_RECORD_FRAMES: onOff('off'),
      FW_FRAME_ARCHIVE_DIR: z.string().min(1).default(DEFAULT_FRAME_ARCHIVE_DIR),
      FW_VIEWER_MAX_STREAMS: integerVariable(1, MAX_VIEWER_STREAMS, DEFAULT_MAX_WATCHED_STREAMS),
      FW_HEALTH_MIN_WORKERS: integerVariable(1, MAX_HEALTH_MIN_WORKERS, DEFAULT_HEALTH_MIN_WORKERS),
      FW_HEALTH_EXPECTED_WORKERS: workerIdList,
      FW_HEALTH_REFUSALS_MS: integerVariable(100, 3600_000, DEFAULT_REFUSALS_RECENT_MS),
    },
    env,
  );
  const archive: ArchiveSettings = Object.freeze({
    enabled: e.FW_ARCHIVE,
    directory: e.FW_ARCHIVE_DIR,
    segmentBytes: e.FW_ARCHIVE_SEGMENT_BYTES,
    segmentAgeMs: e.FW_ARCHIVE_SEGMENT_AGE_MS,
    retentionMs: e.FW_ARCHIVE_RETENTION_MS,
    retentionBytes: e.FW_ARCHIVE_RETENTION_BYTES,
    pendingBytes: e.FW_ARCHIVE_PENDING_BYTES,
    maxDirectories: e.FW_ARCHIVE_MAX_DIRECTORIES,
  });
  const results: ResultsSettings = Object.freeze({
    subscriberQueueBytes: e.FW_RESULTS_SUBSCRIBER_QUEUE_BYTES,
    queuedBytes: e.FW_RESULTS_QUEUE_BYTES,
    stallTimeoutMs: e.FW_RESULTS_STALL_TIMEOUT_MS,
    latestBytes: e.FW_RESULTS_LATEST_BYTES,
  });
  const health: HealthSettings = Object.freeze({
    captureAddresses: Object.freeze([...e.FW_CAPTURE_ADDRESSES]),
    supplierAddress: e.FW_SUPPLIER_ADDRESS,
    probeDeadlineMs: e.FW_HEALTH_PROBE_DEADLINE_MS,
    cacheMs: e.FW_HEALTH_CACHE_MS,
    workerResultsFreshMs: e.FW_HEALTH_WORKER_RESULTS_MS,
    framesStaleMs: e.FW_HEALTH_FRAMES_STALE_MS,
    minHealthyWorkers: e.FW_HEALTH_MIN_WORKERS,
    expectedWorkers: Object.freeze([...e.FW_HEALTH_EXPECTED_WORKERS]),
    refusalsRecentMs: e.FW_HEALTH_REFUSALS_MS,
  });
  const viewer: ViewerSettings = Object.freeze({
    displayFps: e.FW_VIEWER_FPS,
    clientMaxBufferedBytes: e.FW_VIEWER_MAX_BUFFERED_BYTES,
    recordFrames: e.FW_VIEWER_RECORD_FRAMES,
    frameArchiveDirectory: e.FW_FRAME_ARCHIVE_DIR,
    maxStreams: e.FW_VIEWER_MAX_STREAMS,
  });
  return Object.freeze({
    ...serviceConfigFrom('gateway', e.FW_GRPC_PORT, e),
    httpHost: e.FW_HTTP_HOST ?? e.FW_GRPC_HOST,
    httpPort: e.FW_HTTP_PORT,
    httpAllowedOrigins: Object.freeze([...e.FW_HTTP_ALLOWED_ORIGINS]),
    archiveDir: e.FW_ARCHIVE_DIR,
    archive,
    results,
    health,
    viewer,
    commandTimeoutMs: e.FW_COMMAND_TIMEOUT_MS,
  });
}
