// The results capability: the hub (bounded fan-out), its recorder to the archive (or none with
// FW_ARCHIVE=off), the ResultHub gRPC controller and the /ws results endpoint.
import { LoggerService, Module } from '@nestjs/common';
import { DEFAULT_MAX_PENDING_BYTES_PER_ARCHIVE, ResultHub, ResultRecorder, ResultsWebSocket } from '@framewire/results';
import { SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import type { GatewayConfig } from '../config';
import { contextLogger } from '../context-logger';
import { HttpEdgeModule } from '../http/http-edge.module';
import { WebSocketKeepalive } from '@framewire/http-edge';
import { RESULT_RECORDER } from '../http/tokens';
import { ResultHubController } from './result-hub.controller';

const resultHubProvider = {
  provide: ResultHub,
  inject: [SERVICE_CONFIG, SERVICE_LOGGER],
  useFactory: (config: GatewayConfig, logger: LoggerService) =>
    new ResultHub({
      subscriberQueueBytes: config.results.subscriberQueueBytes,
      queuedBytesBudget: config.results.queuedBytes,
      stallTimeoutMs: config.results.stallTimeoutMs,
      latestBytesBudget: config.results.latestBytes,
      logger: contextLogger(logger, 'ResultHub'),
    }),
};

/** The recorder, fed by the hub; null when recording is off. */
const resultRecorderProvider = {
  provide: RESULT_RECORDER,
  inject: [ResultHub, SERVICE_CONFIG, SERVICE_LOGGER],
  useFactory: (hub: ResultHub, config: GatewayConfig, logger: LoggerService) => {
    if (!config.archive.enabled) return null;
    const a = config.archive;
    const recorder = new ResultRecorder({
      directory: a.directory,
      rotation: { maxSegmentBytes: a.segmentBytes, maxSegmentAgeMs: a.segmentAgeMs },
      retention: { maxAgeMs: a.retentionMs > 0 ? a.retentionMs : undefined, maxBytes: a.retentionBytes > 0 ? a.retentionBytes : undefined },
      maxPendingBytes: a.pendingBytes,
      maxPendingBytesPerArchive: Math.min(DEFAULT_MAX_PENDING_BYTES_PER_ARCHIVE, a.pendingBytes),
      maxDirectories: a.maxDirectories,
      logger: contextLogger(logger, 'ResultRecorder'),
    });
    hub.addTap((p) => recorder.record(p));
    return recorder;
  },
};

const resultsWebSocketProvider = {
  provide: ResultsWebSocket,
  inject: [ResultHub, WebSocketKeepalive, SERVICE_LOGGER],
  useFactory: (hub: ResultHub, keepalive: WebSocketKeepalive, logger: LoggerService) => new ResultsWebSocket(hub, { logger, keepalive }),
};

@Module({
  imports: [HttpEdgeModule],
  controllers: [ResultHubController],
  providers: [resultHubProvider, resultRecorderProvider, resultsWebSocketProvider],
  exports: [ResultHub, RESULT_RECORDER, ResultsWebSocket],
})
export class ResultsModule {}
