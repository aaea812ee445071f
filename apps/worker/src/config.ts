// Worker's configuration, read once from the environment at start-up.
import { integerVariable, portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service-runtime';
import { JPEG_DECODERS, JpegDecoderName } from '@framewire/analysis';
import { MAX_WORKER_FPS } from '@framewire/worker';
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

const ID = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 . _ -');
const ADDRESS = z.string().regex(/^[^\s,]+:\d{1,5}$/, 'must be host:port');

export interface WorkerConfig extends ServiceConfig {
  workerId: string;
  analyzers: readonly string[];
  streamId: string;
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
        .regex(/^(motion|tracks|keypoints)(,(motion|tracks|keypoints))*$/, 'must be a comma-separated list of motion, tracks, keypoints')
        .default('motion,tracks,keypoints'),
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
    },
    env,
  );
  return Object.freeze({
    ...serviceConfigFrom('worker', e.FW_GRPC_PORT, e),
    workerId: e.FW_WORKER_ID,
    analyzers: Object.freeze(e.FW_WORKER_ANALYZERS.split(',')),
    streamId: e.FW_STREAM_ID,
    supplierAddress: e.FW_SUPPLIER_ADDRESS,
    gatewayAddress: e.FW_GATEWAY_ADDRESS,
    analysisWidth: e.FW_WORKER_ANALYSIS_WIDTH,
    fps: e.FW_WORKER_FPS,
    preferSharedMemory: e.FW_WORKER_SHM,
    decoder: e.FW_WORKER_DECODER,
    resultQueue: e.FW_WORKER_RESULT_QUEUE,
    resultQueueBytes: e.FW_WORKER_RESULT_QUEUE_BYTES,
  });
}
