import fc from 'fast-check';
import sharp from 'sharp';
import { InvalidJpegError, MjpegFrameTooLargeError } from './errors';
import { jpegSize, MjpegSplitter } from './mjpeg';

/** Real JPEGs of different sizes and content (baseline and progressive). */
let samples: Buffer[] = [];

beforeAll(async () => {
  const make = (w: number, h: number, seed: number, progressive: boolean) => {
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * seed * 2654435761) >>> 24; // noisy content: many FF bytes in the scan
    return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 90, progressive }).toBuffer();
  };
  samples = await Promise.all([make(16, 16, 1, false), make(33, 17, 3, false), make(64, 48, 5, true), make(8, 120, 7, false)]);
});

function splitAll(chunks: Buffer[], splitter = new MjpegSplitter()): Buffer[] {
  return chunks.flatMap((c) => splitter.push(c));
}

/** `bytes` cut at the given offsets. */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

describe('MjpegSplitter', () => {
  it('splits concatenated JPEGs into the same JPEGs', () => {
    expect(splitAll([Buffer.concat(samples)])).toEqual(samples);
  });

  it('gives the same frames for any chunking of the stream (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(samples.length - 1), { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b).map((x) => (x === 0xff ? 0x00 : x))),
        (order, offsets, garbage) => {
          const frames = order.map((i) => samples[i]);
          // Bytes between frames that hold no FF are skipped.
          const stream = Buffer.concat(frames.flatMap((f) => [garbage, f]));
          expect(splitAll(cut(stream, offsets))).toEqual(frames);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('handles markers split between one-byte chunks', () => {
    const stream = Buffer.concat(samples);
    const chunks = Array.from(stream, (b) => Buffer.of(b));
    expect(splitAll(chunks)).toEqual(samples);
  });

  it('copies each frame into a buffer of its own', () => {
    const stream = Buffer.concat([samples[0], samples[1]]);
    const [a] = splitAll([stream]);
    stream.fill(0);
    expect(a).toEqual(samples[0]);
  });

  it('keeps an unfinished frame until its end arrives', () => {
    const splitter = new MjpegSplitter();
    expect(splitter.push(samples[0].subarray(0, 100))).toEqual([]);
    expect(splitter.midFrame).toBe(true);
    expect(splitter.push(samples[0].subarray(100))).toEqual([samples[0]]);
    expect(splitter.midFrame).toBe(false);
  });

  it('refuses a frame above the limit with a typed error', () => {
    const splitter = new MjpegSplitter(100);
    expect(() => splitter.push(samples[2])).toThrow(MjpegFrameTooLargeError);
    // And recovers on the next frame.
    expect(new MjpegSplitter(100_000).push(samples[0])).toEqual([samples[0]]);
  });

  it('never throws anything but its typed error on arbitrary bytes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 }), (chunks) => {
        const splitter = new MjpegSplitter(256);
        for (const c of chunks) {
          try {
            splitter.push(Buffer.from(c));
          } catch (err) {
            expect(err).toBeInstanceOf(MjpegFrameTooLargeError);
          }
        }
      }),
    );
  });
});

describe('jpegSize', () => {
  it('reads the size from baseline and progressive JPEGs', () => {
    expect(samples.map(jpegSize)).toEqual([
      { width: 16, height: 16 },
      { width: 33, height: 17 },
      { width: 64, height: 48 },
      { width: 8, height: 120 },
    ]);
  });

  it('refuses bytes that are not a JPEG, and never throws anything else (property)', () => {
    expect(() => jpegSize(Buffer.from('GIF89a'))).toThrow(InvalidJpegError);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const withSoi = Buffer.concat([Buffer.of(0xff, 0xd8), Buffer.from(bytes)]);
        for (const b of [Buffer.from(bytes), withSoi]) {
          try {
            const size = jpegSize(b);
            expect(size.width).toBeGreaterThan(0);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidJpegError);
          }
        }
      }),
    );
  });
});
