// The running worker as a Nest provider: on boot it starts the result publisher, the command
// listener and the frame loop; on shutdown it stops them in that order's reverse within the budget
// (frame loop first, then flush and end the PublishResults call, then the listener and channels).
// Its gRPC health follows the frame subscription: NOT_SERVING while the supplier refuses it. A pool
// member keeps analyzer state per stream and serves while it waits for frames the pool gives it.
import { BeforeApplicationShutdown, Inject, Injectable, LoggerService, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { StreamPipelines } from '@framewire/analysis';
import { CommandListener, listenForCommands } from '@framewire/commands';
import { newInstanceId, subscribeFrames } from '@framewire/frame-client';
import { channelCredentials, channelOptions, tokenMetadata } from '@framewire/grpc-client';
import { GrpcTransport, SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import { WorkerConfig } from './config';
import { createFrameLoopStats, FrameLoopStats, runFrameLoop, SubscriptionState } from './frame-loop';
import { FramePacer, ResultPublisher } from '@framewire/worker';
import { workerCommandHandlers } from './worker-commands';

/** Counters are logged at debug level this often. */
export const STATS_LOG_INTERVAL_MS = 10_000;
/** Share of the shutdown budget the frame loop gets to finish its frame. */
const LOOP_STOP_SHARE = 0.3;
/** Share of the shutdown budget for flushing results and ending the call. */
const PUBLISHER_STOP_SHARE = 0.3;
const CONTEXT = 'Worker';

/** The worker's health in each subscription state: it serves while it gets frames or waits for the
 *  first, and not while its id is taken, it is refused, or the subscription fails. */
export function servingStatusOf(state: SubscriptionState): 'SERVING' | 'NOT_SERVING' {
  return state === 'starting' || state === 'receiving' ? 'SERVING' : 'NOT_SERVING';
}

@Injectable()
export class WorkerRuntime implements OnApplicationBootstrap, BeforeApplicationShutdown {
  /** One analysis pipeline per stream it receives. */
  readonly pipelines: StreamPipelines;
  readonly pacer: FramePacer;
  readonly publisher: ResultPublisher;
  readonly stats: FrameLoopStats = createFrameLoopStats();
  /** This process's key at the supplier (SubscribeRequest.instance_id): the same on every
   *  subscription it opens, never logged. */
  private readonly instanceId = newInstanceId();
  private readonly stopLoop = new AbortController();
  private loop: Promise<void> | undefined;
  private listener: CommandListener | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: WorkerConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: LoggerService,
    /** Whose health follows the frame subscription (absent in tests that run the worker alone). */
    @Optional() private readonly grpcHost?: GrpcTransport,
  ) {
    this.pipelines = new StreamPipelines({ analyzers: config.analyzers, maxStreams: config.maxStreams, idleMs: config.streamIdleMs });
    this.pacer = new FramePacer(config.fps);
    const { security } = config;
    this.publisher = new ResultPublisher({
      address: config.gatewayAddress,
      credentials: channelCredentials(security),
      channelOptions: channelOptions(security),
      metadata: tokenMetadata(security.token),
      maxQueued: config.resultQueue,
      maxQueuedBytes: config.resultQueueBytes,
      logger,
    });
  }

  onApplicationBootstrap(): void {
    const { config, logger } = this;
    const { security } = config;
    this.publisher.start();
    // TODO(lead, i16-commands): pass config.pool?.id here, so that commands targeting the pool reach this member.
    this.listener = listenForCommands({
      address: config.gatewayAddress,
      serviceId: config.workerId,
      handlers: workerCommandHandlers(this.pipelines, this.pacer),
      credentials: channelCredentials(security),
      channelOptions: channelOptions(security),
      metadata: tokenMetadata(security.token),
      logger,
    });
    this.loop = runFrameLoop({
      subscribe: (signal) =>
        subscribeFrames({
          address: config.supplierAddress,
          workerId: config.workerId,
          instanceId: this.instanceId,
          ...(config.pool === undefined ? { streamId: config.streamId } : { pool: config.pool }),
          mode: 'pull',
          preferSharedMemory: config.preferSharedMemory,
          // Decoding copies the pixels out; the frame loop checks stillValid() afterwards.
          sharedMemoryAccess: 'view',
          credentials: channelCredentials(security),
          channelOptions: channelOptions(security),
          metadata: tokenMetadata(security.token),
          signal,
        }),
      pipelines: this.pipelines,
      pacer: this.pacer,
      publish: (result) => this.publisher.publish(result),
      workerId: config.workerId,
      analysisWidth: config.analysisWidth,
      decoder: config.decoder,
      signal: this.stopLoop.signal,
      logger,
      stats: this.stats,
      onSubscriptionState: (state) => {
        // Shutting down: the server reports NOT_SERVING already and must stay so.
        if (!this.stopLoop.signal.aborted) this.grpcHost?.setServing(servingStatusOf(state));
      },
    }).catch((err: Error) => logger.error({ message: 'frame loop failed', error: err.message }, err.stack, CONTEXT));
    if (config.pool?.mode === 'shared' && config.analyzers.includes('tracks')) {
      logger.log(
        { message: 'tracks in a shared pool: this member tracks the frames of a stream it gets, with track ids of its own; FW_WORKER_POOL_MODE=sticky keeps each stream with one member', pool: config.pool.id },
        CONTEXT,
      );
    }
    this.statsTimer = setInterval(() => this.logStats(), STATS_LOG_INTERVAL_MS);
    this.statsTimer.unref();
    logger.log(
      {
        message: 'worker started',
        workerId: config.workerId,
        ...describeSubscription(config),
        analyzers: this.pipelines.names,
        supplier: config.supplierAddress,
        gateway: config.gatewayAddress,
        fps: this.pacer.fps,
      },
      CONTEXT,
    );
  }

  beforeApplicationShutdown(): Promise<void> {
    this.stopping ??= (async () => {
      const budget = this.config.shutdownTimeoutMs;
      clearInterval(this.statsTimer);
      this.stopLoop.abort();
      await bounded(this.loop ?? Promise.resolve(), budget * LOOP_STOP_SHARE);
      await this.publisher.close(budget * PUBLISHER_STOP_SHARE);
      await this.listener?.close();
      this.logStats('log');
    })();
    return this.stopping;
  }

  private logStats(level: 'debug' | 'log' = 'debug'): void {
    const fields = {
      message: 'worker counters',
      ...this.stats,
      ...describeSubscription(this.config),
      streamsWithState: this.pipelines.streams,
      streamStates: this.pipelines.stats,
      publisher: this.publisher.stats,
      commands: this.listener?.stats,
      fps: this.pacer.fps,
    };
    if (level === 'log') this.logger.log(fields, CONTEXT);
    else this.logger.debug?.(fields, CONTEXT);
  }
}

/** What the worker subscribes to, as its log lines say it: its stream, or its pool, mode and streams. */
export function describeSubscription(config: Pick<WorkerConfig, 'streamId' | 'pool'>): { streamId: string } | { pool: string; poolMode: string; streams: string } {
  const { pool } = config;
  if (pool === undefined) return { streamId: config.streamId };
  return { pool: pool.id, poolMode: pool.mode, streams: pool.streams === 'all' ? 'all' : pool.streams.join(',') };
}

/** Waits for `work` at most `ms`. */
async function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}
