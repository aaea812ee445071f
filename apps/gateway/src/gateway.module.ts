// Wiring of the gateway service: the results hub and its recorder, the command router, their gRPC
// adapters on the service's GrpcServerHost, the REST API, /metrics and the /ws WebSocket on the
// HTTP server, and the order in which all of it stops.
import { BeforeApplicationShutdown, DynamicModule, Inject, Injectable, LoggerService, Module, OnApplicationBootstrap } from '@nestjs/common';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import type { Server as HttpServer } from 'node:http';
import { CommandRouter } from '@framewire/commands';
import { CommandRouterService, PROTO_FILES, SERVICE_NAMES } from '@framewire/proto';
import { ResultHub, ResultRecorder } from '@framewire/results';
import { DEFAULT_GRPC_DRAIN_TIMEOUT_MS, GrpcServerHost, serverCredentials } from '@framewire/service';
import { commandRouterGrpcService } from './command-router-grpc';
import { GatewayConfig } from './config';
import { PipelineHealth } from './health/pipeline-health';
import { PipelineProbe } from './health/pipeline-probe';
import { GATEWAY_CONTROLLERS } from './http/api.controller';
import { GatewayMetrics } from './http/gateway-metrics';
import { JsonErrorFilter } from './http/json-error-filter';
import { ResultsWebSocket } from './http/results-websocket';
import { GATEWAY_CONFIG, GATEWAY_LOGGER, GATEWAY_SECURITY, GATEWAY_STOP, RESULT_RECORDER } from './http/tokens';
import { resultHubGrpcService, resultHubServiceDefinition } from './result-hub-grpc';

export { GATEWAY_CONFIG } from './http/tokens';

/** Request bodies larger than this are refused (commands are small JSON objects). */
export const HTTP_BODY_LIMIT_BYTES = 64 * 1024;

/** Where the gateway's HTTP server listens and how it parses bodies (for startService). */
export function gatewayHttpOptions(config: GatewayConfig) {
  return { host: config.httpHost, port: config.httpPort, jsonBodyLimitBytes: HTTP_BODY_LIMIT_BYTES };
}

/**
 * Starts what needs the HTTP server (the WebSocket endpoint) and stops everything in order: the gRPC
 * server stops accepting, the router and the hub end their streams (so in-flight calls finish),
 * WebSocket clients are closed with 1001, the recorder flushes and closes. Nest closes the HTTP
 * server after this.
 */
@Injectable()
export class GatewayLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly grpcHost: GrpcServerHost,
    private readonly hub: ResultHub,
    private readonly router: CommandRouter,
    private readonly websocket: ResultsWebSocket,
    private readonly probe: PipelineProbe,
    @Inject(RESULT_RECORDER) private readonly recorder: ResultRecorder | null,
    @Inject(GATEWAY_LOGGER) private readonly logger: LoggerService,
    @Inject(GATEWAY_STOP) private readonly stopController: AbortController,
  ) {}

  onApplicationBootstrap(): void {
    // Absent when the module runs as a bare application context (no HTTP side).
    const server = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined;
    if (server !== undefined) this.websocket.attach(server);
  }

  async beforeApplicationShutdown(): Promise<void> {
    const grpcStopped = this.grpcHost.stop();
    this.stopController.abort();
    this.router.close();
    this.hub.close();
    await Promise.all([
      grpcStopped,
      this.websocket.close(),
      this.recorder?.close().catch((error: unknown) =>
        this.logger.error({ message: 'archive close failed', error: String(error) }, undefined, 'GatewayLifecycle'),
      ),
    ]);
    this.probe.close();
  }
}

@Module({})
export class GatewayModule {
  static forRoot(config: GatewayConfig, logger: LoggerService): DynamicModule {
    const log = (context: string) => ({
      warn: (message: string) => logger.warn(message, context),
      log: (message: string) => logger.log(message, context),
    });
    // Aborted at shutdown: running SubscribeResults and Replay calls end.
    const stop = new AbortController();
    return {
      module: GatewayModule,
      controllers: [...GATEWAY_CONTROLLERS],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: GATEWAY_SECURITY, useValue: config.security },
        { provide: GATEWAY_LOGGER, useValue: logger },
        { provide: GATEWAY_STOP, useValue: stop },
        { provide: APP_FILTER, useFactory: () => new JsonErrorFilter(logger) },
        { provide: ResultHub, useFactory: () => new ResultHub({ logger: log('ResultHub') }) },
        {
          provide: RESULT_RECORDER,
          useFactory: (hub: ResultHub) => {
            if (!config.archive.enabled) return null;
            const a = config.archive;
            const recorder = new ResultRecorder({
              directory: a.directory,
              rotation: { maxSegmentBytes: a.segmentBytes, maxSegmentAgeMs: a.segmentAgeMs },
              retention: { maxAgeMs: a.retentionMs > 0 ? a.retentionMs : undefined, maxBytes: a.retentionBytes > 0 ? a.retentionBytes : undefined },
              logger: log('ResultRecorder'),
            });
            hub.addTap((p) => recorder.record(p));
            return recorder;
          },
          inject: [ResultHub],
        },
        { provide: CommandRouter, useFactory: () => new CommandRouter({ defaultTimeoutMs: config.commandTimeoutMs, logger: log('CommandRouter') }) },
        {
          provide: GrpcServerHost,
          useFactory: (hub: ResultHub, router: CommandRouter) =>
            new GrpcServerHost({
              host: config.grpcHost,
              port: config.grpcPort,
              protoFiles: PROTO_FILES,
              services: [
                {
                  name: SERVICE_NAMES.resultHub,
                  definition: resultHubServiceDefinition,
                  implementation: resultHubGrpcService(hub, {
                    archiveDirectory: config.archive.directory,
                    token: config.security.token,
                    logger,
                    signal: stop.signal,
                  }),
                },
                {
                  name: SERVICE_NAMES.commandRouter,
                  definition: CommandRouterService,
                  implementation: commandRouterGrpcService(router, { token: config.security.token, logger }),
                },
              ],
              logger,
              credentials: serverCredentials(config.security),
              // Leave part of the shutdown budget to the archive and the HTTP side.
              drainTimeoutMs: Math.min(DEFAULT_GRPC_DRAIN_TIMEOUT_MS, Math.floor(config.shutdownTimeoutMs / 3)),
            }),
          inject: [ResultHub, CommandRouter],
        },
        {
          provide: PipelineProbe,
          useFactory: () =>
            new PipelineProbe({
              captureAddresses: config.health.captureAddresses,
              supplierAddress: config.health.supplierAddress,
              deadlineMs: config.health.probeDeadlineMs,
              cacheMs: config.health.cacheMs,
              security: config.security,
            }),
        },
        {
          provide: PipelineHealth,
          useFactory: (probe: PipelineProbe, grpcHost: GrpcServerHost, router: CommandRouter, hub: ResultHub) =>
            new PipelineHealth(
              {
                probe,
                gatewayServing: () => grpcHost.servingStatus === 'SERVING',
                attachedServices: () => router.attachedServices(),
                workerResults: () => hub.workers(),
              },
              {
                workerResultsFreshMs: config.health.workerResultsFreshMs,
                framesStaleMs: config.health.framesStaleMs,
                minHealthyWorkers: config.health.minHealthyWorkers,
              },
            ),
          inject: [PipelineProbe, GrpcServerHost, CommandRouter, ResultHub],
        },
        { provide: ResultsWebSocket, useFactory: (hub: ResultHub) => new ResultsWebSocket(hub, { logger }), inject: [ResultHub] },
        {
          provide: GatewayMetrics,
          useFactory: (hub: ResultHub, recorder: ResultRecorder | null, websocket: ResultsWebSocket, router: CommandRouter) =>
            new GatewayMetrics({ hub, recorder, websocket, commandCounters: () => numericCounters(router.stats()) }),
          inject: [ResultHub, RESULT_RECORDER, ResultsWebSocket, CommandRouter],
        },
        GatewayLifecycle,
      ],
    };
  }
}

/** Flattens a stats record into counter name → value (nested objects as `outer_inner`). */
function numericCounters(stats: object, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(stats)) {
    if (typeof value === 'number') out[`${prefix}${key}`] = value;
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) Object.assign(out, numericCounters(value, `${prefix}${key}_`));
  }
  return out;
}
