import { mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrames } from './encode';
import { FrameTooLargeError, TruncatedFrameError } from './errors';
import { decodeFrames } from './frame-decoder';
import { connectFrames, connectFrameSink, connectFrameSource, listenFrames, SocketEndpoint, SocketFrameServer } from './socket';
import { Frame, FrameSource } from './types';

const LOOPBACK = '127.0.0.1';
const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function startServer(endpoint: SocketEndpoint = { host: LOOPBACK, port: 0 }, maxFrameBytes?: number): Promise<SocketFrameServer> {
  const server = await listenFrames(endpoint, { maxFrameBytes });
  cleanups.push(() => server.close());
  return server;
}

async function collect(source: FrameSource): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const frame of source) frames.push(frame);
  return frames;
}

/** A plain socket, to put hand-made bytes on the wire. */
async function rawClient(endpoint: SocketEndpoint): Promise<Socket> {
  const socket = 'path' in endpoint ? connect(endpoint.path) : connect(endpoint.port, endpoint.host);
  cleanups.push(() => void socket.destroy());
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

const bytesOf = async (socket: Socket): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

describe('TCP framing', () => {
  it('carries frames both ways with uint32 LE prefixes', async () => {
    const server = await startServer();
    const client = await connectFrames(server.endpoint);
    cleanups.push(() => client.close());
    const conn = await server.accept();

    await client.sink.write(Uint8Array.of(1, 2, 3));
    await client.sink.write(new Uint8Array(70_000).fill(7));
    const received: Frame[] = [];
    for await (const frame of conn.frames) {
      received.push(frame);
      await conn.sink.write(frame.payload);
      if (received.length === 2) break;
    }
    expect(received.map((f) => f.offset)).toEqual([0, 7]);
    expect(received[1].payload.every((b) => b === 7)).toBe(true);

    const echoed: number[] = [];
    for await (const frame of client.frames) {
      echoed.push(frame.payload.length);
      if (echoed.length === 2) break;
    }
    expect(echoed).toEqual([3, 70_000]);
  });

  it('puts exactly [length uint32 LE][payload] on the wire', async () => {
    const server = await startServer();
    const raw = await rawClient(server.endpoint);
    const conn = await server.accept();
    const received = bytesOf(raw);
    await conn.sink.write(new Uint8Array(300).fill(0xab));
    await conn.close();
    const bytes = await received;
    expect(bytes.subarray(0, 5).toString('hex')).toBe('2c010000ab');
    expect(bytes.length).toBe(304);
  });

  it('decodes hand-made bytes from a plain client, split across writes', async () => {
    const server = await startServer();
    const raw = await rawClient(server.endpoint);
    const conn = await server.accept();
    raw.write(Buffer.from('0200', 'hex'));
    await new Promise((resolve) => setTimeout(resolve, 5));
    raw.end(Buffer.from('0000aabb01000000cc', 'hex'));
    const frames = await collect(conn.frames);
    expect(frames.map((f) => [Buffer.from(f.payload).toString('hex'), f.offset])).toEqual([
      ['aabb', 0],
      ['cc', 6],
    ]);
  });

  it('fails with TruncatedFrameError when the peer closes inside a frame', async () => {
    const server = await startServer();
    const raw = await rawClient(server.endpoint);
    const conn = await server.accept();
    raw.end(Buffer.from('01000000cc05000000aa', 'hex'));
    const seen: number[] = [];
    const reading = (async () => {
      for await (const frame of conn.frames) seen.push(frame.offset);
    })();
    await expect(reading).rejects.toBeInstanceOf(TruncatedFrameError);
    await expect(reading).rejects.toEqual(expect.objectContaining({ offset: 5, expected: 9, available: 5 }));
    expect(seen).toEqual([0]);
  });

  it('rejects a frame above the limit and drops the connection', async () => {
    const server = await startServer({ host: LOOPBACK, port: 0 }, 1024);
    const raw = await rawClient(server.endpoint);
    const conn = await server.accept();
    raw.write(encodeFrames([new Uint8Array(2000)], 'u32le'));
    await expect(collect(conn.frames)).rejects.toEqual(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE', length: 2000, maxFrameBytes: 1024, offset: 0 }),
    );
    await conn.closed;
    await new Promise<void>((resolve) => (raw.closed ? resolve() : raw.once('close', () => resolve())));
  });

  it('stops reading when the signal aborts, and closes the connection', async () => {
    const server = await startServer();
    const controller = new AbortController();
    const client = await connectFrames(server.endpoint, { signal: controller.signal });
    cleanups.push(() => client.close());
    await server.accept();
    const reading = collect(client.frames);
    setTimeout(() => controller.abort(), 5);
    await expect(reading).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
    await client.closed;
  });

  it('closes the connections it accepted when the server closes', async () => {
    const server = await listenFrames({ host: LOOPBACK, port: 0 });
    const client = await connectFrames(server.endpoint);
    cleanups.push(() => client.close());
    await server.accept();
    expect(server.connectionCount).toBe(1);
    const reading = collect(client.frames);
    await server.close();
    await expect(reading).resolves.toEqual([]);
    await expect(server.accept()).rejects.toThrow(/closed/);
  });

  it('makes writers wait while the peer does not read, then lets them through', async () => {
    const server = await startServer();
    const client = await connectFrames(server.endpoint);
    cleanups.push(() => client.close());
    const conn = await server.accept();
    const frameBytes = 256 * 1024;
    const total = 128; // 32 MiB: more than loopback socket buffers and the reader's bounded queue hold
    let settled = 0;
    const writes = Array.from({ length: total }, (_, i) => client.sink.write(new Uint8Array(frameBytes).fill(i)).then(() => settled++));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBeLessThan(total);
    let count = 0;
    for await (const frame of conn.frames) {
      expect(frame.payload[frameBytes - 1]).toBe(count & 0xff);
      if (++count === total) break;
    }
    await Promise.all(writes);
    expect(settled).toBe(total);
  });

  it('refuses to connect to a port nobody listens on', async () => {
    const server = await listenFrames({ host: LOOPBACK, port: 0 });
    const { endpoint } = server;
    await server.close();
    await expect(connectFrames(endpoint)).rejects.toEqual(expect.objectContaining({ code: 'ECONNREFUSED' }));
  });
});

describe('Unix domain socket framing', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'framing-unix-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
  });

  it('streams frames from a server to connectFrameSource and back through connectFrameSink', async () => {
    const path = join(dir, 'fw.sock');
    const server = await startServer({ path });

    const serving = (async () => {
      for await (const conn of server) {
        for (let n = 1; n <= 100; n++) await conn.sink.write(new Uint8Array(n).fill(n));
        await conn.close();
        return;
      }
    })();
    const frames = await collect(connectFrameSource({ path }));
    await serving;
    expect(frames.map((f) => f.payload.length)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));

    const sink = await connectFrameSink({ path });
    const conn = await server.accept();
    await sink.write(Uint8Array.of(42));
    await sink.write(Uint8Array.of(43, 43));
    expect(sink.bytesWritten).toBe(11);
    const reading = collect(conn.frames);
    await sink.close();
    expect((await reading).map((f) => [...f.payload])).toEqual([[42], [43, 43]]);
  });

  it('writes uint32 LE frames that a plain reader decodes', async () => {
    const path = join(dir, 'fw.sock');
    const server = await startServer({ path });
    const raw = await rawClient({ path });
    const conn = await server.accept();
    const received = bytesOf(raw);
    await conn.sink.write(Uint8Array.of(1));
    await conn.sink.write(Uint8Array.of(2, 2));
    await conn.close();
    expect(decodeFrames(await received, { framing: 'u32le' }).map((f) => f.payload.length)).toEqual([1, 2]);
  });

  it('removes its socket file on close', async () => {
    const path = join(dir, 'fw.sock');
    const server = await listenFrames({ path });
    expect(existsSync(path)).toBe(true);
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  it('applies its own frame limit to a Unix peer', async () => {
    const path = join(dir, 'fw.sock');
    const server = await startServer({ path }, 16);
    const raw = await rawClient({ path });
    const conn = await server.accept();
    raw.write(encodeFrames([new Uint8Array(17)], 'u32le'));
    await expect(collect(conn.frames)).rejects.toBeInstanceOf(FrameTooLargeError);
  });
});
