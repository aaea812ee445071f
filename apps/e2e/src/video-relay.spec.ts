// The gateway's video relay with a browser that stops reading: a WebSocket client of /ws/video that
// pauses its socket and never reads again. The relay must hold at most one waiting frame for it
// (drops counted), keep serving a client that reads, and keep the gateway's memory flat, while the
// camera sends large frames (about 0.5 MB each at 15 fps: any queueing would show within seconds).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import WebSocket from 'ws';
import { ViewerMessage } from '@framewire/proto';
import { http, residentMiB, supplierStats, waitFor } from '@framewire/testing';
import { Pipeline, sleep, startPipeline } from './support/pipeline';

const STREAM = 'cam-relay';
const FPS = 15;
const WIDTH = 1280;
const HEIGHT = 720;
/** Distinct noise images (noise compresses badly: large JPEGs). */
const IMAGES = 4;
/** How long the stuck client is watched after the kernel's socket buffers filled. */
const OBSERVE_MS = 12_000;
const SAMPLE_MS = 1_000;
/** The gateway's RSS may wander by this much (GC, allocator); a queue would grow by the frames' bytes. */
const RSS_GROWTH_BOUND_BYTES = 48 * 1024 * 1024;

const rssBytes = (pid: number): number => residentMiB(pid) * 2 ** 20;

interface ClientStats {
  sent: number;
  dropped: number;
  heldBytes: number;
  maxHeldBytes: number;
  bufferedAmount: number;
}

describe('video relay with a client that never reads (real gateway, supplier and capture)', () => {
  jest.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-video-relay-'));
  let pipeline: Pipeline;
  let frameBytes = 0;

  beforeAll(async () => {
    const images = join(dir, 'images');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(images);
    for (let i = 0; i < IMAGES; i++) {
      const noise = Buffer.alloc(WIDTH * HEIGHT * 3);
      for (let p = 0; p < noise.length; p++) noise[p] = (Math.random() * 256) | 0;
      const jpeg = await sharp(noise, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
      frameBytes = Math.max(frameBytes, jpeg.length);
      await sharp(jpeg).toFile(join(images, `frame-${i}.jpg`));
    }
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: FPS,
      width: WIDTH,
      height: HEIGHT,
      archiveDir: join(dir, 'archive'),
      workers: [],
      appEnv: { capture: { FW_CAPTURE_SOURCE: `images:${images}`, FW_CAPTURE_LOOP: 'true' }, gateway: { FW_ARCHIVE: 'off', FW_VIEWER_FPS: String(FPS) } },
    });
    // The gateway relays only a stream the supplier has.
    await waitFor('the camera at the supplier', async () => (await supplierStats(pipeline.supplierAddress)).streams.some((s) => s.streamId === STREAM), 30_000);
  }, 90_000);

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('holds at most one frame for it, drops the rest, serves a reading client, and keeps memory flat', async () => {
    const url = `ws://127.0.0.1:${pipeline.ports.http}/ws/video?stream=${STREAM}`;
    const stuck = new WebSocket(url);
    const reader = new WebSocket(url);
    const readerSequences: number[] = [];
    reader.on('message', (data: Buffer) => readerSequences.push(ViewerMessage.decode(data).frame!.relaySequence));
    try {
      await Promise.all([stuck, reader].map((ws) => new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))));
      // The stuck client: its socket is paused, so the kernel buffers fill and it reads nothing more.
      (stuck as unknown as { _socket: { pause(): void } })._socket.pause();
      const gatewayPid = pipeline.services.get('gateway')!.child.pid!;
      const clients = async (): Promise<ClientStats[]> => (await http(`${pipeline.httpUrl}/api/stats`)).body.viewer.relay.clientDetails;
      // Wait until the stuck client's sends stop: the kernel's buffers are full.
      let previousSent = -1;
      await waitFor(
        'the stuck client to stop taking frames',
        async () => {
          await sleep(SAMPLE_MS);
          const sent = Math.min(...(await clients()).map((c) => c.sent));
          const stopped = sent === previousSent;
          previousSent = sent;
          return stopped;
        },
        60_000,
      );
      const startRss = rssBytes(gatewayPid);
      const startReader = readerSequences.length;
      const start = (await clients()).find((c) => c.sent === previousSent)!;
      const samples: { rss: number; stuck: ClientStats }[] = [];
      for (let t = 0; t < OBSERVE_MS; t += SAMPLE_MS) {
        await sleep(SAMPLE_MS);
        const stuckNow = (await clients()).reduce((a, b) => (a.sent <= b.sent ? a : b));
        samples.push({ rss: rssBytes(gatewayPid), stuck: stuckNow });
      }
      const end = samples[samples.length - 1];
      const summary = {
        frameBytes,
        rssStartMiB: +(startRss / 2 ** 20).toFixed(1),
        rssMaxMiB: +(Math.max(...samples.map((s) => s.rss)) / 2 ** 20).toFixed(1),
        stuckSent: [start.sent, end.stuck.sent],
        stuckDropped: [start.dropped, end.stuck.dropped],
        stuckMaxHeldBytes: end.stuck.maxHeldBytes,
        readerFrames: readerSequences.length - startReader,
      };
      process.stderr.write(`video relay, client that never reads: ${JSON.stringify(summary)}\n`);
      // Frames kept coming (the reading client got them) and were dropped for the stuck one.
      expect(summary.readerFrames).toBeGreaterThan(OBSERVE_MS / 1000);
      expect(end.stuck.dropped - start.dropped).toBeGreaterThan(OBSERVE_MS / 1000);
      expect(end.stuck.sent).toBe(start.sent);
      // What the relay holds for it: the socket's unsent bytes (one frame at most, as one frame is
      // written at a time) plus one waiting frame, never more, whatever it was ever sent.
      const frameMessageBytes = frameBytes + 1024;
      for (const s of samples) expect(s.stuck.heldBytes).toBeLessThanOrEqual(2 * frameMessageBytes);
      expect(end.stuck.maxHeldBytes).toBeLessThanOrEqual(2 * frameMessageBytes);
      // A queue would have grown by every frame produced meanwhile (well above the bound).
      expect(FPS * (OBSERVE_MS / 1000) * frameBytes).toBeGreaterThan(2 * RSS_GROWTH_BOUND_BYTES);
      for (const s of samples) expect(s.rss - startRss).toBeLessThan(RSS_GROWTH_BOUND_BYTES);
    } finally {
      stuck.terminate();
      reader.close();
    }
  });
});
