import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrames } from './encode';
import { EmptyFrameError, FramingError, SinkClosedError, TruncatedFrameError } from './errors';
import { openFileSink } from './file-sink';
import { openFileSource } from './file-source';
import { Frame, FrameSource } from './types';

/** Open file descriptors of this process (Linux), to prove sources close theirs. */
const openFds = (): number => readdirSync('/proc/self/fd').length;

async function collect(source: FrameSource): Promise<Frame[]> {
  const frames: Frame[] = [];
  for await (const frame of source) frames.push(frame);
  return frames;
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'framing-file-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const payloads = [Uint8Array.of(1), new Uint8Array(200).fill(2), new Uint8Array(100_000).fill(3), Uint8Array.of(4, 4)];

describe('openFileSink', () => {
  it('writes exactly the varint-framed bytes of formats.md §1, small and large frames alike', async () => {
    const path = join(dir, 'frames.bin');
    const sink = await openFileSink(path, { framing: 'varint', bufferBytes: 1024 });
    for (const p of payloads) await sink.write(p);
    expect(sink.bytesWritten).toBe(encodeFrames(payloads, 'varint').length);
    await sink.close();
    expect((await readFile(path)).equals(encodeFrames(payloads, 'varint'))).toBe(true);
  });

  it('keeps call order when writes are not awaited', async () => {
    const path = join(dir, 'frames.bin');
    const sink = await openFileSink(path, { bufferBytes: 64 });
    const sizes = Array.from({ length: 200 }, (_, i) => 1 + ((i * 37) % 150));
    const writes = sizes.map((n, i) => sink.write(new Uint8Array(n).fill(i & 0xff)));
    await Promise.all(writes);
    await sink.close();
    const frames = await collect(openFileSource(path));
    expect(frames.map((f) => f.payload.length)).toEqual(sizes);
    expect(frames.every((f, i) => f.payload[0] === (i & 0xff))).toBe(true);
  });

  it('appends after existing frames and reports where its first frame starts', async () => {
    const path = join(dir, 'frames.bin');
    const first = await openFileSink(path);
    await first.write(Uint8Array.of(1));
    await first.close();
    const second = await openFileSink(path, { append: true, fsyncOnFlush: true });
    expect(second.startOffset).toBe(2);
    await second.write(Uint8Array.of(2, 2));
    await second.flush();
    await second.close();
    expect((await readFile(path)).toString('hex')).toBe('0101020202');
  });

  it('rejects an empty payload with EmptyFrameError and writes nothing', async () => {
    const path = join(dir, 'frames.bin');
    const sink = await openFileSink(path);
    await expect(sink.write(new Uint8Array(0))).rejects.toBeInstanceOf(EmptyFrameError);
    await sink.close();
    expect((await readFile(path)).length).toBe(0);
  });

  it('rejects writes after close with SinkClosedError; close is idempotent and flushes', async () => {
    const path = join(dir, 'frames.bin');
    const sink = await openFileSink(path, { framing: 'u32le' });
    await sink.write(Uint8Array.of(9));
    await Promise.all([sink.close(), sink.close()]);
    await expect(sink.write(Uint8Array.of(9))).rejects.toBeInstanceOf(SinkClosedError);
    expect((await readFile(path)).toString('hex')).toBe('0100000009');
  });
});

describe('openFileSource', () => {
  it('reads every frame with bounded reads, frames spanning reads included', async () => {
    const path = join(dir, 'frames.bin');
    await writeFile(path, encodeFrames(payloads, 'varint'));
    for (const chunkBytes of [1000, 4096, undefined]) {
      const frames = await collect(openFileSource(path, { chunkBytes }));
      expect(frames.map((f) => f.payload.length)).toEqual(payloads.map((p) => p.length));
      expect(frames.map((f) => f.offset)).toEqual([0, 2, 204, 204 + 3 + 100_000]);
    }
    const small = join(dir, 'small.bin');
    await writeFile(small, encodeFrames(payloads.slice(0, 2), 'varint'));
    const frames = await collect(openFileSource(small, { chunkBytes: 1 }));
    expect(frames.map((f) => f.payload.length)).toEqual([1, 200]);
  });

  it('reads from an offset taken from an index, reporting file offsets', async () => {
    const path = join(dir, 'frames.bin');
    await writeFile(path, encodeFrames(payloads, 'varint'));
    const frames = await collect(openFileSource(path, { startOffset: 204 }));
    expect(frames.map((f) => f.offset)).toEqual([204, 100_207]);
  });

  it('yields the complete frames of a truncated file, then TruncatedFrameError, and closes the file', async () => {
    const path = join(dir, 'frames.bin');
    const bytes = encodeFrames(payloads, 'varint');
    await writeFile(path, bytes.subarray(0, 1000));
    const before = openFds();
    const seen: number[] = [];
    let failure: unknown;
    try {
      for await (const frame of openFileSource(path, { chunkBytes: 256 })) seen.push(frame.offset);
    } catch (error) {
      failure = error;
    }
    expect(seen).toEqual([0, 2]);
    expect(failure).toBeInstanceOf(TruncatedFrameError);
    expect(failure).toEqual(expect.objectContaining({ offset: 204, expected: 100_003, available: 796 }));
    expect(openFds()).toBe(before);
  });

  it('closes the file when the consumer breaks out of the loop', async () => {
    const path = join(dir, 'frames.bin');
    await writeFile(path, encodeFrames(payloads, 'varint'));
    const before = openFds();
    for await (const frame of openFileSource(path)) {
      expect(frame.offset).toBe(0);
      expect(openFds()).toBe(before + 1);
      break;
    }
    expect(openFds()).toBe(before);
  });

  it('stops with the abort reason and closes the file when the signal aborts', async () => {
    const path = join(dir, 'frames.bin');
    await writeFile(path, encodeFrames(payloads, 'varint'));
    const before = openFds();
    const controller = new AbortController();
    const reading = (async () => {
      for await (const frame of openFileSource(path, { signal: controller.signal })) {
        if (frame.offset === 2) controller.abort();
      }
    })();
    await expect(reading).rejects.toThrow(expect.objectContaining({ name: 'AbortError' }));
    expect(openFds()).toBe(before);
  });

  it('fails with the framing error at its offset for a malformed file', async () => {
    const path = join(dir, 'frames.bin');
    await writeFile(path, Uint8Array.of(0x01, 0xaa, 0x00));
    await expect(collect(openFileSource(path))).rejects.toEqual(expect.objectContaining({ code: 'EMPTY_FRAME', offset: 2 }));
    await expect(collect(openFileSource(path))).rejects.toBeInstanceOf(FramingError);
  });

  it('reports a missing file as the fs error', async () => {
    await expect(collect(openFileSource(join(dir, 'missing.bin')))).rejects.toEqual(expect.objectContaining({ code: 'ENOENT' }));
  });
});
