// The viewer capability: the page and its replay listing, the relay of the supplier's frames to
// /ws/video (recorded to the frame archive when FW_VIEWER_RECORD_FRAMES is on) and /ws/replay.
import { LoggerService, Module } from '@nestjs/common';
import { subscribeFrames } from '@framewire/frame-client';
import { channelCredentials, channelOptions, tokenMetadata } from '@framewire/grpc-client';
import { SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import { FrameRecorder, OpenFrameSource, ReplayWebSocket, SourceFrame, VideoRelay, VideoWebSocket, viewerRelayWorkerId } from '@framewire/viewer-video';
import type { GatewayConfig } from '../config';
import { contextLogger } from '../context-logger';
import { HealthModule } from '../health/health.module';
import { PipelineHealth } from '@framewire/pipeline-health';
import { HttpEdgeModule } from '../http/http-edge.module';
import { FRAME_RECORDER } from '../http/tokens';
import { ViewerAssets, ViewerController } from '../http/viewer.controller';
import { WebSocketKeepalive } from '@framewire/http-edge';

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

/** The frame archive's recorder; null when frame recording is off. */
const frameRecorderProvider = {
  provide: FRAME_RECORDER,
  inject: [SERVICE_CONFIG, SERVICE_LOGGER],
  useFactory: (config: GatewayConfig, logger: LoggerService) => {
    if (!config.viewer.recordFrames) return null;
    const a = config.archive;
    return new FrameRecorder({
      directory: config.viewer.frameArchiveDirectory,
      rotation: { maxSegmentBytes: a.segmentBytes, maxSegmentAgeMs: a.segmentAgeMs },
      retention: { maxAgeMs: a.retentionMs > 0 ? a.retentionMs : undefined, maxBytes: a.retentionBytes > 0 ? a.retentionBytes : undefined },
      logger: contextLogger(logger, 'FrameRecorder'),
    });
  },
};

/** How long a good stream list stands in for failed probes of the supplier. */
export const REMEMBERED_STREAMS_MS = 10_000;

/** `list`, or when it fails, what it returned last within REMEMBERED_STREAMS_MS (else its error). */
export function rememberedStreams(list: () => Promise<string[]>, now: () => number = Date.now): () => Promise<string[]> {
  let last: { streams: string[]; atMs: number } | undefined;
  return async () => {
    try {
      const streams = await list();
      last = { streams, atMs: now() };
      return streams;
    } catch (error) {
      if (last !== undefined && now() - last.atMs <= REMEMBERED_STREAMS_MS) return last.streams;
      throw error;
    }
  };
}

const videoRelayProvider = {
  provide: VideoRelay,
  inject: [FRAME_RECORDER, PipelineHealth, SERVICE_CONFIG, SERVICE_LOGGER],
  useFactory: (frameRecorder: FrameRecorder | null, health: PipelineHealth, config: GatewayConfig, logger: LoggerService) =>
    new VideoRelay({
      openFrames: supplierFrames(config),
      // The supplier's streams as its GetStats lists them (cached like health); when a probe fails
      // (a busy supplier missing the probe deadline), the list of the last good one, for a while.
      listStreams: rememberedStreams(async () => {
        const stats = await health.supplierStats();
        if ('error' in stats) throw new Error(stats.error);
        return stats.streams.map((s) => s.streamId);
      }),
      maxWatchedStreams: config.viewer.maxStreams,
      displayFps: config.viewer.displayFps,
      clientMaxBufferedBytes: config.viewer.clientMaxBufferedBytes,
      onFrame: frameRecorder === null ? undefined : (frame) => frameRecorder.record(frame),
      logger: contextLogger(logger, 'VideoRelay'),
    }),
};

const videoWebSocketProvider = {
  provide: VideoWebSocket,
  inject: [VideoRelay, WebSocketKeepalive, SERVICE_LOGGER],
  useFactory: (relay: VideoRelay, keepalive: WebSocketKeepalive, logger: LoggerService) => new VideoWebSocket(relay, { logger, keepalive }),
};

const replayWebSocketProvider = {
  provide: ReplayWebSocket,
  inject: [WebSocketKeepalive, SERVICE_CONFIG, SERVICE_LOGGER],
  useFactory: (keepalive: WebSocketKeepalive, config: GatewayConfig, logger: LoggerService) =>
    new ReplayWebSocket(
      { resultsDirectory: config.archive.directory, framesDirectory: config.viewer.recordFrames ? config.viewer.frameArchiveDirectory : undefined },
      { logger, keepalive, stallTimeoutMs: config.results.stallTimeoutMs },
    ),
};

@Module({
  imports: [HttpEdgeModule, HealthModule],
  controllers: [ViewerController],
  providers: [frameRecorderProvider, videoRelayProvider, videoWebSocketProvider, replayWebSocketProvider, { provide: ViewerAssets, useFactory: () => new ViewerAssets() }],
  exports: [FRAME_RECORDER, VideoRelay, VideoWebSocket, ReplayWebSocket],
})
export class ViewerModule {}
