// The running worker as a Nest provider: on boot it starts the worker (runWorker of @framewire/worker:
// frame loop, analyzers, result publisher, command listener) from the configuration; on shutdown it
// stops it within the budget. Its gRPC health follows the worker's: NOT_SERVING while the supplier
// refuses it.
import { BeforeApplicationShutdown, Inject, Injectable, LoggerService, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { GrpcTransport, SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import { runWorker, WorkerHandle } from '@framewire/worker';
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

  onApplicationBootstrap(): void {
    const { config } = this;
    this.worker = runWorker({
      workerId: config.workerId,
      supplierAddress: config.supplierAddress,
      gatewayAddress: config.gatewayAddress,
      analyzers: config.analyzers,
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
