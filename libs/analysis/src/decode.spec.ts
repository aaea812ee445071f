// Frame decoding: every JPEG decoder on real scene frames, raw formats, and bad input → typed errors.
import { renderSceneJpeg, sceneAt, SceneOptions } from '@framewire/capture';
import { PixelFormat } from '@framewire/proto';
import fc from 'fast-check';
import sharp from 'sharp';
import { decodeFrame, decodePixels, JPEG_DECODERS, jpegDimensions } from './decode';
import { FrameDecodeError, UnsupportedPixelFormatError } from './errors';

const SCENE: SceneOptions = { width: 640, height: 480, fps: 15, seed: 1 };
const COLOUR_TOLERANCE = 30;
let jpeg: Buffer;

beforeAll(async () => {
  jpeg = await renderSceneJpeg(0, SCENE, 80);
});

function pixel(image: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const i = (y * image.width + x) * 3;
  return [image.data[i], image.data[i + 1], image.data[i + 2]];
}

describe.each(JPEG_DECODERS)('decodeFrame with %s', (decoder) => {
  it('decodes a 640x480 scene frame to 320x240 RGB with scale 2 and the objects in their colours', async () => {
    const d = await decodeFrame(jpeg, { maxWidth: 320, decoder });
    expect([d.frameWidth, d.frameHeight, d.image.width, d.image.height, d.scale]).toEqual([640, 480, 320, 240, 2]);
    expect(d.image.data.length).toBe(320 * 240 * 3);
    for (const o of sceneAt(0, SCENE).objects) {
      const got = pixel(d.image, Math.floor(o.center.x / 2), Math.floor(o.center.y / 2 + o.halfSize / 4));
      got.forEach((v, c) => expect(Math.abs(v - o.color[c])).toBeLessThanOrEqual(COLOUR_TOLERANCE));
    }
    pixel(d.image, 2, 2).forEach((v, c) => expect(Math.abs(v - SCENE_BACKGROUND[c])).toBeLessThanOrEqual(COLOUR_TOLERANCE));
  });

  it('never upscales: a frame narrower than maxWidth keeps its size', async () => {
    const d = await decodeFrame(jpeg, { maxWidth: 4096, decoder });
    expect([d.image.width, d.image.height, d.scale]).toEqual([640, 480, 1]);
  });

  it('keeps the aspect ratio for a width that does not divide evenly', async () => {
    const d = await decodeFrame(jpeg, { maxWidth: 300, decoder });
    expect([d.image.width, d.image.height]).toEqual([300, 225]);
    expect(d.scale).toBeCloseTo(640 / 300);
  });

  it('rejects a truncated JPEG and random bytes with FrameDecodeError', async () => {
    await expect(decodeFrame(jpeg.subarray(0, jpeg.length >> 1), { maxWidth: 320, decoder })).rejects.toBeInstanceOf(FrameDecodeError);
    await expect(decodeFrame(jpeg.subarray(0, 300), { maxWidth: 320, decoder })).rejects.toBeInstanceOf(FrameDecodeError);
    const random = Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24);
    await expect(decodeFrame(random, { maxWidth: 320, decoder })).rejects.toBeInstanceOf(FrameDecodeError);
    await expect(decodeFrame(new Uint8Array(0), { maxWidth: 320, decoder })).rejects.toBeInstanceOf(FrameDecodeError);
  });

  it('turns any byte string, or a JPEG with bytes changed, into an image or a FrameDecodeError, nothing else', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }),
          fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, bytes]) => {
            const copy = Buffer.from(jpeg);
            copy.set(bytes, at % (copy.length - bytes.length));
            return copy;
          }),
        ),
        async (bytes) => {
          try {
            const d = await decodeFrame(bytes, { maxWidth: 320, decoder });
            expect(d.image.data.length).toBe(d.image.width * d.image.height * 3);
          } catch (err) {
            expect(err).toBeInstanceOf(FrameDecodeError);
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});

const SCENE_BACKGROUND = [16, 18, 28];

describe('decoders agree', () => {
  it('gives nearly the same 320x240 image from every decoder', async () => {
    const images = await Promise.all(JPEG_DECODERS.map((decoder) => decodeFrame(jpeg, { maxWidth: 320, decoder })));
    for (const other of images.slice(1)) {
      let sum = 0;
      for (let i = 0; i < other.image.data.length; i++) sum += Math.abs(other.image.data[i] - images[0].image.data[i]);
      expect(sum / other.image.data.length).toBeLessThan(4);
    }
  });
});

describe('jpegDimensions', () => {
  it('reads the size from the frame header', () => {
    expect(jpegDimensions(jpeg)).toEqual({ width: 640, height: 480 });
  });

  it('throws only FrameDecodeError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withSoi) => {
        const input = withSoi ? Uint8Array.from([0xff, 0xd8, ...bytes]) : bytes;
        try {
          const { width, height } = jpegDimensions(input);
          expect(width).toBeGreaterThan(0);
          expect(height).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameDecodeError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decodePixels', () => {
  // 4x2 frame: left 2x2 block red-ish, right block blue-ish, averaged into 2x1.
  const rgb = Uint8Array.from([10, 20, 30, 30, 40, 50, 200, 0, 100, 100, 0, 200, 10, 20, 30, 30, 40, 50, 200, 0, 100, 100, 0, 200]);

  it('box-downscales RGB24 and converts BGR24, RGBA32 and GRAY8', async () => {
    const d = await decodePixels(rgb, { pixelFormat: PixelFormat.PIXEL_FORMAT_RGB24, width: 4, height: 2 }, { maxWidth: 2 });
    expect([d.image.width, d.image.height, d.scale, d.frameWidth, d.frameHeight]).toEqual([2, 1, 2, 4, 2]);
    expect([...d.image.data]).toEqual([20, 30, 40, 150, 0, 150]);
    const bgr = rgb.map((_, i) => rgb[i - (i % 3) + 2 - (i % 3)]);
    expect([...(await decodePixels(bgr, { pixelFormat: PixelFormat.PIXEL_FORMAT_BGR24, width: 4, height: 2 }, { maxWidth: 8 })).image.data]).toEqual([...rgb]);
    const rgba = new Uint8Array(32);
    for (let p = 0; p < 8; p++) rgba.set([...rgb.subarray(p * 3, p * 3 + 3), 255], p * 4);
    expect([...(await decodePixels(rgba, { pixelFormat: PixelFormat.PIXEL_FORMAT_RGBA32, width: 4, height: 2 }, { maxWidth: 4 })).image.data]).toEqual([...rgb]);
    const grey = await decodePixels(Uint8Array.from([0, 50, 100, 150]), { pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8, width: 2, height: 2 }, { maxWidth: 1 });
    expect([...grey.image.data]).toEqual([75, 75, 75]);
  });

  it('decodes JPEG and PNG frames', async () => {
    expect((await decodePixels(jpeg, { pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG, width: 640, height: 480 }, { maxWidth: 320 })).scale).toBe(2);
    const png = await sharp(Buffer.from(rgb), { raw: { width: 4, height: 2, channels: 3 } }).png().toBuffer();
    const d = await decodePixels(png, { pixelFormat: PixelFormat.PIXEL_FORMAT_PNG, width: 4, height: 2 }, { maxWidth: 4 });
    expect([...d.image.data]).toEqual([...rgb]);
  });

  it('rejects raw bytes of the wrong length with FrameDecodeError', async () => {
    await expect(decodePixels(rgb.subarray(1), { pixelFormat: PixelFormat.PIXEL_FORMAT_RGB24, width: 4, height: 2 }, { maxWidth: 2 })).rejects.toThrow(
      new FrameDecodeError('raw', '23 bytes for a 4x2 frame of 3 bytes per pixel (expected 24)'),
    );
    await expect(decodePixels(Uint8Array.from([1, 2, 3]), { pixelFormat: PixelFormat.PIXEL_FORMAT_PNG, width: 1, height: 1 }, { maxWidth: 2 })).rejects.toBeInstanceOf(FrameDecodeError);
  });

  it('rejects other pixel formats with UnsupportedPixelFormatError naming the format', async () => {
    const err = await decodePixels(rgb, { pixelFormat: PixelFormat.PIXEL_FORMAT_UNSPECIFIED, width: 4, height: 2 }, { maxWidth: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedPixelFormatError);
    expect((err as Error).message).toMatch(/^pixel format PIXEL_FORMAT_UNSPECIFIED \(0\) is not supported/);
    const unknown = await decodePixels(rgb, { pixelFormat: 42 as PixelFormat, width: 4, height: 2 }, { maxWidth: 2 }).catch((e: unknown) => e);
    expect((unknown as Error).message).toMatch(/^pixel format UNRECOGNIZED \(42\)/);
  });
});
