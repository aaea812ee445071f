// Wiring of the supplier service.
import { DynamicModule, LoggerService, Module } from '@nestjs/common';
import { grpcServerProvider } from '@framewire/service';
import { SupplierConfig } from './config';

export const SUPPLIER_CONFIG = Symbol('SupplierConfig');

@Module({})
export class SupplierModule {
  static forRoot(config: SupplierConfig, logger: LoggerService): DynamicModule {
    return {
      module: SupplierModule,
      providers: [{ provide: SUPPLIER_CONFIG, useValue: config }, grpcServerProvider(config, logger)],
    };
  }
}
