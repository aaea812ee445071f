// The worker's frame loop: wait for its turn (target fps), ask the supplier for the freshest frame
// (of its stream, or of any of its pool's streams; or a batch of a pool's frames), decode it, run
// that stream's analysis pipeline (awaiting asynchronous analyzers), and hand one Result per output
// kind to the publisher. Never waits on the gateway: publish() only queues. Never gives up on the supplier either: a refused or
// taken-over subscription is reported (state, log) and tried again with capped backoff.
import { AnalyzerFailedError, decodePixels, FrameDecodeError, JpegDecoderName, PipelineInput, StreamPipelines, UnsupportedPixelFormatError } from '@framewire/analysis';
import { Backoff, BackoffOptions } from '@framewire/grpc-client';
import { FrameSubscription, FrameSubscriptionRefusedError, FrameSubscriptionReplacedError, ReceivedFrame } from '@framewire/frame-client';
import { Result } from '@framewire/proto';
import { performance } from 'node:perf_hooks';
import { FramePacer } from './frame-pacer';
import { PublisherLogger } from './result-publisher';
import { resultsOf } from './results';

/** Waits before subscribing again after a subscription failed: 500 ms doubling to 5 s, each 50-100 %
 *  of its step. Below the supplier's holder silence bound (10 s), so a worker whose id was taken by
 *  a stranger that then fell silent gets it back within that bound plus one wait. */
export const RESUBSCRIBE_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 500, maxMs: 5_000 });
const CONTEXT = 'FrameLoop';

/**
 * Where the worker stands with the supplier: `starting` (no frame yet), `receiving`, `refused`
 * (another live instance holds its id, or a limit: ALREADY_EXISTS, RESOURCE_EXHAUSTED), `replaced`
 * (another instance took its id: ABORTED), `failing` (the subscription failed otherwise).
 */
export type SubscriptionState = 'starting' | 'receiving' | 'refused' | 'replaced' | 'failing';

export interface FrameLoopStats {
  /** Frames received from the supplier. */
  frames: number;
  /** Frames analysed whose results were published. */
  analysed: number;
  /** Frames missed at the supplier (sum of droppedSinceLast). */
  supplierDrops: number;
  /** Frames that could not be decoded (corrupt, unsupported pixel format). */
  decodeErrors: number;
  /** Frames on which an analyzer threw or rejected (every frame of a failed batch). */
  analysisErrors: number;
  /** analysisErrors by kind, `<analyzer>: <error name>`; the first of each kind is logged. */
  analysisErrorsByKind: Record<string, number>;
  /** Shared-memory frames overwritten while they were decoded (results discarded). */
  staleFrames: number;
  results: number;
  /** Decode + analysis time of the last analysed frame, microseconds. */
  lastProcessingUs: number;
  /** Age of the last frame when it was received, ms. */
  lastAgeMs: number;
  subscription: SubscriptionState;
  /** Subscriptions refused or taken over by another instance. */
  refusals: number;
  /** The supplier's message of the last refusal or takeover ('' before any). */
  lastRefusal: string;
}

export function createFrameLoopStats(): FrameLoopStats {
  return {
    frames: 0,
    analysed: 0,
    supplierDrops: 0,
    decodeErrors: 0,
    analysisErrors: 0,
    analysisErrorsByKind: {},
    staleFrames: 0,
    results: 0,
    lastProcessingUs: 0,
    lastAgeMs: Number.NaN,
    subscription: 'starting',
    refusals: 0,
    lastRefusal: '',
  };
}

export interface FrameLoopOptions {
  /** Opens a subscription to the supplier (again after one ended in an error). */
  subscribe: (signal: AbortSignal) => FrameSubscription;
  /** The analysis pipeline of each stream (state never crosses streams). */
  pipelines: StreamPipelines;
  pacer: FramePacer;
  publish: (result: Result) => void;
  workerId: string;
  analysisWidth: number;
  decoder?: JpegDecoderName;
  /** Aborting ends the loop after the frame in hand. */
  signal: AbortSignal;
  logger: PublisherLogger;
  stats?: FrameLoopStats;
  /** Wall clock in microseconds since the Unix epoch (tests may pass their own). */
  clockUs?: () => number;
  /** Called when stats.subscription changes (the runtime turns it into the worker's health). */
  onSubscriptionState?: (state: SubscriptionState) => void;
  /** Pool members: frames asked for at once (nextBatch(batch)) and analysed together; default 1. */
  batch?: number;
  /** Backoff between subscriptions (default RESUBSCRIBE_BACKOFF). */
  resubscribeBackoff?: Partial<BackoffOptions>;
}

const wallClockUs = (): number => (performance.timeOrigin + performance.now()) * 1000;

/** A received frame decoded for its stream's pipeline. */
interface DecodedReceived {
  received: ReceivedFrame;
  input: PipelineInput;
}

/** Decodes one received frame for analysis; undefined when it is skipped (undecodable, or its
 *  shared-memory bytes were overwritten meanwhile), counted in stats. */
async function decodeReceived(received: ReceivedFrame, options: FrameLoopOptions, stats: FrameLoopStats): Promise<DecodedReceived | undefined> {
  const { frame } = received;
  let decoded;
  try {
    decoded = await decodePixels(frame.data ?? new Uint8Array(0), frame, { maxWidth: options.analysisWidth, decoder: options.decoder });
  } catch (err) {
    if (!(err instanceof FrameDecodeError || err instanceof UnsupportedPixelFormatError)) throw err;
    // Bytes that do not decode because the writer rewrote the ring slot under the decoder are a
    // dropped frame, not a corrupt one.
    if (!received.stillValid()) {
      stats.staleFrames++;
      return undefined;
    }
    if (stats.decodeErrors++ === 0) {
      options.logger.warn({ message: 'frame skipped: cannot decode (further ones are counted)', sequence: frame.sequence, error: err.message }, CONTEXT);
    }
    return undefined;
  }
  // A view into the ring may have been rewritten while it was decoded: its pixels are not this frame's.
  if (!received.stillValid()) {
    stats.staleFrames++;
    return undefined;
  }
  const input: PipelineInput = {
    streamId: frame.streamId,
    frameSequence: frame.sequence,
    captureTimeUs: frame.captureTimeUs,
    frameWidth: decoded.frameWidth,
    frameHeight: decoded.frameHeight,
    image: decoded.image,
    scale: decoded.scale,
  };
  return { received, input };
}

/** Counts a failed analysis; the first failure of each kind (analyzer and error name) is logged,
 *  the rest counted. Anything but an analyzer's failure is a bug of the worker: thrown on. */
function countAnalysisFailure(err: unknown, frames: readonly DecodedReceived[], options: FrameLoopOptions, stats: FrameLoopStats): void {
  if (!(err instanceof AnalyzerFailedError)) throw err;
  stats.analysisErrors += frames.length;
  const cause = err.cause instanceof Error ? err.cause : undefined;
  const kind = `${err.analyzer}: ${cause?.name ?? typeof err.cause}`;
  const seen = stats.analysisErrorsByKind[kind] ?? 0;
  stats.analysisErrorsByKind[kind] = seen + frames.length;
  if (seen === 0) {
    options.logger.error(
      { message: 'analysis failed (further failures of this kind are counted)', analyzer: err.analyzer, kind, sequence: frames[0].input.frameSequence, error: err.message },
      cause?.stack,
      CONTEXT,
    );
  }
}

/**
 * Decodes and analyses received frames (one, or a pool's batch of distinct streams, analysed
 * together: StreamPipelines.runBatch); each frame's results share one envelope. Frames skipped
 * (undecodable, overwritten in shared memory, or an analyzer failed on them) give no results,
 * counted in stats.
 */
export async function analyseFrames(frames: readonly ReceivedFrame[], options: FrameLoopOptions, stats: FrameLoopStats): Promise<Result[][]> {
  const started = performance.now();
  const decoded: DecodedReceived[] = [];
  for (const received of frames) {
    const d = await decodeReceived(received, options, stats);
    if (d !== undefined) decoded.push(d);
  }
  if (decoded.length === 0) return [];
  let outputs;
  try {
    outputs =
      decoded.length === 1
        ? [await options.pipelines.run(decoded[0].input.streamId, decoded[0].input, performance.now())]
        : await options.pipelines.runBatch(
            decoded.map((d) => d.input),
            performance.now(),
          );
  } catch (err) {
    countAnalysisFailure(err, decoded, options, stats);
    return [];
  }
  const processingUs = (performance.now() - started) * 1000;
  stats.lastProcessingUs = Math.round(processingUs);
  const publishedTimeUs = (options.clockUs ?? wallClockUs)();
  return outputs.map((out, i) =>
    resultsOf(out, {
      streamId: decoded[i].input.streamId,
      frameSequence: decoded[i].input.frameSequence,
      captureTimeUs: decoded[i].input.captureTimeUs,
      workerId: options.workerId,
      processingUs,
      publishedTimeUs,
    }),
  );
}

/** analyseFrames of one frame: its results, or undefined when it was skipped. */
export async function analyseFrame(received: ReceivedFrame, options: FrameLoopOptions, stats: FrameLoopStats): Promise<Result[] | undefined> {
  return (await analyseFrames([received], options, stats))[0];
}

/** The next frames the loop analyses: a batch of up to `batch` for a pool member that asks for one,
 *  else one. Resolves undefined when the subscription ended (aborted). */
async function nextFrames(frames: FrameSubscription, batch: number): Promise<ReceivedFrame[] | undefined> {
  if (batch > 1) {
    const next = await frames.nextBatch(batch);
    return next.done ? undefined : next.value;
  }
  const next = await frames.next();
  return next.done ? undefined : [next.value];
}

/** Runs until the signal aborts; a subscription that fails, is refused or is taken over is opened
 *  again after a backoff (reset by the next frame received). */
export async function runFrameLoop(options: FrameLoopOptions): Promise<void> {
  const { signal, pacer, logger } = options;
  const stats = options.stats ?? createFrameLoopStats();
  const backoff = new Backoff({ ...RESUBSCRIBE_BACKOFF, ...options.resubscribeBackoff });
  const enter = (state: SubscriptionState): void => {
    if (stats.subscription === state) return;
    stats.subscription = state;
    options.onSubscriptionState?.(state);
  };
  while (!signal.aborted) {
    const frames = options.subscribe(signal);
    try {
      for (;;) {
        if (!(await pacer.waitForTurn(signal))) return;
        pacer.asked(performance.now());
        const received = await nextFrames(frames, options.batch ?? 1);
        if (received === undefined) return; // aborted
        if (stats.subscription !== 'receiving') {
          if (stats.subscription !== 'starting') logger.log({ message: 'frames flow again', refusals: stats.refusals }, CONTEXT);
          enter('receiving');
          backoff.reset();
        }
        for (const r of received) {
          stats.frames++;
          stats.supplierDrops += r.droppedSinceLast;
          stats.lastAgeMs = r.ageAtDeliveryMs;
        }
        for (const results of await analyseFrames(received, options, stats)) {
          stats.analysed++;
          for (const result of results) options.publish(result);
          stats.results += results.length;
        }
      }
    } catch (err) {
      const retryInMs = backoff.next();
      if (err instanceof FrameSubscriptionReplacedError || err instanceof FrameSubscriptionRefusedError) {
        const state = err instanceof FrameSubscriptionReplacedError ? 'replaced' : 'refused';
        stats.refusals++;
        stats.lastRefusal = err.details;
        // Logged when it starts; the retries of one episode are counted, not logged.
        if (stats.subscription !== state) {
          logger.error(
            {
              message: state === 'replaced' ? 'another instance took this worker id at the supplier; subscribing again' : 'the supplier refused this worker; subscribing again',
              error: err.message,
              retryInMs,
            },
            undefined,
            CONTEXT,
          );
        }
        enter(state);
      } else {
        logger.error({ message: 'frame subscription failed; subscribing again', error: (err as Error).message, retryInMs }, undefined, CONTEXT);
        enter('failing');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, retryInMs);
        signal.addEventListener('abort', done, { once: true });
        function done(): void {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          resolve();
        }
      });
    } finally {
      frames.close();
    }
  }
}
