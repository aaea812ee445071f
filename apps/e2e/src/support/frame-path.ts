// What the frame-path suites need beside service processes and the clients of @framewire/testing:
// a raw supplier client for large frames, a test video, and a consumer that records frames.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameSupplierClient } from '@framewire/proto';
import { FrameSubscription, ReceivedFrame } from '@framewire/frame-client';

export function supplierClient(port: number): FrameSupplierClient {
  return new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 256 * 1024 * 1024,
  });
}

/** Writes a `seconds`-long 320x240 H.264 test video (ffmpeg's testsrc2) at `fps` and returns its path. */
export function makeTestVideo(dir: string, seconds = 3, fps = 15): string {
  const path = join(dir, 'testsrc2.mp4');
  execFileSync(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=${fps}`, '-t', String(seconds), '-pix_fmt', 'yuv420p', path],
    { timeout: 30_000 },
  );
  return path;
}

export interface RecordingConsumer {
  frames: ReceivedFrame[];
  /** Settles when the subscription ends (close, abort) or fails. */
  done: Promise<void>;
  error?: unknown;
}

/** Iterates `subscription` in the background, spending `workMs` on each frame like a worker would. */
export function recordFrames(subscription: FrameSubscription, workMs = 0): RecordingConsumer {
  const consumer: RecordingConsumer = { frames: [], done: Promise.resolve() };
  consumer.done = (async () => {
    try {
      for await (const received of subscription) {
        consumer.frames.push(received);
        if (workMs > 0) await sleep(workMs);
      }
    } catch (error) {
      consumer.error = error;
    }
  })();
  return consumer;
}
