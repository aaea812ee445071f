// The running worker as a Nest provider: on boot it starts the models of the model analyzers named
// (each once, shared by every stream; a missing or corrupt model file fails the start naming it),
// loads the other analyzers the configuration names (built-ins, users' modules and packages; one
// that exports no analyzer fails the start) and starts the worker (runWorker of @framewire/worker:
// frame loop, analyzers, result publisher, command listener); on shutdown it stops the worker
// within the budget, then the model threads. Its gRPC health follows the worker's: NOT_SERVING
// while the supplier refuses it.
import { BeforeApplicationShutdown, Inject, Injectable, LoggerService, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { GrpcTransport, SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import { ModelAnalyzers } from '@framewire/models';
import { loadAnalyzerSources, runWorker, WorkerHandle } from '@framewire/worker';
import { WorkerConfig } from './config';

@Injectable()
export class WorkerRuntime implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private worker: WorkerHandle | undefined;
  private models: ModelAnalyzers | undefined;

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
    // Before the first frame is asked for: a model that cannot load stops the start.
    const models = await ModelAnalyzers.start(config.analyzers, { modelsDir: config.modelsDir, backend: config.modelsBackend });
    this.models = models;
    for (const started of models.started) this.logger.log({ message: 'model loaded', ...started }, 'Models');
    try {
      this.worker = await this.startWorker(models);
    } catch (err) {
      await models.close();
      throw err;
    }
  }

  private async startWorker(models: ModelAnalyzers): Promise<WorkerHandle> {
    const { config } = this;
    const analyzers = await loadAnalyzerSources(config.analyzers, process.cwd(), models.factories);
    return runWorker({
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

  async beforeApplicationShutdown(): Promise<void> {
    await this.worker?.stop();
    // After the worker: no analysis waits on a model any more.
    await this.models?.close();
  }
}
