// Wiring of the capture service: its gRPC server (health, reflection) and the capture loop.
import { DynamicModule, LoggerService, Module } from '@nestjs/common';
import { grpcServerProvider } from '@framewire/service';
import { CaptureRunner } from './capture-runner';
import { CaptureConfig } from './config';

export const CAPTURE_CONFIG = Symbol('CaptureConfig');

@Module({})
export class CaptureModule {
  static forRoot(config: CaptureConfig, logger: LoggerService): DynamicModule {
    return {
      module: CaptureModule,
      providers: [
        { provide: CAPTURE_CONFIG, useValue: config },
        grpcServerProvider(config, logger),
        { provide: CaptureRunner, useFactory: () => new CaptureRunner(config, logger) },
      ],
    };
  }
}
