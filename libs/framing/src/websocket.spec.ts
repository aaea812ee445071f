import WebSocket, { WebSocketServer } from 'ws';
import { EmptyFrameError, FrameTooLargeError, SinkClosedError, UnexpectedTextMessageError } from './errors';
import { Frame, FrameSource } from './types';
import {
  connectWebSocketFrames,
  listenWebSocketFrames,
  RECEIVED_BYTES_HIGH_WATER,
  webSocketFrames,
  WebSocketFrameServer,
  WS_CLOSE_MESSAGE_TOO_BIG,
  WS_CLOSE_POLICY_VIOLATION,
  WS_CLOSE_UNSUPPORTED_DATA,
} from './websocket';

const LOOPBACK = '127.0.0.1';
const cleanups: (() => Promise<unknown> | void)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function startServer(maxFrameBytes?: number): Promise<{ server: WebSocketFrameServer; url: string }> {
  const server = await listenWebSocketFrames({ host: LOOPBACK, port: 0, path: '/frames', maxFrameBytes });
  cleanups.push(() => server.close());
  return { server, url: `ws://${LOOPBACK}:${server.port}/frames` };
}

/** A plain ws client, to send what a framewire sink never would (text, empty, oversized). */
async function rawClient(url: string): Promise<{ ws: WebSocket; closeCode: Promise<number> }> {
  const ws = new WebSocket(url);
  cleanups.push(() => void ws.terminate());
  const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  return { ws, closeCode };
}

async function collect(source: FrameSource): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const frame of source) frames.push(frame);
  return frames;
}

describe('WebSocket framing', () => {
  it('carries each frame as one binary message, both ways, offsets being message indexes', async () => {
    const { server, url } = await startServer();
    const client = await connectWebSocketFrames(url);
    cleanups.push(() => client.close());
    const conn = await server.accept();

    await client.sink.write(Uint8Array.of(1, 2, 3));
    await client.sink.write(new Uint8Array(100_000).fill(9));
    expect(client.sink.bytesWritten).toBe(100_003);
    const received: Frame[] = [];
    for await (const frame of conn.frames) {
      received.push(frame);
      await conn.sink.write(frame.payload);
      if (received.length === 2) break;
    }
    expect(received.map((f) => [f.offset, f.payload.length])).toEqual([
      [0, 3],
      [1, 100_000],
    ]);
    // Breaking out of the server's loop closed that connection: the client's frames end cleanly.
    expect((await collect(client.frames)).map((f) => f.payload.length)).toEqual([3, 100_000]);
  });

  it('stops reading a peer whose unread messages reach RECEIVED_BYTES_HIGH_WATER, and reads on once they are taken', async () => {
    const { server, url } = await startServer();
    const { ws } = await rawClient(url);
    const conn = await server.accept();
    let arrived = 0;
    conn.ws.on('message', () => arrived++);
    const messageBytes = 1024 * 1024;
    const count = 40;
    for (let i = 0; i < count; i++) ws.send(Buffer.alloc(messageBytes, i), { binary: true });
    // Nobody takes the frames: the connection stops reading once they hold RECEIVED_BYTES_HIGH_WATER.
    let last = -1;
    while (arrived !== last) {
      last = arrived;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // 8 messages, and those ws had already read from the socket when it was paused.
    expect(arrived).toBeLessThanOrEqual(16);
    expect(RECEIVED_BYTES_HIGH_WATER).toBe(8 * messageBytes);
    let received = 0;
    for await (const frame of conn.frames) {
      expect(frame.payload[0]).toBe(received);
      if (++received === count) break;
    }
    expect(received).toBe(count);
  });

  it('sends payloads without any prefix', async () => {
    const { server, url } = await startServer();
    const { ws } = await rawClient(url);
    const message = new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
    const conn = await server.accept();
    await conn.sink.write(Uint8Array.of(0xca, 0xfe));
    expect((await message).toString('hex')).toBe('cafe');
  });

  it('fails with UnexpectedTextMessageError on a text message, after the frames before it, and closes with 1003', async () => {
    const { server, url } = await startServer();
    const { ws, closeCode } = await rawClient(url);
    const conn = await server.accept();
    ws.send(Uint8Array.of(1), { binary: true });
    ws.send('hello');
    const seen: number[] = [];
    const reading = (async () => {
      for await (const frame of conn.frames) seen.push(frame.offset);
    })();
    await expect(reading).rejects.toBeInstanceOf(UnexpectedTextMessageError);
    await expect(reading).rejects.toEqual(expect.objectContaining({ code: 'UNEXPECTED_TEXT_MESSAGE', offset: 1 }));
    expect(seen).toEqual([0]);
    expect(await closeCode).toBe(WS_CLOSE_UNSUPPORTED_DATA);
  });

  it('refuses a binary message over the limit (ws maxPayload) and closes with 1009', async () => {
    const { server, url } = await startServer(1024);
    const { ws, closeCode } = await rawClient(url);
    const conn = await server.accept();
    ws.send(new Uint8Array(1024), { binary: true });
    ws.send(new Uint8Array(1025), { binary: true });
    const seen: number[] = [];
    const reading = (async () => {
      for await (const frame of conn.frames) seen.push(frame.payload.length);
    })();
    await expect(reading).rejects.toBeInstanceOf(FrameTooLargeError);
    await expect(reading).rejects.toEqual(expect.objectContaining({ maxFrameBytes: 1024, offset: 1, length: -1, message: 'frame length exceeds the 1024-byte limit at offset 1' }));
    expect(seen).toEqual([1024]);
    expect(await closeCode).toBe(WS_CLOSE_MESSAGE_TOO_BIG);
  });

  it('checks the limit itself on a WebSocket created elsewhere, naming the exact length', async () => {
    const wss = new WebSocketServer({ host: LOOPBACK, port: 0 });
    cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
    await new Promise((resolve) => wss.once('listening', resolve));
    const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    const { ws, closeCode } = await rawClient(`ws://${LOOPBACK}:${(wss.address() as { port: number }).port}`);
    const frames = webSocketFrames(await accepted, { maxFrameBytes: 100 });
    ws.send(new Uint8Array(2000), { binary: true });
    await expect(collect(frames)).rejects.toEqual(expect.objectContaining({ code: 'FRAME_TOO_LARGE', length: 2000, offset: 0 }));
    expect(await closeCode).toBe(WS_CLOSE_MESSAGE_TOO_BIG);
  });

  it('refuses an empty binary message with EmptyFrameError and closes with 1008', async () => {
    const { server, url } = await startServer();
    const { ws, closeCode } = await rawClient(url);
    const conn = await server.accept();
    ws.send(new Uint8Array(0), { binary: true });
    await expect(collect(conn.frames)).rejects.toEqual(expect.objectContaining({ code: 'EMPTY_FRAME', offset: 0 }));
    expect(await closeCode).toBe(WS_CLOSE_POLICY_VIOLATION);
  });

  it('applies the client limit to messages from the server', async () => {
    const { server, url } = await startServer();
    const client = await connectWebSocketFrames(url, { maxFrameBytes: 64 });
    cleanups.push(() => client.close());
    const conn = await server.accept();
    await conn.sink.write(new Uint8Array(65));
    await expect(collect(client.frames)).rejects.toBeInstanceOf(FrameTooLargeError);
  });

  it('rejects empty writes and writes after close', async () => {
    const { server, url } = await startServer();
    const client = await connectWebSocketFrames(url);
    const conn = await server.accept();
    await expect(client.sink.write(new Uint8Array(0))).rejects.toBeInstanceOf(EmptyFrameError);
    await client.sink.write(Uint8Array.of(1));
    const reading = collect(conn.frames);
    await Promise.all([client.close(), client.close()]);
    await expect(client.sink.write(Uint8Array.of(2))).rejects.toBeInstanceOf(SinkClosedError);
    expect((await reading).map((f) => f.offset)).toEqual([0]);
  });

  it('stops reading when the signal aborts, and closes the WebSocket', async () => {
    const { server, url } = await startServer();
    const controller = new AbortController();
    const client = await connectWebSocketFrames(url, { signal: controller.signal });
    await server.accept();
    const reading = collect(client.frames);
    setTimeout(() => controller.abort(), 5);
    await expect(reading).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
    await client.closed;
  });

  it('fails to connect to a path the server does not serve', async () => {
    const { server } = await startServer();
    await expect(connectWebSocketFrames(`ws://${LOOPBACK}:${server.port}/elsewhere`)).rejects.toThrow(/400/);
  });
});
