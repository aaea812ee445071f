// Wiring of the worker service.
import { DynamicModule, LoggerService, Module } from '@nestjs/common';
import { grpcServerProvider } from '@framewire/service';
import { WorkerConfig } from './config';

export const WORKER_CONFIG = Symbol('WorkerConfig');

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerConfig, logger: LoggerService): DynamicModule {
    return {
      module: WorkerModule,
      providers: [{ provide: WORKER_CONFIG, useValue: config }, grpcServerProvider(config, logger)],
    };
  }
}
