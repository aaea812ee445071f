// Wiring of the gateway service: the results hub and its recorder, the command router, their gRPC
// adapters on the service's GrpcServerHost, the REST API, /metrics, the viewer page and the
// WebSockets (/ws results, /ws/video relayed frames, /ws/replay) on the HTTP server, and the order in
// which all of it stops.
import { BeforeApplicationShutdown, DynamicModule, Inject, Injectable, LoggerService, Module, OnApplicationBootstrap } from '@nestjs/common';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import type { Server as HttpServer } from 'node:http';
import { CommandRouter } from '@framewire/commands';
import { CommandRouterService, PROTO_FILES, SERVICE_NAMES } from '@framewire/proto';
import { DEFAULT_MAX_PENDING_BYTES_PER_ARCHIVE, ResultHub, ResultRecorder } from '@framewire/results';
import { channelCredentials, channelOptions, GrpcTransport, ServiceDefinition, tokenMetadata } from '@framewire/service-runtime';
import { subscribeFrames } from '@framewire/frame-client';
import { FrameRecorder, OpenFrameSource, SourceFrame, VideoRelay, viewerRelayWorkerId } from '@framewire/viewer-video';
import { GatewayConfig } from './config';
import { PipelineHealth } from './health/pipeline-health';
import { PipelineProbe } from './health/pipeline-probe';
import { GATEWAY_CONTROLLERS } from './http/api.controller';
import { ExpressApplication, installBrowserPolicy } from './http/browser-policy.middleware';
import { SECURITY_HEADERS } from './http/browser-policy';
import { GatewayMetrics } from './http/gateway-metrics';
import { JsonErrorFilter } from './http/json-error-filter';
import { ResultsWebSocket } from './http/results-websocket';
import { FRAME_RECORDER, GATEWAY_CONFIG, GATEWAY_LOGGER, GATEWAY_SECURITY, GATEWAY_STOP, RESULT_RECORDER } from './http/tokens';
import { ReplayWebSocket, VideoWebSocket } from './http/video-websocket';
import { ViewerAssets } from './http/viewer.controller';
import { WebSocketKeepalive } from './http/websocket-keepalive';
import { WebSocketUpgrades } from './http/websocket-upgrades';
import { resultHubServiceDefinition } from './result-hub-grpc';
import { CommandRouterController, ResultHubController } from './gateway-grpc.controllers';

export { GATEWAY_CONFIG } from './http/tokens';

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
    @Inject(GATEWAY_LOGGER) private readonly logger: LoggerService,
    @Inject(GATEWAY_STOP) private readonly stopController: AbortController,
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
        if (!('error' in stats) && !this.stopController.signal.aborted) for (const s of stats.streams) this.relay.retain(s.streamId);
      };
      void discover();
      this.discovery = setInterval(() => void discover(), FRAME_RECORDING_DISCOVERY_MS);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.discovery);
    clearInterval(this.stallSweep);
    const grpcStopped = this.transport.close();
    this.stopController.abort();
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

@Module({})
export class GatewayModule {
  /** Nest makes the module while it creates the application, before the service adds the body
   *  parser and before any route: the browser policy comes first for every request. */
  constructor(adapterHost: HttpAdapterHost, @Inject(GATEWAY_CONFIG) config: GatewayConfig) {
    // Absent when the module runs as a bare application context (no HTTP side).
    const app = adapterHost.httpAdapter?.getInstance() as ExpressApplication | undefined;
    if (app !== undefined) installBrowserPolicy(app, config.httpAllowedOrigins);
  }

  static forRoot(config: GatewayConfig, logger: LoggerService): DynamicModule {
    const log = (context: string) => ({
      warn: (message: string) => logger.warn(message, context),
      log: (message: string) => logger.log(message, context),
    });
    // Aborted at shutdown: running SubscribeResults and Replay calls end.
    const stop = new AbortController();
    return {
      module: GatewayModule,
      controllers: [...GATEWAY_CONTROLLERS, ResultHubController, CommandRouterController],
      providers: [
        { provide: GATEWAY_CONFIG, useValue: config },
        { provide: GATEWAY_SECURITY, useValue: config.security },
        { provide: GATEWAY_LOGGER, useValue: logger },
        { provide: GATEWAY_STOP, useValue: stop },
        { provide: APP_FILTER, useFactory: () => new JsonErrorFilter(logger) },
        {
          provide: ResultHub,
          useFactory: () =>
            new ResultHub({
              subscriberQueueBytes: config.results.subscriberQueueBytes,
              queuedBytesBudget: config.results.queuedBytes,
              stallTimeoutMs: config.results.stallTimeoutMs,
              latestBytesBudget: config.results.latestBytes,
              logger: log('ResultHub'),
            }),
        },
        {
          provide: RESULT_RECORDER,
          useFactory: (hub: ResultHub) => {
            if (!config.archive.enabled) return null;
            const a = config.archive;
            const recorder = new ResultRecorder({
              directory: a.directory,
              rotation: { maxSegmentBytes: a.segmentBytes, maxSegmentAgeMs: a.segmentAgeMs },
              retention: { maxAgeMs: a.retentionMs > 0 ? a.retentionMs : undefined, maxBytes: a.retentionBytes > 0 ? a.retentionBytes : undefined },
              maxPendingBytes: a.pendingBytes,
              maxPendingBytesPerArchive: Math.min(DEFAULT_MAX_PENDING_BYTES_PER_ARCHIVE, a.pendingBytes),
              maxDirectories: a.maxDirectories,
              logger: log('ResultRecorder'),
            });
            hub.addTap((p) => recorder.record(p));
            return recorder;
          },
          inject: [ResultHub],
        },
        { provide: CommandRouter, useFactory: () => new CommandRouter({ defaultTimeoutMs: config.commandTimeoutMs, logger: log('CommandRouter') }) },
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
          useFactory: (probe: PipelineProbe, transport: GrpcTransport, router: CommandRouter, hub: ResultHub) =>
            new PipelineHealth(
              {
                probe,
                gatewayServing: () => transport.server.servingStatus === 'SERVING',
                attachedServices: () => router.attachedServices(),
                workerResults: () => hub.workers(),
              },
              {
                workerResultsFreshMs: config.health.workerResultsFreshMs,
                framesStaleMs: config.health.framesStaleMs,
                minHealthyWorkers: config.health.minHealthyWorkers,
                expectedWorkers: config.health.expectedWorkers,
                refusalsRecentMs: config.health.refusalsRecentMs,
              },
            ),
          inject: [PipelineProbe, GrpcTransport, CommandRouter, ResultHub],
        },
        { provide: WebSocketKeepalive, useFactory: () => new WebSocketKeepalive(config.connectionLimits.keepaliveMs) },
        {
          provide: ResultsWebSocket,
          useFactory: (hub: ResultHub, keepalive: WebSocketKeepalive) => new ResultsWebSocket(hub, { logger, keepalive }),
          inject: [ResultHub, WebSocketKeepalive],
        },
        {
          provide: FRAME_RECORDER,
          useFactory: () => {
            if (!config.viewer.recordFrames) return null;
            const a = config.archive;
            return new FrameRecorder({
              directory: config.viewer.frameArchiveDirectory,
              rotation: { maxSegmentBytes: a.segmentBytes, maxSegmentAgeMs: a.segmentAgeMs },
              retention: { maxAgeMs: a.retentionMs > 0 ? a.retentionMs : undefined, maxBytes: a.retentionBytes > 0 ? a.retentionBytes : undefined },
              logger: log('FrameRecorder'),
            });
          },
        },
        {
          provide: VideoRelay,
          useFactory: (frameRecorder: FrameRecorder | null, health: PipelineHealth) =>
            new VideoRelay({
              openFrames: supplierFrames(config),
              // The supplier's streams as its GetStats lists them (cached like health).
              listStreams: async () => {
                const stats = await health.supplierStats();
                if ('error' in stats) throw new Error(stats.error);
                return stats.streams.map((s) => s.streamId);
              },
              maxWatchedStreams: config.viewer.maxStreams,
              displayFps: config.viewer.displayFps,
              clientMaxBufferedBytes: config.viewer.clientMaxBufferedBytes,
              onFrame: frameRecorder === null ? undefined : (frame) => frameRecorder.record(frame),
              logger: log('VideoRelay'),
            }),
          inject: [FRAME_RECORDER, PipelineHealth],
        },
        {
          provide: VideoWebSocket,
          useFactory: (relay: VideoRelay, keepalive: WebSocketKeepalive) => new VideoWebSocket(relay, { logger, keepalive }),
          inject: [VideoRelay, WebSocketKeepalive],
        },
        {
          provide: ReplayWebSocket,
          useFactory: (keepalive: WebSocketKeepalive) =>
            new ReplayWebSocket(
              { resultsDirectory: config.archive.directory, framesDirectory: config.viewer.recordFrames ? config.viewer.frameArchiveDirectory : undefined },
              { logger, keepalive, stallTimeoutMs: config.results.stallTimeoutMs },
            ),
          inject: [WebSocketKeepalive],
        },
        {
          provide: WebSocketUpgrades,
          useFactory: (results: ResultsWebSocket, video: VideoWebSocket, replay: ReplayWebSocket) =>
            new WebSocketUpgrades([results, video, replay], { allowedOrigins: config.httpAllowedOrigins, token: config.security.token, logger }),
          inject: [ResultsWebSocket, VideoWebSocket, ReplayWebSocket],
        },
        { provide: ViewerAssets, useFactory: () => new ViewerAssets() },
        {
          provide: GatewayMetrics,
          useFactory: (hub: ResultHub, recorder: ResultRecorder | null, websocket: ResultsWebSocket, router: CommandRouter, keepalive: WebSocketKeepalive) =>
            new GatewayMetrics({ hub, recorder, websocket, keepalive, commandCounters: () => numericCounters(router.stats()) }),
          inject: [ResultHub, RESULT_RECORDER, ResultsWebSocket, CommandRouter, WebSocketKeepalive],
        },
        GatewayLifecycle,
      ],
    };
  }
}

/** The relay's frame source: a Pull subscription at the supplier per stream, as a worker has. */
function supplierFrames(config: GatewayConfig): OpenFrameSource {
  return (streamId, signal) => {
    const subscription = subscribeFrames({
      address: config.health.supplierAddress,
      workerId: viewerRelayWorkerId(streamId),
      streamId,
      signal,
      credentials: channelCredentials(config.security),
      channelOptions: channelOptions(config.security),
      metadata: tokenMetadata(config.security.token),
    });
    return (async function* (): AsyncGenerator<SourceFrame> {
      for await (const r of subscription) yield { frame: r.frame, droppedSinceLast: r.droppedSinceLast, receivedTimeUs: r.receivedTimeUs };
    })();
  };
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

/** The gateway as runServiceProcess and startService take it: its module, what its gRPC port
 *  serves, and its HTTP side. */
export const GATEWAY_SERVICE: ServiceDefinition<GatewayConfig> = {
  module: (config, logger) => GatewayModule.forRoot(config, logger),
  grpc: () => ({
    services: [
      { name: SERVICE_NAMES.resultHub, definition: resultHubServiceDefinition },
      { name: SERVICE_NAMES.commandRouter, definition: CommandRouterService },
    ],
    protoFiles: PROTO_FILES,
  }),
  http: gatewayHttpOptions,
};
