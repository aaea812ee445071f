// Capture's configuration, read once from the environment at start-up.
import { integerVariable, portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service';
import { z } from 'zod';

export const DEFAULT_CAPTURE_GRPC_PORT = 50051;

/** `synthetic`, `images:<folder>` or `ffmpeg:<url-or-path>`. */
const sourceVariable = z
  .string()
  .regex(/^(synthetic|images:.+|ffmpeg:.+)$/, 'must be one of "synthetic", "images:<folder>", "ffmpeg:<url-or-path>"')
  .default('synthetic');

export interface CaptureConfig extends ServiceConfig {
  streamId: string;
  source: string;
  fps: number;
  supplierAddress: string;
}

export function loadCaptureConfig(env: Record<string, string | undefined> = process.env): CaptureConfig {
  const e = readEnvironment(
    {
      ...serviceEnvironment,
      FW_GRPC_PORT: portVariable(DEFAULT_CAPTURE_GRPC_PORT),
      FW_STREAM_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 . _ -').default('cam-1'),
      FW_CAPTURE_SOURCE: sourceVariable,
      FW_CAPTURE_FPS: integerVariable(1, 240, 15),
      FW_SUPPLIER_ADDRESS: z.string().min(1).default('127.0.0.1:50052'),
    },
    env,
  );
  return Object.freeze({
    ...serviceConfigFrom('capture', e.FW_GRPC_PORT, e),
    streamId: e.FW_STREAM_ID,
    source: e.FW_CAPTURE_SOURCE,
    fps: e.FW_CAPTURE_FPS,
    supplierAddress: e.FW_SUPPLIER_ADDRESS,
  });
}
