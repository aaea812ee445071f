// The capture loop as a Nest provider: starts when the application boots, and on shutdown aborts
// the source (which kills ffmpeg) and ends the Publish call within the shutdown budget. With
// shared memory configured it owns the frame ring: created at start, closed (unlinked) at shutdown.
// It obeys the gateway's commands (docs/commands.md): pause, resume, set fps, switch source.
import { BeforeApplicationShutdown, Inject, Injectable, LoggerService, OnApplicationBootstrap } from '@nestjs/common';
import { CommandHandler, CommandListener, CommandPayload, listenForCommands } from '@framewire/commands';
import {
  CaptureEnd,
  CaptureLogger,
  CaptureStats,
  createCaptureStats,
  createSource,
  FramePublisher,
  FrameSource,
  runCapture,
  SwitchableSource,
} from '@framewire/capture';
import type { Command } from '@framewire/proto';
import { channelCredentials, channelOptions, tokenMetadata } from '@framewire/grpc-client';
import { SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import { FrameRingWriter } from '@framewire/shm';
import { CaptureConfig } from './config';

/** How often the counters are logged (debug level). */
export const STATS_LOG_INTERVAL_MS = 10_000;
/** Of a command's timeout, what a new source may spend on its first frame leaves this for the ack. */
const ACK_ROOM_MS = 250;
const MIN_FIRST_FRAME_TIMEOUT_MS = 100;
const CONTEXT = 'CaptureRunner';

@Injectable()
export class CaptureRunner implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly stats: CaptureStats = createCaptureStats();
  private readonly stopping = new AbortController();
  private publisher: FramePublisher | undefined;
  private ring: FrameRingWriter | undefined;
  private running: Promise<CaptureEnd | undefined> | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private listener: CommandListener | undefined;
  /** What commands change at run time. */
  private readonly control: { paused: boolean; fps: number | undefined; source: string; switchable?: SwitchableSource; loopEnded: boolean };

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: CaptureConfig,
    @Inject(SERVICE_LOGGER) private readonly logger: LoggerService,
  ) {
    this.control = { paused: false, fps: config.fps, source: config.source.reveal(), loopEnded: false };
  }

  onApplicationBootstrap(): void {
    const { config } = this;
    const logger = this.logger as CaptureLogger;
    const source = this.makeSource(config.source.reveal(), config.fps);
    // Created before anything else starts, so that a ring that cannot be made (no space in
    // /dev/shm, a live writer owns the name) fails start-up with its clear error.
    if (config.shm !== undefined) {
      this.ring = FrameRingWriter.create(config.shm);
      this.logger.log(
        { message: 'writing frames into shared memory', ring: config.shm.name, slots: config.shm.slotCount, slotBytes: config.shm.slotBytes, mode: `0${config.shm.mode.toString(8)}` },
        CONTEXT,
      );
    }
    const publisher = new FramePublisher({
      address: config.supplierAddress,
      streamId: config.streamId,
      stats: this.stats,
      logger,
      ring: this.ring,
      credentials: channelCredentials(config.security),
      channelOptions: channelOptions(config.security),
      metadata: tokenMetadata(config.security.token),
    });
    this.publisher = publisher;
    publisher.start();
    this.logger.log({ message: 'capturing', source: source.description, streamId: config.streamId, fps: config.fps }, CONTEXT);
    this.control.switchable = new SwitchableSource(source);
    this.startLoop();
    this.statsTimer = setInterval(() => this.logger.debug?.({ message: 'capture stats', ...this.stats }, CONTEXT), STATS_LOG_INTERVAL_MS);
    this.statsTimer.unref();
    if (config.gatewayAddress !== undefined) {
      this.listener = listenForCommands({
        address: config.gatewayAddress,
        serviceId: config.serviceId,
        handlers: this.commandHandlers(),
        credentials: channelCredentials(config.security),
        channelOptions: channelOptions(config.security),
        metadata: tokenMetadata(config.security.token),
        logger,
      });
    }
  }

  /** Whether frames are being published (false after capture.pause). */
  get paused(): boolean {
    return this.control.paused;
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.statsTimer);
    // No command is applied from here on; one being applied gets a bounded moment to finish.
    await this.listener?.close(Math.max(100, Math.floor(this.config.shutdownTimeoutMs / 8)));
    this.stopping.abort(new Error('capture service stopping'));
    this.control.switchable?.close();
    // The Publish call ends gracefully, bounded by a fraction of the shutdown budget.
    const publishCloseMs = Math.max(100, Math.floor(this.config.shutdownTimeoutMs / 4));
    try {
      await Promise.all([this.running, this.publisher?.close(publishCloseMs)]);
    } finally {
      this.ring?.close();
    }
    this.logger.log({ message: 'capture stopped', ...this.stats }, CONTEXT);
  }

  private makeSource(spec: string, fps: number | undefined): FrameSource {
    const { config } = this;
    return createSource(spec, {
      fps,
      width: config.width,
      height: config.height,
      seed: config.seed,
      loop: config.loop,
      jpegQuality: config.jpegQuality,
      logger: this.logger as CaptureLogger,
    });
  }

  private startLoop(): void {
    const publisher = this.publisher as FramePublisher;
    const switchable = this.control.switchable as SwitchableSource;
    this.control.loopEnded = false;
    this.running = runCapture({
      source: switchable,
      stats: this.stats,
      watchdogMs: this.config.watchdogMs,
      logger: this.logger as CaptureLogger,
      signal: this.stopping.signal,
      onFrame: (frame) => {
        // Paused: the source keeps running (resume is instant, the watchdog still guards it).
        if (this.control.paused) this.stats.framesDiscardedPaused++;
        else publisher.publish(frame);
      },
    }).then(
      (end) => {
        if (end === 'source-ended') this.control.loopEnded = true;
        return end;
      },
      (err: Error) => {
        this.logger.error({ message: 'capture loop failed', error: err.message }, err.stack, CONTEXT);
        this.control.loopEnded = true;
        return undefined;
      },
    );
  }

  /**
   * Replaces the running source with `spec` at `fps`. The new source must give its first frame
   * within the command's deadline; otherwise it is refused (SourceSwitchError) and the old one runs on.
   */
  private async switchSource(spec: string, fps: number | undefined, command: Command): Promise<string> {
    const switchable = this.control.switchable as SwitchableSource;
    const source = this.makeSource(spec, fps);
    await switchable.switchTo(source, Math.max(MIN_FIRST_FRAME_TIMEOUT_MS, command.timeoutMs - ACK_ROOM_MS));
    this.control.source = spec;
    this.control.fps = fps;
    // A source that had ended (a file played once) left no loop to take the new one.
    if (this.control.loopEnded && !this.stopping.signal.aborted) this.startLoop();
    this.logger.log({ message: 'source switched', source: source.description, fps, requestId: command.requestId }, CONTEXT);
    return `capturing ${source.description}`;
  }

  private commandHandlers(): Record<string, CommandHandler> {
    const control = this.control;
    return {
      'capture.pause': (): string => {
        if (control.paused) return 'already paused';
        control.paused = true;
        this.logger.log({ message: 'capture paused' }, CONTEXT);
        return 'paused';
      },
      'capture.resume': (): string => {
        if (!control.paused) return 'not paused';
        control.paused = false;
        this.logger.log({ message: 'capture resumed' }, CONTEXT);
        return 'resumed';
      },
      'capture.set_fps': (payload: CommandPayload<'capture.set_fps'>, command: Command) => this.switchSource(control.source, payload.fps, command),
      'capture.switch_source': (payload: CommandPayload<'capture.switch_source'>, command: Command) => this.switchSource(payload.source, control.fps, command),
    };
  }
}
