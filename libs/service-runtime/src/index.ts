// Public entry point of @framewire/service-runtime: what every framewire service process shares —
// configuration from the environment, logging, the gRPC server with health and reflection, and
// a bounded graceful shutdown.
export { ConfigError, integerVariable, portVariable, readEnvironment, serviceConfigFrom, serviceEnvironment, type ServiceConfig } from './config';
export { limitHttpServer, type ConnectionLimits } from './connection-limits';
export { createServiceLogger } from './logging';
export { GrpcServerHost } from './grpc-server';
export { GrpcTransport } from './grpc-transport';
export { GrpcBearerTokenGuard } from './grpc-token.guard';
export { SERVICE_CONFIG, SERVICE_LOGGER, ServiceRuntimeModule } from './service-module';
export { answerMalformedRequestsWithJson, refusalOfRequest, refusalResponse, type HttpRefusal } from './http-request-errors';
export { jsonNestingDepth, refuseDeepJson } from './json-depth';
export { runServiceProcess, startService, type RunningService, type ServiceDefinition } from './run-service';
export { Secret, secretText, secretTextVariable, shownInErrorsAs } from './secret';
export { bearerTokenProblem, unauthenticatedError, type SecurityConfig } from './security';
