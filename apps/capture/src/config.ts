// Capture's configuration, read once from the environment at start-up.
import { integerVariable, portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service';
import { z } from 'zod';

export const DEFAULT_CAPTURE_GRPC_PORT = 50051;
export const DEFAULT_CAPTURE_WIDTH = 640;
export const DEFAULT_CAPTURE_HEIGHT = 480;
export const DEFAULT_CAPTURE_SEED = 1;
export const DEFAULT_WATCHDOG_MS = 5_000;
export const DEFAULT_JPEG_QUALITY = 80;
/** Largest synthetic frame side (8K). */
const MAX_FRAME_SIDE = 7680;
const MIN_FRAME_SIDE = 16;

/** `synthetic`, `images:<folder>` or `ffmpeg:<url-or-path>`. */
const sourceVariable = z
  .string()
  .regex(/^(synthetic|images:.+|ffmpeg:.+)$/, 'must be one of "synthetic", "images:<folder>", "ffmpeg:<url-or-path>"')
  .default('synthetic');

const booleanVariable = (defaultValue: boolean) =>
  z
    .enum(['true', 'false'])
    .default(defaultValue ? 'true' : 'false')
    .transform((v) => v === 'true');

export interface CaptureConfig extends ServiceConfig {
  streamId: string;
  source: string;
  fps: number;
  supplierAddress: string;
  /** Size of the synthetic scene (images and ffmpeg keep their own). */
  width: number;
  height: number;
  seed: number;
  /** Play image folders and video files again from the start when they end. */
  loop: boolean;
  watchdogMs: number;
  jpegQuality: number;
}

export function loadCaptureConfig(env: Record<string, string | undefined> = process.env): CaptureConfig {
  const e = readEnvironment(
    {
      ...serviceEnvironment,
      FW_GRPC_PORT: portVariable(DEFAULT_CAPTURE_GRPC_PORT),
      FW_STREAM_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 . _ -').default('cam-1'),
      FW_CAPTURE_SOURCE: sourceVariable,
      FW_CAPTURE_FPS: integerVariable(1, 240, 15),
      FW_SUPPLIER_ADDRESS: z
        .string()
        .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
        .default('127.0.0.1:50052'),
      FW_CAPTURE_WIDTH: integerVariable(MIN_FRAME_SIDE, MAX_FRAME_SIDE, DEFAULT_CAPTURE_WIDTH),
      FW_CAPTURE_HEIGHT: integerVariable(MIN_FRAME_SIDE, MAX_FRAME_SIDE, DEFAULT_CAPTURE_HEIGHT),
      FW_CAPTURE_SEED: integerVariable(0, 0xffff_ffff, DEFAULT_CAPTURE_SEED),
      FW_CAPTURE_LOOP: booleanVariable(false),
      FW_CAPTURE_WATCHDOG_MS: integerVariable(100, 600_000, DEFAULT_WATCHDOG_MS),
      FW_CAPTURE_JPEG_QUALITY: integerVariable(1, 100, DEFAULT_JPEG_QUALITY),
    },
    env,
  );
  return Object.freeze({
    ...serviceConfigFrom('capture', e.FW_GRPC_PORT, e),
    streamId: e.FW_STREAM_ID,
    source: e.FW_CAPTURE_SOURCE,
    fps: e.FW_CAPTURE_FPS,
    supplierAddress: e.FW_SUPPLIER_ADDRESS,
    width: e.FW_CAPTURE_WIDTH,
    height: e.FW_CAPTURE_HEIGHT,
    seed: e.FW_CAPTURE_SEED,
    loop: e.FW_CAPTURE_LOOP,
    watchdogMs: e.FW_CAPTURE_WATCHDOG_MS,
    jpegQuality: e.FW_CAPTURE_JPEG_QUALITY,
  });
}
