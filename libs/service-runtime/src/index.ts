// Public entry point of @framewire/service-runtime: what every framewire service process shares —
// configuration from the environment, logging, the gRPC server with health and reflection, and
// a bounded graceful shutdown.
export * from './config';
export * from './connection-limits';
export * from './logging';
export * from './grpc-server';
export * from './grpc-transport';
export * from './grpc-token.guard';
export * from './service-module';
export * from './http-request-errors';
export * from './json-depth';
export * from './run-service';
export * from './secret';
export * from './security';
