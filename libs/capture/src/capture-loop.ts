// The capture loop: pulls frames from a source and hands each to a sink (the publisher), with a
// watchdog that restarts a source that fails or stops delivering.
import { Backoff, BackoffOptions } from '@framewire/grpc-client';
import { CaptureLogger, CapturedFrame, FrameSource, silentLogger, sleep } from './frame';
import { CaptureStats } from './stats';

/** Default watchdog: a source silent for this long is restarted. */
export const DEFAULT_WATCHDOG_MS = 5_000;
/** Least time a freshly (re)started source gets for its first frame (ffmpeg may be slow to open a stream). */
export const FIRST_FRAME_TIMEOUT_MS = 15_000;
/** Bound on a stopped source releasing its resources (ffmpeg's SIGTERM-then-SIGKILL fits in it). */
const SOURCE_CLOSE_TIMEOUT_MS = 5_000;

export interface RunCaptureOptions {
  source: FrameSource;
  /** Called once per captured frame; must not block (FramePublisher.publish). */
  onFrame: (frame: CapturedFrame) => void;
  stats: CaptureStats;
  /** Restart the source when it delivers nothing for this long. */
  watchdogMs?: number;
  /** How long a (re)started source may take for its first frame; default max(watchdogMs, 15 s). */
  firstFrameTimeoutMs?: number;
  /** Delays between restarts (default 100 ms doubling to 5 s; reset by a delivered frame). */
  restartBackoff?: Partial<BackoffOptions>;
  logger?: CaptureLogger;
  signal: AbortSignal;
}

/** Why runCapture returned: the source ended (a file played once) or the signal aborted. */
export type CaptureEnd = 'source-ended' | 'aborted';

const STALLED = Symbol('stalled');

/** The next result of `iterator`, or STALLED when none comes within `ms`. */
async function nextWithin<T>(iterator: AsyncIterator<T>, ms: number): Promise<IteratorResult<T> | typeof STALLED> {
  const next = iterator.next();
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<typeof STALLED>((resolve) => (timer = setTimeout(() => resolve(STALLED), ms)));
  try {
    const result = await Promise.race([next, stalled]);
    // The abandoned next() settles when the source is aborted; its outcome no longer matters.
    if (result === STALLED) next.catch(() => undefined);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

/** Closes an iterator within a bound (its pending next() must settle first). */
async function closeWithin(iterator: AsyncIterator<unknown>, ms: number, logger: CaptureLogger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const closed = Promise.resolve(iterator.return?.()).then(
    () => 'closed' as const,
    () => 'closed' as const,
  );
  if ((await Promise.race([closed, timedOut])) === 'timeout') {
    logger.warn({ message: 'source did not close in time', timeoutMs: ms }, 'CaptureLoop');
  }
  clearTimeout(timer);
}

/**
 * Runs the source until it ends or `signal` aborts. A source that throws or stays silent longer
 * than the watchdog is closed (aborting its own signal, which kills ffmpeg) and opened again after
 * a backoff delay; each restart counts in stats.sourceRestarts.
 */
export async function runCapture(options: RunCaptureOptions): Promise<CaptureEnd> {
  const { source, onFrame, stats, signal } = options;
  const logger = options.logger ?? silentLogger;
  const watchdogMs = options.watchdogMs ?? DEFAULT_WATCHDOG_MS;
  const firstFrameTimeoutMs = options.firstFrameTimeoutMs ?? Math.max(watchdogMs, FIRST_FRAME_TIMEOUT_MS);
  const backoff = new Backoff(options.restartBackoff);
  while (!signal.aborted) {
    const run = new AbortController();
    const stopRun = (): void => run.abort(signal.reason);
    signal.addEventListener('abort', stopRun, { once: true });
    const iterator = source.frames(run.signal)[Symbol.asyncIterator]();
    let framesThisRun = 0;
    let reason: string | undefined;
    try {
      for (;;) {
        const result = await nextWithin(iterator, framesThisRun === 0 ? firstFrameTimeoutMs : watchdogMs);
        if (result === STALLED) {
          reason = `no frame for ${framesThisRun === 0 ? firstFrameTimeoutMs : watchdogMs} ms`;
          break;
        }
        if (result.done) {
          logger.log({ message: 'source ended', source: source.description, frames: framesThisRun }, 'CaptureLoop');
          return 'source-ended';
        }
        if (framesThisRun++ === 0) backoff.reset();
        stats.framesCaptured++;
        onFrame(result.value);
      }
    } catch (err) {
      if (signal.aborted) break;
      const e = err as Error & { code?: string };
      reason = e.message;
      logger.error({ message: 'source failed', source: source.description, code: e.code, error: e.message }, undefined, 'CaptureLoop');
    } finally {
      signal.removeEventListener('abort', stopRun);
      run.abort(new Error(reason ?? 'capture stopped'));
      await closeWithin(iterator, SOURCE_CLOSE_TIMEOUT_MS, logger);
    }
    if (signal.aborted) break;
    stats.sourceRestarts++;
    const delayMs = backoff.next();
    logger.warn(
      { message: 'restarting source', source: source.description, reason, restarts: stats.sourceRestarts, delayMs },
      'CaptureLoop',
    );
    await sleep(delayMs, signal).catch(() => undefined);
  }
  return 'aborted';
}
