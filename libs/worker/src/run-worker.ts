// runWorker: a whole framewire worker as one call, for the worker app and for users' own workers.
// It subscribes to the supplier (Pull with credits; a pool member may take batches), decodes the
// frames (shared memory on the supplier's host), runs the analyzers (built-in by name, or the
// caller's, possibly asynchronous), publishes the results through the bounded reconnecting
// ResultPublisher, answers commands (worker.set_analyzer, worker.set_fps) and stops within a bound.
import { Analyzer, AnalyzerInput, AnalyzerOutputs, createAnalyzers, DEFAULT_JPEG_DECODER, JpegDecoderName, StreamPipelines } from '@framewire/analysis';
import { CommandListener, listenForCommands } from '@framewire/commands';
import { DEFAULT_MAX_BATCH_FRAMES, newInstanceId, PoolMode, subscribeFrames } from '@framewire/frame-client';
import { channelCredentials, channelOptions, ClientSecurity, RevealableSecret, tokenMetadata } from '@framewire/grpc-client';
import { createFrameLoopStats, FrameLoopStats, runFrameLoop, SubscriptionState } from './frame-loop';
import { FramePacer } from './frame-pacer';
import { PublisherLogger, ResultPublisher, ResultPublisherStats } from './result-publisher';
import { workerCommandHandlers } from './worker-commands';

/** Counters are logged at debug level this often. */
export const STATS_LOG_INTERVAL_MS = 10_000;
/** Default bound on stop(): the frame in hand, flushing results, closing the command listener. */
export const DEFAULT_WORKER_STOP_TIMEOUT_MS = 5_000;
/** Share of the stop budget the frame loop gets to finish its frame (an analysis still running
 *  then is abandoned: its results are dropped, counted by the publisher). */
const LOOP_STOP_SHARE = 0.3;
/** Share of the stop budget for flushing results and ending the call. */
const PUBLISHER_STOP_SHARE = 0.3;
/** Analysis width when none is given: the worker app's FW_WORKER_ANALYSIS_WIDTH default. */
export const DEFAULT_WORKER_ANALYSIS_WIDTH = 320;
/** The name runWorker gives an `analyze` function passed alone. */
export const ANALYZE_FUNCTION_NAME = 'analyze';
const CONTEXT = 'Worker';

/** An analyzer as runWorker takes it: a built-in's name ("motion", "tracks", "keypoints"), a factory
 *  called once per stream (state never crosses streams), or an instance shared by every stream. */
export type AnalyzerSource = string | Analyzer | (() => Analyzer);

/** The pool a worker is a member of (docs/supplier.md "Worker pools"). */
export interface WorkerPool {
  id: string;
  mode: PoolMode;
  /** The streams it serves, or every stream of the supplier. */
  streams: readonly string[] | 'all';
}

export interface RunWorkerOptions {
  /** This worker's id at the supplier and the gateway (1-64 of A-Z a-z 0-9 . _ -). */
  workerId: string;
  /** host:port of the supplier and of the gateway. */
  supplierAddress: string;
  gatewayAddress: string;
  /** The analyzers, in pipeline order (each sees the outputs of those before it). */
  analyzers?: readonly AnalyzerSource[];
  /** Shorthand for one analyzer named "analyze" (after `analyzers` when both are given). */
  analyze?: (input: AnalyzerInput) => AnalyzerOutputs | Promise<AnalyzerOutputs>;
  /** The stream of a broadcast worker (default "cam-1"); ignored for a pool member. */
  streamId?: string;
  /** Join this pool instead of taking every frame of one stream. */
  pool?: WorkerPool;
  /** Pool members: frames asked for at once and analysed together (analyzeBatch); default 1. */
  batch?: number;
  /** Target frames per second, 0 = as fast as frames come (default 0). */
  fps?: number;
  /** Ask for shared-memory references on the supplier's host (default true). */
  sharedMemory?: boolean;
  /** Maximum width of the analysed image (default 320). */
  analysisWidth?: number;
  decoder?: JpegDecoderName;
  /** Bounds of the outgoing result queue (defaults: ResultPublisher's). */
  resultQueue?: number;
  resultQueueBytes?: number;
  /** Streams whose analyzer state it keeps, and how long an unseen stream keeps it. */
  maxStreams?: number;
  streamIdleMs?: number;
  /** The shared token (sent as a bearer token, never logged) and TLS to the servers. */
  token?: string | RevealableSecret;
  tls?: ClientSecurity['clientTls'];
  /** Aborting stops the worker (as stop()). */
  signal?: AbortSignal;
  /** Bound on stop() (default DEFAULT_WORKER_STOP_TIMEOUT_MS). */
  stopTimeoutMs?: number;
  /** Default: console (log, warn, error; no debug). */
  logger?: PublisherLogger;
  /** Called when the worker's health changes (the worker app sets its gRPC health from it). */
  onHealth?: (health: WorkerHealth) => void;
}

export type WorkerHealth = 'SERVING' | 'NOT_SERVING';

export interface WorkerStats extends FrameLoopStats {
  publisher: ResultPublisherStats;
  commands: CommandListener['stats'];
  fps: number;
  /** The streams whose analyzer state it keeps now. */
  streamsWithState: string[];
}

/** A running worker. */
export interface WorkerHandle {
  readonly workerId: string;
  /** One analysis pipeline per stream it receives (commands configure all of them). */
  readonly pipelines: StreamPipelines;
  readonly pacer: FramePacer;
  /** A snapshot of its counters. */
  stats(): WorkerStats;
  health(): WorkerHealth;
  /** Stops within the bound: ends the frame loop after the frame in hand, flushes results, closes
   *  the command listener. Idempotent. */
  stop(): Promise<void>;
}

/** The worker's health in each subscription state: it serves while it gets frames or waits for the
 *  first, and not while its id is taken, it is refused, or the subscription fails. */
export function servingStatusOf(state: SubscriptionState): WorkerHealth {
  return state === 'starting' || state === 'receiving' ? 'SERVING' : 'NOT_SERVING';
}

/** What the worker subscribes to, as its log lines say it: its stream, or its pool, mode and streams. */
export function describeSubscription(options: { streamId?: string; pool?: WorkerPool }): { streamId: string } | { pool: string; poolMode: string; streams: string } {
  const { pool } = options;
  if (pool === undefined) return { streamId: options.streamId ?? DEFAULT_STREAM_ID };
  return { pool: pool.id, poolMode: pool.mode, streams: pool.streams === 'all' ? 'all' : pool.streams.join(',') };
}

const DEFAULT_STREAM_ID = 'cam-1';
const consoleLogger: PublisherLogger = {
  log: (message, context) => console.log(context ?? CONTEXT, message),
  warn: (message, context) => console.warn(context ?? CONTEXT, message),
  error: (message, stack, context) => console.error(context ?? CONTEXT, message, stack ?? ''),
};

/** A worker option that cannot work: names the option and the value. */
export class WorkerOptionsError extends Error {
  readonly code = 'WORKER_OPTIONS_INVALID';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`runWorker ${option}: ${message}`);
    this.name = 'WorkerOptionsError';
  }
}

/** Starts a worker; it runs until stop() or the signal. Throws WorkerOptionsError (or the analysis
 *  library's errors for unknown built-in names) at once when the options cannot work. */
export function runWorker(options: RunWorkerOptions): WorkerHandle {
  const logger = options.logger ?? consoleLogger;
  const sources: AnalyzerSource[] = [...(options.analyzers ?? [])];
  if (options.analyze !== undefined) sources.push({ name: ANALYZE_FUNCTION_NAME, analyze: options.analyze });
  if (sources.length === 0) throw new WorkerOptionsError('analyzers', 'no analyzer: give `analyzers` (names or analyzers) or `analyze`');
  const batch = options.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1 || batch > DEFAULT_MAX_BATCH_FRAMES) {
    throw new WorkerOptionsError('batch', `must be an integer 1..${DEFAULT_MAX_BATCH_FRAMES}, got ${String(batch)}`);
  }
  if (batch > 1 && options.pool === undefined) throw new WorkerOptionsError('batch', `a batch of ${batch} needs a pool (a broadcast worker gets one frame at a time)`);
  const pipelines = new StreamPipelines({
    analyzers: sources.map((s, i) => (typeof s === 'string' ? s : `#${i}`)),
    createAnalyzers: () => sources.map(analyzerOf),
    maxStreams: options.maxStreams,
    idleMs: options.streamIdleMs,
  });
  const pacer = new FramePacer(options.fps ?? 0);
  const token = typeof options.token === 'string' ? secret(options.token) : options.token;
  const security: ClientSecurity = { token, clientTls: options.tls };
  const credentials = (): ReturnType<typeof channelCredentials> => channelCredentials(security);
  const publisher = new ResultPublisher({
    address: options.gatewayAddress,
    credentials: credentials(),
    channelOptions: channelOptions(security),
    metadata: tokenMetadata(token),
    maxQueued: options.resultQueue,
    maxQueuedBytes: options.resultQueueBytes,
    logger,
  });
  const stats = createFrameLoopStats();
  const stopLoop = new AbortController();
  let health: WorkerHealth = 'SERVING';
  publisher.start();
  const listener: CommandListener = listenForCommands({
    address: options.gatewayAddress,
    serviceId: options.workerId,
    // Commands to the pool reach every member.
    poolId: options.pool?.id,
    handlers: workerCommandHandlers(pipelines, pacer),
    credentials: credentials(),
    channelOptions: channelOptions(security),
    metadata: tokenMetadata(token),
    logger,
  });
  const instanceId = newInstanceId();
  const loop = runFrameLoop({
    subscribe: (signal) =>
      subscribeFrames({
        address: options.supplierAddress,
        workerId: options.workerId,
        instanceId,
        ...(options.pool === undefined ? { streamId: options.streamId ?? DEFAULT_STREAM_ID } : { pool: options.pool }),
        mode: 'pull',
        preferSharedMemory: options.sharedMemory ?? true,
        // Decoding copies the pixels out; the frame loop checks stillValid() afterwards.
        sharedMemoryAccess: 'view',
        credentials: credentials(),
        channelOptions: channelOptions(security),
        metadata: tokenMetadata(token),
        signal,
      }),
    pipelines,
    pacer,
    publish: (result) => publisher.publish(result),
    workerId: options.workerId,
    analysisWidth: options.analysisWidth ?? DEFAULT_WORKER_ANALYSIS_WIDTH,
    decoder: options.decoder ?? DEFAULT_JPEG_DECODER,
    batch,
    signal: stopLoop.signal,
    logger,
    stats,
    onSubscriptionState: (state) => {
      // Stopping: the worker no longer serves, whatever the subscription does meanwhile.
      if (stopLoop.signal.aborted) return;
      const next = servingStatusOf(state);
      if (next === health) return;
      health = next;
      options.onHealth?.(next);
    },
  }).catch((err: Error) => logger.error({ message: 'frame loop failed', error: err.message }, err.stack, CONTEXT));

  const snapshot = (): WorkerStats => ({
    ...stats,
    analysisErrorsByKind: { ...stats.analysisErrorsByKind },
    publisher: publisher.stats,
    commands: { ...listener.stats },
    fps: pacer.fps,
    streamsWithState: pipelines.streams,
  });
  const logStats = (level: 'debug' | 'log'): void => {
    const fields = { message: 'worker counters', ...snapshot(), ...describeSubscription(options), streamStates: pipelines.stats };
    if (level === 'log') logger.log(fields, CONTEXT);
    else logger.debug?.(fields, CONTEXT);
  };
  const statsTimer = setInterval(() => logStats('debug'), STATS_LOG_INTERVAL_MS);
  statsTimer.unref();

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const budget = options.stopTimeoutMs ?? DEFAULT_WORKER_STOP_TIMEOUT_MS;
      clearInterval(statsTimer);
      options.signal?.removeEventListener('abort', onAbort);
      stopLoop.abort();
      // Not reported through onHealth: the caller is stopping the worker and knows.
      health = 'NOT_SERVING';
      await bounded(loop, budget * LOOP_STOP_SHARE);
      await publisher.close(budget * PUBLISHER_STOP_SHARE);
      await listener.close();
      logStats('log');
    })();
    return stopping;
  };
  const onAbort = (): void => void stop();
  if (options.signal?.aborted) void stop();
  else options.signal?.addEventListener('abort', onAbort, { once: true });

  if (options.pool?.mode === 'shared' && pipelines.names.includes('tracks')) {
    logger.log(
      { message: 'tracks in a shared pool: this member tracks the frames of a stream it gets, with track ids of its own; a sticky pool keeps each stream with one member', pool: options.pool.id },
      CONTEXT,
    );
  }
  logger.log(
    {
      message: 'worker started',
      workerId: options.workerId,
      ...describeSubscription(options),
      analyzers: pipelines.names,
      supplier: options.supplierAddress,
      gateway: options.gatewayAddress,
      fps: pacer.fps,
      ...(batch > 1 ? { batch } : {}),
    },
    CONTEXT,
  );
  return { workerId: options.workerId, pipelines, pacer, stats: snapshot, health: () => health, stop };
}

/** A fresh analyzer of one source: built-ins and factories make a new one per stream; an instance
 *  is shared. */
function analyzerOf(source: AnalyzerSource): Analyzer {
  if (typeof source === 'string') return createAnalyzers([source])[0];
  if (typeof source === 'function') return source();
  return source;
}

/** A token given as a plain string, kept out of log lines and errors. */
function secret(value: string): RevealableSecret {
  return { reveal: () => value, toString: () => '[token]', toJSON: () => '[token]' } as RevealableSecret;
}

/** Waits for `work` at most `ms`. */
async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
