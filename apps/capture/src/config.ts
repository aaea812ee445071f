// Capture's configuration, read once from the environment at start-up.
import { commandEnvironment, gatewayAddressFrom } from '@framewire/commands';
import { withoutUrlPasswords } from '@framewire/capture';
import { integerVariable, portVariable, readEnvironment, Secret, ServiceConfig, serviceConfigFrom, serviceEnvironment, shownInErrorsAs } from '@framewire/service-runtime';
import { isRingName } from '@framewire/shm';
import { z } from 'zod';

export const DEFAULT_CAPTURE_GRPC_PORT = 50051;
export const DEFAULT_CAPTURE_WIDTH = 640;
export const DEFAULT_CAPTURE_HEIGHT = 480;
export const DEFAULT_CAPTURE_SEED = 1;
export const DEFAULT_WATCHDOG_MS = 5_000;
export const DEFAULT_JPEG_QUALITY = 80;
const MIN_FPS = 1;
const MAX_FPS = 240;
/** Largest synthetic frame side (8K). */
const MAX_FRAME_SIDE = 7680;
const MIN_FRAME_SIDE = 16;

/** `synthetic`, `images:<folder>` or `ffmpeg:<url-or-path>`. A camera URL may carry a password
 *  (`ffmpeg:rtsp://user:password@camera/stream`): the source is a Secret that prints without it. */
const sourceVariable = shownInErrorsAs(
  z
    .string()
    .regex(/^(synthetic|images:.+|ffmpeg:.+)$/, 'must be one of "synthetic", "images:<folder>", "ffmpeg:<url-or-path>"')
    .default('synthetic')
    .transform((spec) => new Secret(spec, withoutUrlPasswords(spec))),
  (raw) => JSON.stringify(withoutUrlPasswords(raw)),
);

/** Default ring slots: enough that a frame is still there when the slowest co-located reader asks. */
export const DEFAULT_SHM_SLOTS = 8;
/** Slot size when the frame size is not known up front (images, ffmpeg): 8 MiB. */
export const DEFAULT_SHM_SLOT_BYTES = 8 * 1024 * 1024;
/** Room over width × height × 3 for a synthetic JPEG's headers (a JPEG of noise can exceed raw RGB). */
const SYNTHETIC_SLOT_HEADROOM_BYTES = 64 * 1024;
const MAX_SHM_SLOTS = 1024;
const MAX_SHM_SLOT_BYTES = 256 * 1024 * 1024;

/** Permission bits in octal, e.g. 600 (owner only) or 660 (owner and group). */
const octalModeVariable = z
  .string()
  .regex(/^0?[0-7]{3}$/, 'must be octal permission bits such as 600 or 660')
  .default('600')
  .transform((v) => parseInt(v, 8));

const booleanVariable = (defaultValue: boolean) =>
  z
    .enum(['true', 'false'])
    .default(defaultValue ? 'true' : 'false')
    .transform((v) => v === 'true');

export interface CaptureConfig extends ServiceConfig {
  streamId: string;
  /** The source spec; reveal() for the spec itself, the description has no URL password. */
  source: Secret<string>;
  /** FW_CAPTURE_FPS when set: the rate of the synthetic and image sources (15 when unset), a cap on
   *  an ffmpeg source's own rate (none when unset). See SourceSettings.fps. */
  fps?: number;
  supplierAddress: string;
  /** Size of the synthetic scene (images and ffmpeg keep their own). */
  width: number;
  height: number;
  seed: number;
  /** Play image folders and video files again from the start when they end. */
  loop: boolean;
  watchdogMs: number;
  jpegQuality: number;
  /** The gateway whose commands capture obeys (FW_GATEWAY_ADDRESS; absent: no command subscription). */
  gatewayAddress?: string;
  /** This service's id for commands (FW_SERVICE_ID, default "capture"). */
  serviceId: string;
  /** Write frames into this shared-memory ring and publish references (FW_CAPTURE_SHM_RING); absent: bytes. */
  shm?: CaptureRingConfig;
}

export interface CaptureRingConfig {
  name: string;
  slotCount: number;
  slotBytes: number;
  mode: number;
}

export function loadCaptureConfig(env: Record<string, string | undefined> = process.env): CaptureConfig {
  const e = readEnvironment(
    {
      ...serviceEnvironment,
      FW_GRPC_PORT: portVariable(DEFAULT_CAPTURE_GRPC_PORT),
      FW_STREAM_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 . _ -').default('cam-1'),
      FW_CAPTURE_SOURCE: sourceVariable,
      FW_CAPTURE_FPS: z.coerce.number().int().min(MIN_FPS).max(MAX_FPS).optional(),
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
      FW_CAPTURE_SHM_RING: z.string().refine(isRingName, 'must be 1-200 of A-Z a-z 0-9 . _ -, not "." or ".."').optional(),
      FW_CAPTURE_SHM_SLOTS: integerVariable(2, MAX_SHM_SLOTS, DEFAULT_SHM_SLOTS),
      FW_CAPTURE_SHM_SLOT_BYTES: z.coerce.number().int().min(1024).max(MAX_SHM_SLOT_BYTES).optional(),
      FW_CAPTURE_SHM_MODE: octalModeVariable,
      ...commandEnvironment('capture'),
    },
    env,
  );
  // A synthetic frame is a JPEG of a known size; other sources' frames are known only once they come.
  const slotBytes =
    e.FW_CAPTURE_SHM_SLOT_BYTES ??
    (e.FW_CAPTURE_SOURCE.reveal() === 'synthetic' ? e.FW_CAPTURE_WIDTH * e.FW_CAPTURE_HEIGHT * 3 + SYNTHETIC_SLOT_HEADROOM_BYTES : DEFAULT_SHM_SLOT_BYTES);
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
    gatewayAddress: gatewayAddressFrom(e.FW_GATEWAY_ADDRESS, env),
    serviceId: e.FW_SERVICE_ID,
    shm:
      e.FW_CAPTURE_SHM_RING === undefined
        ? undefined
        : Object.freeze({ name: e.FW_CAPTURE_SHM_RING, slotCount: e.FW_CAPTURE_SHM_SLOTS, slotBytes, mode: e.FW_CAPTURE_SHM_MODE }),
  });
}
