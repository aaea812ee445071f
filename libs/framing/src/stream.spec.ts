import { PassThrough, Readable, Writable } from 'node:stream';
import { encodeFrame, encodeFrames, ZERO_COPY_MIN_PAYLOAD_BYTES } from './encode';
import { EmptyFrameError, SinkClosedError, TruncatedFrameError } from './errors';
import { decodeFrames } from './frame-decoder';
import { readFrames } from './stream-source';
import { StreamFrameSink } from './stream-sink';
import { Frame } from './types';

async function collect(source: AsyncIterable<Frame>): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const frame of source) frames.push(frame);
  return frames;
}

/** A Writable that records each write() call as it arrives and completes writes only when told. */
class RecordingWritable extends Writable {
  readonly writes: Buffer[] = [];
  private held: (() => void)[] = [];
  constructor(
    private readonly holdWrites: boolean,
    highWaterMark = 16,
  ) {
    super({ highWaterMark });
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writes.push(Buffer.from(chunk));
    if (this.holdWrites) this.held.push(() => callback());
    else callback();
  }
  release(): void {
    const held = this.held;
    this.held = [];
    for (const done of held) done();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.writes);
  }
}

describe('readFrames', () => {
  const payloads = [Uint8Array.of(1), new Uint8Array(200).fill(2), Uint8Array.of(3, 3)];

  it('yields the frames of a Readable, whatever its chunking', async () => {
    const bytes = encodeFrames(payloads, 'varint');
    const chunks = [bytes.subarray(0, 1), bytes.subarray(1, 100), bytes.subarray(100)];
    const frames = await collect(readFrames(Readable.from(chunks)));
    expect(frames.map((f) => f.payload.length)).toEqual([1, 200, 2]);
    expect(frames.map((f) => f.offset)).toEqual([0, 2, 204]);
  });

  it('reads uint32 LE framing from any async iterable', async () => {
    async function* chunks(): AsyncGenerator<Uint8Array> {
      yield encodeFrames(payloads, 'u32le');
    }
    const frames = await collect(readFrames(chunks(), { framing: 'u32le' }));
    expect(frames.map((f) => [...f.payload.subarray(0, 1)])).toEqual([[1], [2], [3]]);
  });

  it('yields every complete frame, then TruncatedFrameError, when the input ends inside a frame', async () => {
    const bytes = encodeFrames(payloads, 'varint');
    const seen: number[] = [];
    const reading = (async () => {
      for await (const frame of readFrames(Readable.from([bytes.subarray(0, bytes.length - 1)]))) seen.push(frame.offset);
    })();
    await expect(reading).rejects.toThrow(expect.objectContaining({ code: 'TRUNCATED_FRAME', offset: 204, expected: 3, available: 2 }));
    expect(seen).toEqual([0, 2]);
  });

  it('refuses text chunks with a TypeError', async () => {
    await expect(collect(readFrames(Readable.from(['text'], { objectMode: true })))).rejects.toThrow(TypeError);
  });

  it('destroys the Readable when the consumer breaks out of the loop', async () => {
    const input = new PassThrough();
    input.write(encodeFrames(payloads, 'varint'));
    for await (const frame of readFrames(input)) {
      expect(frame.offset).toBe(0);
      break;
    }
    expect(input.destroyed).toBe(true);
  });

  it('stops waiting for input when the signal aborts, and destroys the Readable', async () => {
    const input = new PassThrough();
    const controller = new AbortController();
    const reading = collect(readFrames(input, { signal: controller.signal }));
    input.write(encodeFrame(Uint8Array.of(1), 'varint'));
    setTimeout(() => controller.abort(), 10);
    await expect(reading).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
    expect(input.destroyed).toBe(true);
  });

  it('stops an async generator that never yields when the signal aborts', async () => {
    let settle: () => void = () => undefined;
    async function* never(): AsyncGenerator<Uint8Array> {
      await new Promise<void>((resolve) => (settle = resolve));
      yield new Uint8Array(0);
    }
    const controller = new AbortController();
    const reading = collect(readFrames(never(), { signal: controller.signal }));
    controller.abort();
    await expect(reading).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
    settle();
  });
});

describe('StreamFrameSink', () => {
  it('writes each frame as one write() call of prefix and payload', async () => {
    const out = new RecordingWritable(false);
    const sink = new StreamFrameSink(out);
    await sink.write(Uint8Array.of(0xaa));
    await sink.write(new Uint8Array(300).fill(1));
    expect(out.writes.map((w) => w.length)).toEqual([2, 302]);
    expect(out.writes[0].toString('hex')).toBe('01aa');
    expect(sink.bytesWritten).toBe(304);
    await sink.close();
    expect(out.writableFinished).toBe(true);
  });

  it('waits for drain when the stream is full, and keeps frames in order and whole', async () => {
    const out = new RecordingWritable(true, 8);
    const sink = new StreamFrameSink(out, { framing: 'u32le' });
    let resolved = false;
    const first = sink.write(new Uint8Array(10).fill(1)).then(() => (resolved = true));
    const rest = [2, 3, 4].map((n) => sink.write(new Uint8Array(n).fill(n)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(resolved).toBe(false);
    const releasing = setInterval(() => out.release(), 1);
    await Promise.all([first, ...rest]);
    await sink.close();
    clearInterval(releasing);
    expect(resolved).toBe(true);
    expect(out.writes.map((w) => w.length)).toEqual([14, 6, 7, 8]);
    expect(decodeFrames(out.bytes, { framing: 'u32le' }).map((f) => f.payload[0])).toEqual([1, 2, 3, 4]);
  });

  it('hands large payloads to the stream uncopied, corked with their prefix into one writev', async () => {
    const chunks: Uint8Array[][] = [];
    const out = new Writable({
      writev(batch, callback) {
        chunks.push(batch.map((b) => b.chunk as Uint8Array));
        callback();
      },
    });
    const sink = new StreamFrameSink(out);
    const big = new Uint8Array(ZERO_COPY_MIN_PAYLOAD_BYTES).fill(7);
    await sink.write(big);
    await sink.write(new Uint8Array(ZERO_COPY_MIN_PAYLOAD_BYTES + 1).fill(8));
    expect(chunks).toHaveLength(2);
    expect(chunks[0]).toHaveLength(2);
    expect(Buffer.from(chunks[0][0]).toString('hex')).toBe('808001'); // varint 16384
    // The caller's memory itself (Node wraps a Uint8Array in a Buffer view), not a copy.
    expect(chunks[0][1].buffer).toBe(big.buffer);
    expect(chunks[0][1].byteOffset).toBe(big.byteOffset);
    const bytes = Buffer.concat(chunks.flat());
    expect(decodeFrames(bytes).map((f) => [f.payload.length, f.payload[0]])).toEqual([
      [16384, 7],
      [16385, 8],
    ]);
    expect(sink.bytesWritten).toBe(bytes.length);
    await sink.close();
  });

  it('rejects an empty payload with EmptyFrameError and writes nothing', async () => {
    const out = new RecordingWritable(false);
    const sink = new StreamFrameSink(out);
    await expect(sink.write(new Uint8Array(0))).rejects.toBeInstanceOf(EmptyFrameError);
    expect(out.writes).toHaveLength(0);
    expect(sink.bytesWritten).toBe(0);
  });

  it('rejects writes after close with SinkClosedError; close is idempotent', async () => {
    const out = new RecordingWritable(false);
    const sink = new StreamFrameSink(out);
    await sink.write(Uint8Array.of(1));
    await Promise.all([sink.close(), sink.close()]);
    await sink.close();
    await expect(sink.write(Uint8Array.of(2))).rejects.toEqual(expect.objectContaining({ code: 'SINK_CLOSED', offset: 2 }));
    await expect(sink.write(Uint8Array.of(2))).rejects.toBeInstanceOf(SinkClosedError);
    expect(out.writes).toHaveLength(1);
  });

  it('leaves the stream open on close when endOnClose is false', async () => {
    const out = new RecordingWritable(false);
    const sink = new StreamFrameSink(out, { endOnClose: false });
    await sink.write(Uint8Array.of(1));
    await sink.close();
    expect(out.writableEnded).toBe(false);
    out.end();
  });

  it('rejects writes once the stream has failed', async () => {
    const out = new RecordingWritable(false);
    const sink = new StreamFrameSink(out);
    out.destroy(new Error('disk gone'));
    await new Promise((resolve) => setImmediate(resolve));
    await expect(sink.write(Uint8Array.of(1))).rejects.toThrow('disk gone');
  });

  it('round-trips through a pipe with readFrames', async () => {
    const pipe = new PassThrough();
    const sink = new StreamFrameSink(pipe);
    const reading = collect(readFrames(pipe));
    for (let n = 1; n <= 50; n++) await sink.write(new Uint8Array(n * 10).fill(n));
    await sink.close();
    const frames = await reading;
    expect(frames.map((f) => f.payload.length)).toEqual(Array.from({ length: 50 }, (_, i) => (i + 1) * 10));
    expect(frames.every((f, i) => f.payload.every((b) => b === i + 1))).toBe(true);
  });
});

describe('TruncatedFrameError', () => {
  it('says how much of the frame arrived', () => {
    expect(new TruncatedFrameError(10, 5, 3).message).toBe('truncated frame: input ends after 3 of 5 bytes of the frame at offset 10');
  });
});
