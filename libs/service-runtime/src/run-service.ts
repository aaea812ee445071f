// Starting and stopping a service: its Nest application (a microservice on the GrpcTransport, or an
// HTTP application with the transport connected), signals, bounded shutdown.
import { DynamicModule, INestApplicationContext, LoggerService, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { ConfigError, ServiceConfig } from './config';
import { limitHttpServer } from './connection-limits';
import { answerMalformedRequestsWithJson } from './http-request-errors';
import { DEFAULT_JSON_MAX_DEPTH, refuseDeepJson } from './json-depth';
import { DEFAULT_GRPC_DRAIN_TIMEOUT_MS, grpcServerHostOptions } from './grpc-server';
import { GrpcTransport, GrpcTransportOptions } from './grpc-transport';
import { createServiceLogger } from './logging';
import { ServiceRuntimeModule } from './service-module';

/** Exit codes a supervisor can act on. */
export const EXIT_CONFIG_INVALID = 78; // EX_CONFIG of sysexits.h
export const EXIT_SHUTDOWN_TIMEOUT = 1;
export const EXIT_STARTUP_FAILED = 1;

/** Where a service with an HTTP side listens; without it the service is an application context. */
export interface HttpListenOptions {
  host: string;
  /** 0 picks a free port (see RunningService.httpPort). */
  port: number;
  /** When set, request bodies are parsed as JSON only (no urlencoded), up to this many bytes and
   *  jsonMaxDepth levels of nesting; else Nest's default parsers (JSON and urlencoded, 100 KiB). */
  jsonBodyLimitBytes?: number;
  /** Deepest nesting of a JSON body (default DEFAULT_JSON_MAX_DEPTH); deeper is a 400 before parsing. */
  jsonMaxDepth?: number;
  /** Headers of the JSON answers to requests refused before any route sees them (e.g. security headers). */
  refusalHeaders?: Readonly<Record<string, string>>;
}

export interface RunningService {
  app: INestApplicationContext;
  /** The port the gRPC server listens on. */
  grpcPort: number;
  transport: GrpcTransport;
  /** The port the HTTP server listens on, when the service has one. */
  httpPort?: number;
  /** Stops the service within config.shutdownTimeoutMs; resolves true when it stopped in time. */
  stop(reason: string): Promise<boolean>;
}

/** What a service is to Nest: its root module, the gRPC services its controllers serve, and
 *  optionally an HTTP side. */
export interface ServiceDefinition<C extends ServiceConfig> {
  /** The service's own module (controllers, providers); SERVICE_CONFIG, SERVICE_LOGGER and the
   *  GrpcTransport are provided to it globally. */
  module: (config: C) => Type<unknown> | DynamicModule;
  /** The gRPC contracts the controllers implement, their .proto files (reflection) and any further
   *  grpc-js server options (message sizes). Health and reflection are always served. */
  grpc?: (config: C) => Pick<GrpcTransportOptions, 'services' | 'protoFiles' | 'serverOptions'>;
  /** Where the HTTP side listens; without it the service is a Nest microservice only. */
  http?: (config: C) => HttpListenOptions;
}

/** The transport of a service's gRPC port, from its configuration: listening address, TLS,
 *  connection bounds, and half the shutdown budget to drain calls. */
export function serviceTransport<C extends ServiceConfig>(config: C, definition: ServiceDefinition<C>, logger: LoggerService): GrpcTransport {
  const grpcOptions = definition.grpc?.(config) ?? { services: [], protoFiles: [] };
  return new GrpcTransport({
    ...grpcServerHostOptions(config),
    ...grpcOptions,
    logger,
    // Leave part of the shutdown budget to the rest of the service.
    drainTimeoutMs: Math.min(DEFAULT_GRPC_DRAIN_TIMEOUT_MS, Math.floor(config.shutdownTimeoutMs / 2)),
  });
}

/** Starts a service's Nest application: a microservice on its GrpcTransport, or with `http` an HTTP
 *  application with the transport connected, listening on `http.host:http.port`. */
export async function startService<C extends ServiceConfig>(config: C, definition: ServiceDefinition<C>, logger: LoggerService): Promise<RunningService> {
  const transport = serviceTransport(config, definition, logger);
  const root: DynamicModule = {
    module: ServiceRootModule,
    imports: [ServiceRuntimeModule.forRoot(config, logger, transport), definition.module(config)],
  };
  const http = definition.http?.(config);
  let app: INestApplicationContext;
  let httpPort: number | undefined;
  if (http === undefined) {
    const micro = await NestFactory.createMicroservice(root, { strategy: transport, logger, abortOnError: false });
    await micro.listen();
    app = micro;
  } else {
    // forceCloseConnections: keep-alive and upgraded sockets must not hold the bounded shutdown.
    const web = await NestFactory.create<NestExpressApplication>(root, {
      logger,
      abortOnError: false,
      forceCloseConnections: true,
      bodyParser: http.jsonBodyLimitBytes === undefined,
    });
    if (http.jsonBodyLimitBytes !== undefined) {
      web.useBodyParser('json', { limit: http.jsonBodyLimitBytes, verify: refuseDeepJson(http.jsonMaxDepth ?? DEFAULT_JSON_MAX_DEPTH) });
    }
    web.connectMicroservice({ strategy: transport }, { inheritAppConfig: true });
    app = web;
    limitHttpServer(web.getHttpServer(), config.connectionLimits);
    answerMalformedRequestsWithJson(web.getHttpServer(), http.refusalHeaders);
    await web.init();
    await web.startAllMicroservices();
    try {
      await web.listen(http.port, http.host);
    } catch (err) {
      await web.close().catch(() => undefined);
      throw new Error(`cannot listen for HTTP on ${http.host}:${http.port}: ${(err as Error).message}`);
    }
    httpPort = (web.getHttpServer().address() as AddressInfo).port;
    logger.log({ message: 'HTTP listening', address: `${http.host}:${httpPort}` }, 'Service');
  }
  let stopping: Promise<boolean> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      logger.log({ message: 'stopping', reason, timeoutMs: config.shutdownTimeoutMs }, 'Service');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), config.shutdownTimeoutMs)));
      const closed = app.close().then(() => true as const);
      const inTime = await Promise.race([closed, timedOut]);
      clearTimeout(timer);
      if (inTime) logger.log({ message: 'stopped', reason }, 'Service');
      else logger.error({ message: 'shutdown timed out', timeoutMs: config.shutdownTimeoutMs }, undefined, 'Service');
      return inTime;
    })();
    return stopping;
  };
  return { app, grpcPort: transport.server.port, transport, httpPort, stop };
}

/** The root of every service's application: the runtime module and the service's own. */
@Module({})
class ServiceRootModule {}

/**
 * The whole life of a service process: reads its configuration (a bad value exits with the
 * message and code 78), starts it, and on SIGTERM or SIGINT stops it within the configured bound.
 * A second signal exits at once.
 */
export async function runServiceProcess<C extends ServiceConfig>(
  loadConfig: () => C,
  definition: ServiceDefinition<C>,
): Promise<void> {
  let config: C;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(EXIT_CONFIG_INVALID);
    }
    throw err;
  }
  const logger = createServiceLogger(config.serviceName, config.logLevel, config.logFormat);
  logger.log({ message: 'configuration', config }, 'Service');
  // Signals are handled from before start-up: one that arrives while the service is starting
  // stops it as soon as it has started, instead of killing it half-initialised.
  let signalled: NodeJS.Signals | undefined;
  let running: RunningService | undefined;
  const stopAndExit = (service: RunningService, reason: string) =>
    void service.stop(reason).then((inTime) => process.exit(inTime ? 0 : EXIT_SHUTDOWN_TIMEOUT));
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ message: 'second signal, exiting now', signal }, 'Service');
      process.exit(EXIT_SHUTDOWN_TIMEOUT);
    }
    signalled = signal;
    if (running) stopAndExit(running, signal);
    else logger.log({ message: 'signal during start-up; stopping once started', signal }, 'Service');
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    running = await startService(config, definition, logger);
  } catch (err) {
    logger.error({ message: 'start-up failed', error: (err as Error).message }, (err as Error).stack, 'Service');
    process.exit(EXIT_STARTUP_FAILED);
  }
  if (signalled) stopAndExit(running, signalled);
}
