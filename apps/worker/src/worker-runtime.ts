// The running worker as a Nest provider: on boot it loads the analyzers the configuration names
// (built-ins, users' modules and packages; one that exports no analyzer fails the start) and starts
// the worker (runWorker of @framewire/worker: frame loop, analyzers, result publisher, command
// listener); on shutdown it stops it within the budget. Its gRPC health follows the worker's: NOT_SERVING while the supplier
// refuses it.
import { BeforeApplicationShutdown, Inject, Injectable, LoggerService, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { GrpcTransport, SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import { loadAnalyzerSources, runWorker, WorkerHandle } from '@framewire/worker';
import { WorkerConfig } from './config';

@Injectable()
export class WorkerRuntime implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private worker: WorkerHandle | undefined;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: WorkerConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: LoggerService,
    /** Whose health follows the worker's (absent in tests that run the worker alone). */
    @Optional() private readonly grpcHost?: GrpcTransport,
  ) {}

  /** The running worker (after boot). */
  get running(): WorkerHandle | undefined {
    return this.worker;
  }

  async onApplicationBootstrap(): Promise<void> {
    const { config } = this;
    const analyzers = await loadAnalyzerSources(config.analyzers, process.cwd());
    this.worker = runWorker({
      workerId: config.workerId,
      supplierAddress: config.supplierAddress,
      gatewayAddress: config.gatewayAddress,
      analyzers,
      ...(config.pool === undefined ? { streamId: config.streamId } : { pool: config.pool }),
      fps: config.fps,
      sharedMemory: config.preferSharedMemory,
      analysisWidth: config.analysisWidth,
      decoder: config.decoder,
      resultQueue: config.resultQueue,
      resultQueueBytes: config.resultQueueBytes,
      maxStreams: config.maxStreams,
      streamIdleMs: config.streamIdleMs,
      token: config.security.token,
      tls: config.security.clientTls,
      stopTimeoutMs: config.shutdownTimeoutMs,
      logger: this.logger,
      onHealth: (health) => this.grpcHost?.setServing(health),
    });
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.worker?.stop() ?? Promise.resolve();
  }
}
