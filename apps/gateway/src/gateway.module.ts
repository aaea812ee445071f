// Wiring of the gateway service.
import { DynamicModule, LoggerService, Module } from '@nestjs/common';
import { grpcServerProvider } from '@framewire/service';
import { GatewayConfig } from './config';

export const GATEWAY_CONFIG = Symbol('GatewayConfig');

@Module({})
export class GatewayModule {
  static forRoot(config: GatewayConfig, logger: LoggerService): DynamicModule {
    return {
      module: GatewayModule,
      providers: [{ provide: GATEWAY_CONFIG, useValue: config }, grpcServerProvider(config, logger)],
    };
  }
}
