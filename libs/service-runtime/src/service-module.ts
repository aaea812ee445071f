// What every framewire service's Nest application provides to all its modules: its configuration
// (read once at start-up), its logger and its gRPC transport, under the tokens below.
import { DynamicModule, Global, LoggerService, Module } from '@nestjs/common';
import type { ServiceConfig } from './config';
import { GrpcTransport } from './grpc-transport';

/** The service's configuration object (the app's own type, e.g. SupplierConfig): inject it with
 *  `@Inject(SERVICE_CONFIG) config: SupplierConfig`. */
export const SERVICE_CONFIG = Symbol('SERVICE_CONFIG');
/** The service's structured logger (LoggerService). */
export const SERVICE_LOGGER = Symbol('SERVICE_LOGGER');

/** Global: configuration, logger and the GrpcTransport (its health, its stop signal), for every module. */
@Global()
@Module({})
export class ServiceRuntimeModule {
  static forRoot(config: ServiceConfig, logger: LoggerService, transport: GrpcTransport): DynamicModule {
    const providers = [
      { provide: SERVICE_CONFIG, useValue: config },
      { provide: SERVICE_LOGGER, useValue: logger },
      { provide: GrpcTransport, useValue: transport },
    ];
    return { module: ServiceRuntimeModule, providers, exports: providers.map((p) => p.provide) };
  }
}
