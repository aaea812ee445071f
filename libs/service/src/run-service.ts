// Starting and stopping a service: Nest application context (or HTTP application), signals,
// bounded shutdown.
import { DynamicModule, INestApplicationContext, LoggerService, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { ConfigError, ServiceConfig } from './config';
import { limitHttpServer } from './connection-limits';
import { answerMalformedRequestsWithJson } from './http-request-errors';
import { DEFAULT_JSON_MAX_DEPTH, refuseDeepJson } from './json-depth';
import { createServiceLogger } from './logging';

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
  /** The port the HTTP server listens on, when the service has one. */
  httpPort?: number;
  /** Stops the service within config.shutdownTimeoutMs; resolves true when it stopped in time. */
  stop(reason: string): Promise<boolean>;
}

/** Creates the Nest application context of `rootModule` (which starts its gRPC server on boot),
 *  or with `http` a Nest HTTP application listening on `http.host:http.port`. */
export async function startService(
  config: ServiceConfig,
  rootModule: Type<unknown> | DynamicModule,
  logger: LoggerService,
  http?: HttpListenOptions,
): Promise<RunningService> {
  let app: INestApplicationContext;
  let httpPort: number | undefined;
  if (http === undefined) {
    app = await NestFactory.createApplicationContext(rootModule, { logger, abortOnError: false });
    await app.init();
  } else {
    // forceCloseConnections: keep-alive and upgraded sockets must not hold the bounded shutdown.
    const web = await NestFactory.create<NestExpressApplication>(rootModule, {
      logger,
      abortOnError: false,
      forceCloseConnections: true,
      bodyParser: http.jsonBodyLimitBytes === undefined,
    });
    if (http.jsonBodyLimitBytes !== undefined) {
      web.useBodyParser('json', { limit: http.jsonBodyLimitBytes, verify: refuseDeepJson(http.jsonMaxDepth ?? DEFAULT_JSON_MAX_DEPTH) });
    }
    app = web;
    limitHttpServer(web.getHttpServer(), config.connectionLimits);
    answerMalformedRequestsWithJson(web.getHttpServer(), http.refusalHeaders);
    await web.init();
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
  return { app, httpPort, stop };
}

/**
 * The whole life of a service process: reads its configuration (a bad value exits with the
 * message and code 78), starts it, and on SIGTERM or SIGINT stops it within the configured bound.
 * A second signal exits at once.
 */
export async function runServiceProcess<C extends ServiceConfig>(
  loadConfig: () => C,
  rootModule: (config: C, logger: LoggerService) => Type<unknown> | DynamicModule,
  options: { http?: (config: C) => HttpListenOptions } = {},
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
    running = await startService(config, rootModule(config, logger), logger, options.http?.(config));
  } catch (err) {
    logger.error({ message: 'start-up failed', error: (err as Error).message }, (err as Error).stack, 'Service');
    process.exit(EXIT_STARTUP_FAILED);
  }
  if (signalled) stopAndExit(running, signalled);
}
