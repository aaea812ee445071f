// Wiring of the gateway service: its capabilities as Nest modules (results, commands, health, the
// viewer, the HTTP edge), the REST API and /metrics over them, the WebSocket upgrade routing, and the
// order in which all of it stops.
import { BeforeApplicationShutdown, Inject, Injectable, LoggerService, Module, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Server as HttpServer } from 'node:http';
import { CommandRouter } from '@framewire/commands';
import { CommandRouterService, PROTO_FILES, SERVICE_NAMES } from '@framewire/proto';
import { ResultHub, resultHubServiceDefinition, ResultRecorder, ResultsWebSocket } from '@framewire/results';
import { GrpcTransport, SERVICE_CONFIG, SERVICE_LOGGER, ServiceDefinition } from '@framewire/service-runtime';
import { FrameRecorder, ReplayWebSocket, VideoRelay, VideoWebSocket } from '@framewire/viewer-video';
import { CommandsModule } from './commands/commands.module';
import { GatewayConfig } from './config';
import { HealthModule } from './health/health.module';
import { PipelineHealth, PipelineProbe } from '@framewire/pipeline-health';
import { ApiController, MetricsController } from './http/api.controller';
import { gatewayMetrics, resultKindName, SECURITY_HEADERS, WebSocketKeepalive, WebSocketUpgrades } from '@framewire/http-edge';
import { HttpEdgeModule } from './http/http-edge.module';
import { FRAME_RECORDER, GATEWAY_METRICS, RESULT_RECORDER } from './http/tokens';
import { ResultsModule } from './results/results.module';
import { ViewerModule } from './viewer/viewer.module';

/** Request bodies larger than this are refused (commands are small JSON objects). */
export const HTTP_BODY_LIMIT_BYTES = 64 * 1024;

/** With frame recording on, the relay looks this often for streams the supplier has, to record each. */
export const FRAME_RECORDING_DISCOVERY_MS = 5_000;
/** How often the hub looks for subscribers past the stall timeout (ResultHub.closeStalled). */
export const STALL_SWEEP_MS = 1_000;

/** Where the gateway's HTTP server listens and how it parses bodies (for startService). */
export function gatewayHttpOptions(config: GatewayConfig) {
  return { host: config.httpHost, port: config.httpPort, jsonBodyLimitBytes: HTTP_BODY_LIMIT_BYTES, refusalHeaders: SECURITY_HEADERS };
}

/** The upgrade routing of the three WebSocket endpoints, with the browser policy and the token. */
const webSocketUpgradesProvider = {
  provide: WebSocketUpgrades,
  inject: [ResultsWebSocket, VideoWebSocket, ReplayWebSocket, SERVICE_CONFIG, SERVICE_LOGGER],
  useFactory: (results: ResultsWebSocket, video: VideoWebSocket, replay: ReplayWebSocket, config: GatewayConfig, logger: LoggerService) =>
    new WebSocketUpgrades([results, video, replay], { allowedOrigins: config.httpAllowedOrigins, token: config.security.token, logger }),
};

/** The metrics over the hub, recorder, router and WebSocket statistics; results counted by kind. */
const gatewayMetricsProvider = {
  provide: GATEWAY_METRICS,
  inject: [ResultHub, RESULT_RECORDER, ResultsWebSocket, CommandRouter, WebSocketKeepalive],
  useFactory: (hub: ResultHub, recorder: ResultRecorder | null, websocket: ResultsWebSocket, router: CommandRouter, keepalive: WebSocketKeepalive) => {
    const metrics = gatewayMetrics({
      hubStats: () => hub.stats(),
      workers: () => hub.workers(),
      recorderStats: () => recorder?.stats() ?? null,
      websocketStats: () => websocket.stats(),
      keepaliveStats: () => keepalive.stats(),
      commandStats: () => router.stats(),
    });
    hub.addTap((p) => metrics.countResult(resultKindName(p.kind)));
    return metrics;
  },
};

/**
 * Starts what needs the HTTP server (the WebSocket endpoints) and, with frame recording on, the
 * discovery of streams to record; stops everything in order: the gRPC server stops accepting, the
 * router and the hub end their streams (so in-flight calls finish), the relay ends its supplier
 * subscriptions, WebSocket clients are closed with 1001, the recorders flush and close. Nest closes
 * the HTTP server after this.
 */
@Injectable()
export class GatewayLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly transport: GrpcTransport,
    private readonly hub: ResultHub,
    private readonly router: CommandRouter,
    private readonly upgrades: WebSocketUpgrades,
    private readonly relay: VideoRelay,
    private readonly probe: PipelineProbe,
    private readonly health: PipelineHealth,
    private readonly keepalive: WebSocketKeepalive,
    @Inject(RESULT_RECORDER) private readonly recorder: ResultRecorder | null,
    @Inject(FRAME_RECORDER) private readonly frameRecorder: FrameRecorder | null,
    @Inject(SERVICE_LOGGER) private readonly logger: LoggerService,
  ) {}

  private discovery: NodeJS.Timeout | undefined;
  private stallSweep: NodeJS.Timeout | undefined;

  onApplicationBootstrap(): void {
    this.stallSweep = setInterval(() => this.hub.closeStalled(), STALL_SWEEP_MS);
    // Absent when the module runs as a bare application context (no HTTP side).
    const server = this.adapterHost.httpAdapter?.getHttpServer() as HttpServer | undefined;
    if (server !== undefined) this.upgrades.attach(server);
    if (this.frameRecorder !== null) {
      const discover = async () => {
        const stats = await this.health.supplierStats();
        if (!('error' in stats) && !this.transport.stopSignal.aborted) for (const s of stats.streams) this.relay.retain(s.streamId);
      };
      void discover();
      this.discovery = setInterval(() => void discover(), FRAME_RECORDING_DISCOVERY_MS);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.discovery);
    clearInterval(this.stallSweep);
    // Also aborts transport.stopSignal: running SubscribeResults and Replay calls end.
    const grpcStopped = this.transport.close();
    this.router.close();
    this.hub.close();
    this.relay.close();
    const logFailure = (what: string) => (error: unknown) => this.logger.error({ message: `${what} close failed`, error: String(error) }, undefined, 'GatewayLifecycle');
    await Promise.all([
      grpcStopped,
      this.upgrades.close(),
      this.recorder?.close().catch(logFailure('archive')),
      this.frameRecorder?.close().catch(logFailure('frame archive')),
    ]);
    this.keepalive.close();
    this.probe.close();
  }
}

@Module({
  imports: [HttpEdgeModule, ResultsModule, CommandsModule, HealthModule, ViewerModule],
  controllers: [ApiController, MetricsController],
  providers: [webSocketUpgradesProvider, gatewayMetricsProvider, GatewayLifecycle],
})
export class GatewayModule {}

/** The gateway as runServiceProcess and startService take it: its module, what its gRPC port
 *  serves, and its HTTP side. */
export const GATEWAY_SERVICE: ServiceDefinition<GatewayConfig> = {
  module: () => GatewayModule,
  grpc: () => ({
    services: [
      { name: SERVICE_NAMES.resultHub, definition: resultHubServiceDefinition },
      { name: SERVICE_NAMES.commandRouter, definition: CommandRouterService },
    ],
    protoFiles: PROTO_FILES,
  }),
  http: gatewayHttpOptions,
};
