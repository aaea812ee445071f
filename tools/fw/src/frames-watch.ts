// `fw frames watch`: subscribes to a stream at the supplier like a worker (Pull, one credit per
// frame) and prints, once a second, the rate, the age of frames at delivery and the drops, so a
// user can see the frame path working without writing a worker. Without --supplier it watches the
// supplier of the pipeline `npm start` runs with the same environment.
import { subscribeFrames } from '@framewire/frame-client';
import { PixelFormat } from '@framewire/proto';
import { tokenMetadata } from '@framewire/grpc-client';
import { Secret } from '@framewire/service-runtime';
import { launcherSupplierAddress } from '../../start/plan';
import { ReadinessTimeoutError, waitUntilServing } from '../../start/supervisor';
import { CliError } from './cli-error';

/** How often a summary line is printed. */
export const WATCH_REPORT_INTERVAL_MS = 1000;
/** Default bound on reaching the supplier before the watch gives up. */
export const DEFAULT_CONNECT_TIMEOUT_S = 5;
/** A final partial window shorter than this is not reported (its rate would mislead). */
const MIN_FINAL_REPORT_MS = 250;

export interface FramesWatchOptions {
  /** host:port; default: the supplier `npm start` runs (FW_GRPC_HOST, FW_START_BASE_PORT). */
  supplier?: string;
  /** Seconds to reach the supplier (it answers SERVING on grpc.health.v1) before failing. */
  connectTimeout?: number;
  stream: string;
  worker: string;
  /** Bearer token, for a supplier started with FW_AUTH_TOKEN. */
  token?: Secret<string>;
  seconds?: number;
  json?: boolean;
}

interface Window {
  frames: number;
  drops: number;
  ages: number[];
  last?: { sequence: number; width: number; height: number; pixelFormat: PixelFormat; sizeBytes: number };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
}

function report(window: Window, elapsedMs: number, options: FramesWatchOptions): string {
  const ages = [...window.ages].sort((a, b) => a - b);
  const summary = {
    stream: options.stream,
    fps: Math.round((window.frames * 10_000) / elapsedMs) / 10,
    ageP50Ms: Math.round(percentile(ages, 0.5) * 10) / 10,
    ageP99Ms: Math.round(percentile(ages, 0.99) * 10) / 10,
    drops: window.drops,
    lastSequence: window.last?.sequence ?? null,
    width: window.last?.width ?? null,
    height: window.last?.height ?? null,
    pixelFormat: window.last ? PixelFormat[window.last.pixelFormat] : null,
    bytes: window.last?.sizeBytes ?? null,
  };
  if (options.json) return JSON.stringify(summary);
  if (!window.last) return `${options.stream}: no frames`;
  return (
    `${summary.stream}: ${summary.fps.toFixed(1)} fps, age p50 ${summary.ageP50Ms} ms p99 ${summary.ageP99Ms} ms, ` +
    `${summary.drops} dropped, seq ${summary.lastSequence}, ${summary.width}x${summary.height} ` +
    `${String(summary.pixelFormat).replace('PIXEL_FORMAT_', '')} ${summary.bytes} B`
  );
}

/** Waits until the supplier at `address` answers; CliError naming the address and the last reason
 *  (connection refused, no route, NOT_SERVING, ...) when it does not within `timeoutS`. */
async function reachSupplier(address: string, timeoutS: number): Promise<void> {
  try {
    await waitUntilServing(address, { timeoutMs: timeoutS * 1000 });
  } catch (error) {
    if (!(error instanceof ReadinessTimeoutError)) throw error;
    // grpc-js ends its reasons with an empty "Resolution note: ".
    const reason = error.lastStatus.replace(/\.? Resolution note: $/, '');
    throw new CliError('', `cannot reach the supplier at ${address} within ${timeoutS} s: ${reason}`);
  }
}

/** Watches until `seconds` pass (or Ctrl-C); resolves to the exit status (1 when no frame came). */
export async function runFramesWatch(options: FramesWatchOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const supplier = options.supplier ?? launcherSupplierAddress(env);
  await reachSupplier(supplier, options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_S);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  const deadline = options.seconds === undefined ? undefined : setTimeout(() => stop.abort(), options.seconds * 1000);
  let window: Window = { frames: 0, drops: 0, ages: [] };
  let windowStart = Date.now();
  let total = 0;
  const ticker = setInterval(() => {
    const now = Date.now();
    process.stdout.write(`${report(window, now - windowStart, options)}\n`);
    window = { frames: 0, drops: 0, ages: [], last: window.last };
    windowStart = now;
  }, WATCH_REPORT_INTERVAL_MS);
  try {
    const frames = subscribeFrames({ address: supplier, workerId: options.worker, streamId: options.stream, metadata: tokenMetadata(options.token), signal: stop.signal });
    for await (const received of frames) {
      total++;
      window.frames++;
      window.drops += received.droppedSinceLast;
      window.ages.push(received.ageAtDeliveryMs);
      const f = received.frame;
      window.last = { sequence: f.sequence, width: f.width, height: f.height, pixelFormat: f.pixelFormat, sizeBytes: f.sizeBytes };
    }
  } finally {
    clearInterval(ticker);
    // The last, partial second (or the only line, when the watch was shorter than a report).
    const elapsed = Date.now() - windowStart;
    if (elapsed >= MIN_FINAL_REPORT_MS || total === 0) process.stdout.write(`${report(window, elapsed, options)}\n`);
    if (deadline) clearTimeout(deadline);
    process.removeListener('SIGINT', onSignal);
  }
  return total > 0 ? 0 : 1;
}
