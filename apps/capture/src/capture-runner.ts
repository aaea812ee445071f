// The capture loop as a Nest provider: starts when the application boots, and on shutdown aborts
// the source (which kills ffmpeg) and ends the Publish call within the shutdown budget. With
// shared memory configured it owns the frame ring: created at start, closed (unlinked) at shutdown.
import { BeforeApplicationShutdown, LoggerService, OnApplicationBootstrap } from '@nestjs/common';
import { CaptureEnd, CaptureLogger, CaptureStats, createCaptureStats, createSource, FramePublisher, runCapture } from '@framewire/capture';
import { FrameRingWriter } from '@framewire/shm';
import { CaptureConfig } from './config';

/** How often the counters are logged (debug level). */
export const STATS_LOG_INTERVAL_MS = 10_000;

export class CaptureRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly stats: CaptureStats = createCaptureStats();
  private readonly stopping = new AbortController();
  private publisher: FramePublisher | undefined;
  private ring: FrameRingWriter | undefined;
  private running: Promise<CaptureEnd | undefined> | undefined;
  private statsTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: CaptureConfig,
    private readonly logger: LoggerService,
  ) {}

  onApplicationBootstrap(): void {
    const { config } = this;
    const logger = this.logger as CaptureLogger;
    const source = createSource(config.source, {
      fps: config.fps,
      width: config.width,
      height: config.height,
      seed: config.seed,
      loop: config.loop,
      jpegQuality: config.jpegQuality,
      logger,
    });
    // Created before anything else starts, so that a ring that cannot be made (no space in
    // /dev/shm, a live writer owns the name) fails start-up with its clear error.
    if (config.shm !== undefined) {
      this.ring = FrameRingWriter.create(config.shm);
      this.logger.log(
        { message: 'writing frames into shared memory', ring: config.shm.name, slots: config.shm.slotCount, slotBytes: config.shm.slotBytes, mode: `0${config.shm.mode.toString(8)}` },
        'CaptureRunner',
      );
    }
    const publisher = new FramePublisher({ address: config.supplierAddress, streamId: config.streamId, stats: this.stats, logger, ring: this.ring });
    this.publisher = publisher;
    publisher.start();
    this.logger.log({ message: 'capturing', source: source.description, streamId: config.streamId, fps: config.fps }, 'CaptureRunner');
    this.running = runCapture({
      source,
      stats: this.stats,
      watchdogMs: config.watchdogMs,
      logger,
      signal: this.stopping.signal,
      onFrame: (frame) => publisher.publish(frame),
    }).catch((err: Error) => {
      this.logger.error({ message: 'capture loop failed', error: err.message }, err.stack, 'CaptureRunner');
      return undefined;
    });
    this.statsTimer = setInterval(() => this.logger.debug?.({ message: 'capture stats', ...this.stats }, 'CaptureRunner'), STATS_LOG_INTERVAL_MS);
    this.statsTimer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.statsTimer);
    this.stopping.abort(new Error('capture service stopping'));
    // The Publish call ends gracefully, bounded by a fraction of the shutdown budget.
    const publishCloseMs = Math.max(100, Math.floor(this.config.shutdownTimeoutMs / 4));
    try {
      await Promise.all([this.running, this.publisher?.close(publishCloseMs)]);
    } finally {
      this.ring?.close();
    }
    this.logger.log({ message: 'capture stopped', ...this.stats }, 'CaptureRunner');
  }
}
