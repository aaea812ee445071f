// Wiring of the worker service: its gRPC server (health, reflection) and the running worker, which
// sets that server's health.
import { DynamicModule, LoggerService, Module } from '@nestjs/common';
import { GrpcServerHost, grpcServerProvider } from '@framewire/service';
import { WorkerConfig } from './config';
import { WorkerRuntime } from './worker-runtime';

export const WORKER_CONFIG = Symbol('WorkerConfig');

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerConfig, logger: LoggerService): DynamicModule {
    return {
      module: WorkerModule,
      providers: [
        { provide: WORKER_CONFIG, useValue: config },
        grpcServerProvider(config, logger),
        { provide: WorkerRuntime, useFactory: (grpcHost: GrpcServerHost) => new WorkerRuntime(config, logger, grpcHost), inject: [GrpcServerHost] },
      ],
    };
  }
}
