// Worker's configuration, read once from the environment at start-up.
import { ConfigError, integerVariable, portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service-runtime';
import { BUILT_IN_ANALYZERS, DEFAULT_MAX_STREAM_STATES, DEFAULT_STREAM_IDLE_MS, JPEG_DECODERS, JpegDecoderName } from '@framewire/analysis';
import { PoolMode } from '@framewire/frame-client';
import { INFERENCE_BACKENDS, InferenceBackend, MODEL_ANALYZERS } from '@framewire/models';
import { isModulePath, MAX_WORKER_FPS } from '@framewire/worker';
import { hostname as osHostname } from 'node:os';
import { z } from 'zod';

export const DEFAULT_WORKER_GRPC_PORT = 50053;
export const DEFAULT_SUPPLIER_ADDRESS = '127.0.0.1:50052';
export const DEFAULT_GATEWAY_ADDRESS = '127.0.0.1:50054';
/** Width of the image the analyzers see; wider frames are downscaled (aspect kept). */
export const DEFAULT_ANALYSIS_WIDTH = 320;
export const MIN_ANALYSIS_WIDTH = 16;
export const MAX_ANALYSIS_WIDTH = 7680;
/** Results held for the gateway while it is slow or away; older ones are dropped beyond this. */
export const DEFAULT_RESULT_QUEUE = 256;
/** Bytes of encoded results held for the gateway; older ones are dropped beyond this. */
export const DEFAULT_RESULT_QUEUE_BYTES = 16 * 1024 * 1024;
const MIN_RESULT_QUEUE_BYTES = 64 * 1024;
const MAX_RESULT_QUEUE_BYTES = 2 ** 36;
/** In FW_WORKER_ID, stands for the host name: replicas of one container definition
 *  (`docker-compose up --scale worker=N`) get distinct ids from their container host names. */
export const HOSTNAME_PLACEHOLDER = '{hostname}';
/** In FW_WORKER_STREAMS, every stream of the supplier, including streams that appear later. */
export const ALL_STREAMS = '*';
/** Streams FW_WORKER_STREAMS may list. */
export const MAX_LISTED_STREAMS = 64;
/** The analyzers that need every frame of a stream they can get, in order (they track objects across
 *  frames): with one of them a pool defaults to sticky. */
const STATEFUL_ANALYZERS = ['tracks', 'pose'];

const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** An npm package name, possibly scoped, possibly with a path inside it (built-in names match too). */
const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*(\/[A-Za-z0-9._~-]+)*$/;
const ID = z.string().regex(ID_PATTERN, 'must be 1-64 of A-Z a-z 0-9 . _ -');
const ADDRESS = z.string().regex(/^[^\s,]+:\d{1,5}$/, 'must be host:port');

/** The pool a worker is a member of (FW_WORKER_POOL, FW_WORKER_POOL_MODE, FW_WORKER_STREAMS). */
export interface WorkerPoolConfig {
  id: string;
  mode: PoolMode;
  /** The streams it serves, or every stream (FW_WORKER_STREAMS=*). */
  streams: readonly string[] | 'all';
}

export interface WorkerConfig extends ServiceConfig {
  workerId: string;
  /** FW_WORKER_ANALYZERS in pipeline order: built-in names, module paths, package names. */
  analyzers: readonly string[];
  /** The stream of a broadcast worker (no pool): every frame of it that the worker can take. */
  streamId: string;
  /** The pool it is a member of; undefined: a broadcast worker of streamId. */
  pool: Readonly<WorkerPoolConfig> | undefined;
  /** Streams whose analyzer state it keeps at once (FW_WORKER_MAX_STREAMS), and how long a stream it
   *  has not seen keeps it (FW_WORKER_STREAM_IDLE_MS). */
  maxStreams: number;
  streamIdleMs: number;
  supplierAddress: string;
  gatewayAddress: string;
  /** Maximum width of the analysed image (FW_WORKER_ANALYSIS_WIDTH). */
  analysisWidth: number;
  /** Target frames per second at start-up, 0 = as fast as frames come (FW_WORKER_FPS). */
  fps: number;
  /** Ask the supplier for shared-memory references on its host (FW_WORKER_SHM). */
  preferSharedMemory: boolean;
  decoder: JpegDecoderName;
  /** Bounds of the outgoing result queue, results and bytes (FW_WORKER_RESULT_QUEUE, FW_WORKER_RESULT_QUEUE_BYTES). */
  resultQueue: number;
  resultQueueBytes: number;
  /** Folder of the model files (FW_MODELS_DIR); undefined: models/ of the installation
   *  (findModelsDirectory). Read only when a model analyzer (detect, pose, person-seg) is named. */
  modelsDir: string | undefined;
  /** TensorFlow.js backend of the model analyzers (FW_MODELS_BACKEND). */
  modelsBackend: InferenceBackend;
}

export function loadWorkerConfig(env: Record<string, string | undefined> = process.env, hostname: string = osHostname()): WorkerConfig {
  const id = env.FW_WORKER_ID;
  if (id?.includes(HOSTNAME_PLACEHOLDER)) env = { ...env, FW_WORKER_ID: id.replaceAll(HOSTNAME_PLACEHOLDER, hostname) };
  const e = readEnvironment(
    {
      ...serviceEnvironment,
      FW_GRPC_PORT: portVariable(DEFAULT_WORKER_GRPC_PORT),
      FW_WORKER_ID: ID.default('worker-1'),
      FW_WORKER_ANALYZERS: z
        .string()
        .default('motion,tracks,keypoints')
        .superRefine((value, ctx) => {
          const problem = analyzerListProblem(value);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        }),
      FW_STREAM_ID: ID.default('cam-1'),
      FW_SUPPLIER_ADDRESS: ADDRESS.default(DEFAULT_SUPPLIER_ADDRESS),
      FW_GATEWAY_ADDRESS: ADDRESS.default(DEFAULT_GATEWAY_ADDRESS),
      FW_WORKER_ANALYSIS_WIDTH: integerVariable(MIN_ANALYSIS_WIDTH, MAX_ANALYSIS_WIDTH, DEFAULT_ANALYSIS_WIDTH),
      FW_WORKER_FPS: integerVariable(0, MAX_WORKER_FPS, 0),
      FW_WORKER_SHM: z
        .enum(['true', 'false'])
        .default('true')
        .transform((v) => v === 'true'),
      FW_WORKER_DECODER: z.enum(JPEG_DECODERS as [JpegDecoderName, ...JpegDecoderName[]]).default('sharp'),
      FW_WORKER_RESULT_QUEUE: integerVariable(1, 100_000, DEFAULT_RESULT_QUEUE),
      FW_WORKER_RESULT_QUEUE_BYTES: integerVariable(MIN_RESULT_QUEUE_BYTES, MAX_RESULT_QUEUE_BYTES, DEFAULT_RESULT_QUEUE_BYTES),
      FW_WORKER_POOL: ID.optional(),
      FW_WORKER_POOL_MODE: z.enum(['shared', 'sticky']).optional(),
      FW_WORKER_STREAMS: z
        .string()
        .optional()
        .superRefine((value, ctx) => {
          const problem = value === undefined ? undefined : streamListProblem(value);
          if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
        }),
      FW_WORKER_MAX_STREAMS: integerVariable(1, 1024, DEFAULT_MAX_STREAM_STATES),
      FW_WORKER_STREAM_IDLE_MS: integerVariable(100, 24 * 3600 * 1000, DEFAULT_STREAM_IDLE_MS),
      FW_MODELS_DIR: z.string().optional(),
      FW_MODELS_BACKEND: z.enum(INFERENCE_BACKENDS as unknown as [InferenceBackend, ...InferenceBackend[]]).default('wasm'),
    },
    env,
  );
  const analyzers = e.FW_WORKER_ANALYZERS.split(',');
  const streams: readonly string[] | 'all' = e.FW_WORKER_STREAMS === undefined ? [e.FW_STREAM_ID] : e.FW_WORKER_STREAMS === ALL_STREAMS ? 'all' : e.FW_WORKER_STREAMS.split(',');
  // Several streams need a pool at the supplier: without one, a pool of one named after the worker.
  const poolId = e.FW_WORKER_POOL ?? (streams === 'all' || streams.length > 1 ? e.FW_WORKER_ID : '');
  if (poolId === '' && e.FW_WORKER_POOL_MODE !== undefined) {
    throw new ConfigError([
      `FW_WORKER_POOL_MODE: a pool's mode needs a pool: set FW_WORKER_POOL, or several streams in FW_WORKER_STREAMS (got ${JSON.stringify(e.FW_WORKER_POOL_MODE)} for a worker of stream "${e.FW_STREAM_ID}" alone)`,
    ]);
  }
  const mode: PoolMode = e.FW_WORKER_POOL_MODE ?? (analyzers.some((a) => STATEFUL_ANALYZERS.includes(a)) ? 'sticky' : 'shared');
  return Object.freeze({
    ...serviceConfigFrom('worker', e.FW_GRPC_PORT, e),
    workerId: e.FW_WORKER_ID,
    analyzers: Object.freeze(analyzers),
    streamId: streams !== 'all' && streams.length === 1 ? streams[0] : e.FW_STREAM_ID,
    pool: poolId === '' ? undefined : Object.freeze({ id: poolId, mode, streams: streams === 'all' ? 'all' : Object.freeze([...streams]) }),
    maxStreams: e.FW_WORKER_MAX_STREAMS,
    streamIdleMs: e.FW_WORKER_STREAM_IDLE_MS,
    supplierAddress: e.FW_SUPPLIER_ADDRESS,
    gatewayAddress: e.FW_GATEWAY_ADDRESS,
    analysisWidth: e.FW_WORKER_ANALYSIS_WIDTH,
    fps: e.FW_WORKER_FPS,
    preferSharedMemory: e.FW_WORKER_SHM,
    decoder: e.FW_WORKER_DECODER,
    resultQueue: e.FW_WORKER_RESULT_QUEUE,
    resultQueueBytes: e.FW_WORKER_RESULT_QUEUE_BYTES,
    modelsDir: e.FW_MODELS_DIR,
    modelsBackend: e.FW_MODELS_BACKEND,
  });
}

/** What is wrong with a FW_WORKER_ANALYZERS value, or undefined: a comma-separated list, each entry
 *  a built-in analyzer, a module path (./, ../ or /; loaded at start, relative to the working
 *  directory) or a package name, none twice. Whether a module exports an analyzer is checked when
 *  the worker starts (loadAnalyzerSources). */
function analyzerListProblem(value: string): string | undefined {
  const entries = value.split(',');
  const bad = entries.find((e) => !(isModulePath(e) ? e.trim() === e && e.length > 1 : PACKAGE_NAME.test(e)));
  if (bad !== undefined) {
    return `must be a comma-separated list of built-in analyzers (${[...BUILT_IN_ANALYZERS, ...Object.keys(MODEL_ANALYZERS)].join(', ')}), module paths (./my-analyzer.js) or package names (${JSON.stringify(bad)} is none)`;
  }
  const twice = entries.find((e, i) => entries.indexOf(e) !== i);
  if (twice !== undefined) return `names "${twice}" twice`;
  return undefined;
}

/** What is wrong with a FW_WORKER_STREAMS value, or undefined: `*`, or a comma-separated list of
 *  distinct stream ids. */
function streamListProblem(value: string): string | undefined {
  if (value === ALL_STREAMS) return undefined;
  const ids = value.split(',');
  if (ids.length > MAX_LISTED_STREAMS) return `lists ${ids.length} streams; at most ${MAX_LISTED_STREAMS}, or ${ALL_STREAMS} for all`;
  const bad = ids.find((id) => !ID_PATTERN.test(id));
  if (bad !== undefined) return `must be ${ALL_STREAMS} or a comma-separated list of stream ids, each 1-64 of A-Z a-z 0-9 . _ - (${JSON.stringify(bad)} is not one)`;
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined) return `lists stream "${twice}" twice`;
  return undefined;
}
