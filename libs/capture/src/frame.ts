// What every capture source produces, and the small shared pieces of a source's life: the capture
// clock, abortable waits and a logger shape that NestJS's LoggerService satisfies.
import { PixelFormat } from '@framewire/proto';

/** One frame as a source captured it, before the publisher gives it a stream id and sequence. */
export interface CapturedFrame {
  /** The encoded image (JPEG or PNG), owned by the frame: sources never reuse it. */
  data: Uint8Array;
  width: number;
  height: number;
  pixelFormat: PixelFormat;
  /** Wall-clock capture time, microseconds since the Unix epoch. */
  captureTimeUs: number;
  /** The slot of a paced source's schedule: the synthetic scene's frame number (see sceneAt), an
   *  image folder's slot (a gap means images were skipped for lateness); absent for other sources. */
  frameNumber?: number;
}

/**
 * A source of frames. Each call of `frames` opens the source anew (a watchdog restart calls it
 * again); the iterable releases everything it opened when the consumer breaks, when `signal`
 * aborts (the pending `next()` then rejects with the abort reason) or when it fails.
 */
export interface FrameSource {
  /** What the source reads, for logs, e.g. `ffmpeg:rtsp://cam-1/stream`. */
  readonly description: string;
  frames(signal?: AbortSignal): AsyncIterable<CapturedFrame>;
}

/** The structured logger sources and the publisher write to (NestJS's LoggerService fits). */
export interface CaptureLogger {
  log(message: Record<string, unknown>, context?: string): void;
  warn(message: Record<string, unknown>, context?: string): void;
  error(message: Record<string, unknown>, stack?: string, context?: string): void;
  debug?(message: Record<string, unknown>, context?: string): void;
}

export const silentLogger: CaptureLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** Wall-clock time in microseconds, from a monotonic clock anchored once (immune to clock steps). */
export function captureClockUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Resolves after `ms`, or rejects with the abort reason when `signal` aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The absolute schedule of a paced source: frame k is due at `startMs + k * intervalMs`, so
 * timer lateness never accumulates into drift. When the producer fell behind, `next()` skips to
 * the next slot still in the future instead of catching up with a burst.
 */
export class FrameSchedule {
  readonly intervalMs: number;
  private slot: number | undefined;

  constructor(
    fps: number,
    private readonly startMs: number = performance.now(),
  ) {
    this.intervalMs = 1000 / fps;
  }

  /** The slot of the frame to produce next and how long to wait for it (0 when due now). */
  next(nowMs: number = performance.now()): { slot: number; waitMs: number; skipped: number } {
    // The slot whose time most recently came (a frame less than one interval late is still made).
    const current = Math.floor((nowMs - this.startMs) / this.intervalMs);
    let skipped = 0;
    if (this.slot === undefined) this.slot = Math.max(0, current);
    else if (current > this.slot) {
      skipped = current - this.slot;
      this.slot = current;
    }
    const slot = this.slot++;
    return { slot, waitMs: Math.max(0, this.startMs + slot * this.intervalMs - nowMs), skipped };
  }
}
