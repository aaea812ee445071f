// What the frame-path suites need beside service processes: free ports, a raw supplier client, the
// supplier's stats, a process's resident memory, a test video, and a consumer that records frames.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameSupplierClient, SupplierStats } from '@framewire/proto';
import { FrameSubscription, ReceivedFrame } from '@framewire/frame-client';

/** Bound on one unary call to a service in tests. */
export const CALL_TIMEOUT_MS = 5_000;

/** A TCP port that was free a moment ago on 127.0.0.1 (for services that must restart on the same port). */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Resident set size of a live process, MiB (VmRSS from /proc/<pid>/status). */
export function residentMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

export function supplierClient(port: number): FrameSupplierClient {
  return new FrameSupplierClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 256 * 1024 * 1024,
  });
}

export async function supplierStats(port: number): Promise<SupplierStats> {
  const client = supplierClient(port);
  try {
    const reply = await new Promise<{ stats?: SupplierStats }>((resolve, reject) =>
      client.getStats({}, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    return reply.stats ?? { streams: [], workers: [] };
  } finally {
    client.close();
  }
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

/** Polls `condition` every 20 ms until it holds; rejects naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
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
