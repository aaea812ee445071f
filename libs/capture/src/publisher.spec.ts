import * as grpc from '@grpc/grpc-js';
import { Frame, FrameSupplierServer, FrameSupplierService, PixelFormat } from '@framewire/proto';
import { FrameRingReader, FrameRingWriter } from '@framewire/shm';
import { collectGarbage } from '@framewire/testing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CapturedFrame } from './frame';
import { FramePublisher } from './publisher';

/** A FrameSupplier on loopback whose Publish records what it receives (or, if told, never reads). */
class RecordingSupplier {
  readonly frames: Frame[] = [];
  readonly server = new grpc.Server();
  calls = 0;
  port = 0;

  constructor(reads = true) {
    const implementation: FrameSupplierServer = {
      publish: (call, callback) => {
        this.calls++;
        if (!reads) return;
        call.on('data', (r: { frame?: Frame }) => r.frame && this.frames.push(r.frame));
        call.on('end', () => callback(null, { framesReceived: this.frames.length, inboxDrops: 0 }));
        call.on('error', () => undefined);
      },
      subscribe: (call) => call.end(),
      pull: (call) => call.end(),
      getStats: (_call, callback) => callback(null, { stats: { streams: [], workers: [], refused: [], pools: [] } }),
      listRings: (_call, callback) => callback(null, { rings: [] }),
    };
    this.server.addService(FrameSupplierService, implementation);
  }

  async start(port = 0, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`127.0.0.1:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    return this.port;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

function frameOf(bytes: number, fill = 1): CapturedFrame {
  return {
    data: Buffer.alloc(bytes, fill),
    width: 64,
    height: 48,
    pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG,
    captureTimeUs: Math.round((performance.timeOrigin + performance.now()) * 1000),
  };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function expectIncreasing(sequences: number[]): void {
  for (let i = 1; i < sequences.length; i++) expect(sequences[i]).toBeGreaterThan(sequences[i - 1]);
}

describe('FramePublisher', () => {
  const servers: RecordingSupplier[] = [];
  let publisher: FramePublisher | undefined;

  afterEach(async () => {
    await publisher?.close(500);
    publisher = undefined;
    for (const s of servers.splice(0)) s.stop();
  });

  async function supplier(reads = true, port = 0): Promise<RecordingSupplier> {
    const s = new RecordingSupplier(reads);
    servers.push(s);
    await s.start(port);
    return s;
  }

  it('publishes every frame with the stream id, increasing sequence numbers from 1 and the frame fields', async () => {
    const s = await supplier();
    publisher = new FramePublisher({ address: `127.0.0.1:${s.port}`, streamId: 'cam-7' });
    publisher.start();
    await until(() => publisher!.connected, 3_000, 'the Publish call');  
    const sent: CapturedFrame[] = [];
    for (let i = 0; i < 20; i++) {
      const f = frameOf(1000 + i, i);
      sent.push(f);
      expect(publisher.publish(f)).toBe(i + 1);
      await pause(5);
    }
    await until(() => s.frames.length + publisher!.stats.localDrops >= 20, 3_000, 'the frames');  
    expect(s.frames[0].sequence).toBe(1);
    expectIncreasing(s.frames.map((f) => f.sequence));
    for (const f of s.frames) {
      const original = sent[f.sequence - 1];
      expect(f).toMatchObject({
        streamId: 'cam-7',
        captureTimeUs: original.captureTimeUs,
        width: 64,
        height: 48,
        pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG,
        sizeBytes: original.data.byteLength,
      });
      expect(Buffer.from(f.data!)).toEqual(Buffer.from(original.data));  
    }
    expect(publisher.stats.framesPublished).toBe(s.frames.length);
    expect(publisher.stats.reconnects).toBe(0);
  });

  it('publishes to a supplier that serves TLS with the credentials it is given', async () => {
    const fixtures = join(__dirname, '../../service-runtime/test-fixtures');
    const cert = readFileSync(join(fixtures, 'localhost.crt'));
    const s = new RecordingSupplier();
    servers.push(s);
    await s.start(0, grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: readFileSync(join(fixtures, 'localhost.key')) }], false));
    publisher = new FramePublisher({ address: `localhost:${s.port}`, streamId: 'cam-tls', credentials: grpc.credentials.createSsl(cert) });
    publisher.start();
    await until(() => publisher!.connected, 5_000, 'the Publish call over TLS');
    publisher.publish(frameOf(100));
    await until(() => s.frames.length === 1, 3_000, 'the frame');
    expect(s.frames[0]).toMatchObject({ streamId: 'cam-tls', sequence: 1 });
  });

  it('logs a supplier that stops at info, warns once when it stays away past the grace period, and warns each refusal', async () => {
    const lines: Array<{ level: string; message: string }> = [];
    const logger = {
      log: (m: unknown) => void lines.push({ level: 'log', message: (m as { message: string }).message }),
      warn: (m: unknown) => void lines.push({ level: 'warn', message: (m as { message: string }).message }),
      error: (m: unknown) => void lines.push({ level: 'error', message: (m as { message: string }).message }),
      debug: () => undefined,
    };
    // A supplier that ends each Publish call as a stopping supplier does, then one that refuses it.
    let answer: Partial<grpc.StatusObject> = { code: grpc.status.UNAVAILABLE, details: 'the frame supplier is stopping' };
    const server = new grpc.Server();
    server.addService(FrameSupplierService, {
      publish: (_call: unknown, callback: (err: Partial<grpc.StatusObject>) => void) => callback(answer),
    } as unknown as FrameSupplierServer);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    try {
      publisher = new FramePublisher({ address: `127.0.0.1:${port}`, streamId: 'cam-1', logger, backoff: { initialMs: 20, maxMs: 40 }, unavailableGraceMs: 300 });
      publisher.start();
      await until(() => lines.some((l) => l.level === 'warn'), 5_000, 'the warning of a long outage');
      const ended = lines.filter((l) => l.message === 'publish call ended');
      expect(ended.length).toBeGreaterThan(1);
      expect(ended.every((l) => l.level === 'log')).toBe(true);
      expect(lines.filter((l) => l.level === 'warn')).toEqual([{ level: 'warn', message: 'supplier unavailable' }]);
      answer = { code: grpc.status.UNAUTHENTICATED, details: 'wrong bearer token' };
      await until(() => lines.filter((l) => l.level === 'warn' && l.message === 'publish call ended').length >= 2, 5_000, 'a warning per refusal');
    } finally {
      server.forceShutdown();
    }
  });

  it('keeps only the newest frame while the supplier is unavailable, and sends it once connected', async () => {
    const s = new RecordingSupplier();
    servers.push(s);
    const port = await s.start();
    s.stop();
    publisher = new FramePublisher({ address: `127.0.0.1:${port}`, streamId: 'cam-1' });
    publisher.start();
    for (let i = 0; i < 5; i++) publisher.publish(frameOf(100));
    expect(publisher.stats.localDrops).toBe(4);
    expect(publisher.framesHeld).toBe(1);
    const again = await supplier(true, port);
    await until(() => again.frames.length === 1, 5_000, 'the waiting frame');
    expect(again.frames[0].sequence).toBe(5);
  });

  it('reconnects after the supplier restarts on the same port, and sequence numbers continue', async () => {
    const first = await supplier();
    const port = first.port;
    publisher = new FramePublisher({ address: `127.0.0.1:${port}`, streamId: 'cam-1' });
    publisher.start();
    const p = publisher;
    const timer = setInterval(() => p.publish(frameOf(2000)), 5);
    try {
      await until(() => first.frames.length >= 5, 3_000, 'frames at the first supplier');
      first.stop();
      const lastBefore = first.frames[first.frames.length - 1].sequence;
      await pause(300);
      const second = await supplier(true, port);
      await until(() => second.frames.length >= 5, 8_000, 'frames at the restarted supplier');
      expect(p.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(second.frames[0].sequence).toBeGreaterThan(lastBefore);
      expectIncreasing([...first.frames, ...second.frames].map((f) => f.sequence));
    } finally {
      clearInterval(timer);
    }
  });

  it('never queues when the supplier does not read: frames held stay bounded and drops are counted', async () => {
    const s = await supplier(false);
    publisher = new FramePublisher({ address: `127.0.0.1:${s.port}`, streamId: 'cam-1' });
    publisher.start();
    await until(() => publisher!.connected && s.calls === 1, 3_000, 'the Publish call');  
    const frameBytes = 256 * 1024;
    const count = 400;
    let maxHeld = 0;
    collectGarbage();
    const buffersBefore = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < count; i++) {
      publisher.publish(frameOf(frameBytes));
      maxHeld = Math.max(maxHeld, publisher.framesHeld);
      if (i % 10 === 0) await pause(2);
    }
    expect(maxHeld).toBeLessThanOrEqual(2);
    expect(publisher.stats.localDrops).toBeGreaterThan(count / 2);
    expect(publisher.stats.framesPublished + publisher.stats.localDrops).toBeGreaterThanOrEqual(count - 1);
    // 400 frames of 256 KiB are 100 MiB; what stays referenced is the flow-control window's worth
    // and the frames held. Collected first: frames dropped but not yet collected are not queued.
    collectGarbage();
    const retained = process.memoryUsage().arrayBuffers - buffersBefore;
    console.log(`publisher to a supplier that never reads: ${(retained / 2 ** 20).toFixed(1)} MiB retained after ${count} frames of 256 KiB`);
    expect(retained).toBeLessThan(16 * 1024 * 1024);
    const started = performance.now();
    await publisher.close(300);
    expect(performance.now() - started).toBeLessThan(1_500);
  });

  describe('with a shared-memory ring', () => {
    const ringName = `fw-test-publisher-${process.pid}`;
    let ring: FrameRingWriter | undefined;
    afterEach(() => {
      ring?.close();
      ring = undefined;
    });

    it('writes each frame into the ring and publishes its reference without the bytes', async () => {
      const s = await supplier();
      ring = FrameRingWriter.create({ name: ringName, slotCount: 8, slotBytes: 64 * 1024 });
      publisher = new FramePublisher({ address: `127.0.0.1:${s.port}`, streamId: 'cam-shm', ring });
      publisher.start();
      await until(() => publisher!.connected, 3_000, 'the Publish call');  
      const sent = [frameOf(5000, 1), frameOf(6000, 2), frameOf(7000, 3)];
      for (const f of sent) {
        publisher.publish(f);
        await pause(5);
      }
      await until(() => s.frames.length + publisher!.stats.localDrops >= 3, 3_000, 'the frames');  
      const reader = FrameRingReader.open(ringName);
      try {
        expect(reader.token).toBe(ring.token);
        for (const f of s.frames) {
          expect(f.data).toBeUndefined();
          expect(f.shmRef?.ringName).toBe(ringName);
          expect(f.sizeBytes).toBe(sent[f.sequence - 1].data.byteLength);
          const read = reader.read({ ...f.shmRef!, length: f.sizeBytes });  
          expect(read.ok && Buffer.from(read.data).equals(Buffer.from(sent[f.sequence - 1].data))).toBe(true);
        }
      } finally {
        reader.close();
      }
    });

    it('publishes a frame larger than a slot as bytes, counted', async () => {
      const s = await supplier();
      ring = FrameRingWriter.create({ name: ringName, slotCount: 2, slotBytes: 4096 });
      publisher = new FramePublisher({ address: `127.0.0.1:${s.port}`, streamId: 'cam-shm', ring });
      publisher.start();
      await until(() => publisher!.connected, 3_000, 'the Publish call');  
      publisher.publish(frameOf(10_000, 9));
      await until(() => s.frames.length === 1, 3_000, 'the frame');
      expect(s.frames[0].shmRef).toBeUndefined();
      expect(s.frames[0].data).toEqual(Buffer.alloc(10_000, 9));
      expect(publisher.stats.ringFallbacks).toBe(1);
    });
  });
});
