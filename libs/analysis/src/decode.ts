// Frame decoding for analysis: JPEG (and raw/PNG) frame bytes → packed RGB, downscaled so that the
// analysis works on a small image. Three JPEG decoders were measured (bench/jpeg-decode.bench.ts);
// every failure becomes a FrameDecodeError so that a corrupt frame is counted, never a crash.
import { PixelFormat } from '@framewire/proto';
import { ResizeFilterType, Transformer } from '@napi-rs/image';
import * as jpegJs from 'jpeg-js';
import sharp from 'sharp';
import { RgbImage } from './analyzer';
import { FrameDecodeError, UnsupportedPixelFormatError } from './errors';

export type JpegDecoderName = 'sharp' | 'napi-rs' | 'jpeg-js';
export const JPEG_DECODERS: readonly JpegDecoderName[] = ['sharp', 'napi-rs', 'jpeg-js'];
/** The fastest decoder+downscale on this machine's kind (docs/benchmarks.md, "JPEG decode"). */
export const DEFAULT_JPEG_DECODER: JpegDecoderName = 'sharp';
/** Frames larger than this are refused before decoding (16384² would need 805 MB of RGB). */
export const MAX_FRAME_PIXELS = 8192 * 8192;

export interface DecodeOptions {
  /** Width of the analysed image; a wider frame is downscaled (aspect kept), a narrower one is not. */
  maxWidth: number;
  decoder?: JpegDecoderName;
}

export interface DecodedFrame {
  image: RgbImage;
  /** Frame pixels per image pixel: frameWidth / image.width (>= 1). */
  scale: number;
  frameWidth: number;
  frameHeight: number;
}

/** Size of the analysed image for a frame: width <= maxWidth, aspect kept, never upscaled. */
export function analysisSize(frameWidth: number, frameHeight: number, maxWidth: number): { width: number; height: number } {
  if (!Number.isInteger(maxWidth) || maxWidth < 1) throw new RangeError(`maxWidth must be a positive integer, got ${maxWidth}`);
  if (frameWidth <= maxWidth) return { width: frameWidth, height: frameHeight };
  return { width: maxWidth, height: Math.max(1, Math.round((frameHeight * maxWidth) / frameWidth)) };
}

/** Width and height from a JPEG's SOF header, without decoding; FrameDecodeError when there is none. */
export function jpegDimensions(jpeg: Uint8Array): { width: number; height: number } {
  const fail = (why: string) => new FrameDecodeError('jpeg', why);
  if (jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) throw fail(`not a JPEG (no SOI marker; ${jpeg.length} bytes)`);
  let i = 2;
  while (i + 4 <= jpeg.length) {
    if (jpeg[i] !== 0xff) throw fail(`expected a marker at offset ${i}, found 0x${jpeg[i].toString(16)}`);
    const marker = jpeg[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    // Standalone markers carry no length.
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      i += 2;
      continue;
    }
    if (marker === 0xd9 || marker === 0xda) break; // EOI or scan data before any frame header
    const length = (jpeg[i + 2] << 8) | jpeg[i + 3];
    if (length < 2) throw fail(`segment 0x${marker.toString(16)} at offset ${i} has length ${length}`);
    const isSof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (i + 9 > jpeg.length) break;
      const height = (jpeg[i + 5] << 8) | jpeg[i + 6];
      const width = (jpeg[i + 7] << 8) | jpeg[i + 8];
      if (width === 0 || height === 0) throw fail(`frame header at offset ${i} gives size ${width}x${height}`);
      if (width * height > MAX_FRAME_PIXELS) throw fail(`size ${width}x${height} exceeds the ${MAX_FRAME_PIXELS}-pixel limit`);
      return { width, height };
    }
    i += 2 + length;
  }
  throw fail(`no frame header (SOF) in ${jpeg.length} bytes`);
}

/** Decodes a JPEG frame to packed RGB at most `maxWidth` wide. Throws FrameDecodeError only. */
export async function decodeFrame(jpeg: Uint8Array, options: DecodeOptions): Promise<DecodedFrame> {
  const decoder = options.decoder ?? DEFAULT_JPEG_DECODER;
  const { width: frameWidth, height: frameHeight } = jpegDimensions(jpeg);
  // Some decoders return a half-grey image for a truncated JPEG; a frame cut short is corrupt for all.
  if (!endsWithEoi(jpeg)) throw new FrameDecodeError('jpeg', `truncated JPEG: no end-of-image marker in the last ${EOI_SEARCH_BYTES} of ${jpeg.length} bytes`);
  const target = analysisSize(frameWidth, frameHeight, options.maxWidth);
  let image: RgbImage;
  try {
    if (decoder === 'sharp') image = await decodeWithSharp(jpeg, target);
    else if (decoder === 'napi-rs') image = await decodeWithNapiRs(jpeg, frameWidth, frameHeight, target);
    else if (decoder === 'jpeg-js') image = decodeWithJpegJs(jpeg, target);
    else throw new RangeError(`unknown JPEG decoder ${JSON.stringify(decoder)} (known: ${JPEG_DECODERS.join(', ')})`);
  } catch (err) {
    if (err instanceof FrameDecodeError || err instanceof RangeError) throw err;
    throw new FrameDecodeError(decoder, `cannot decode ${jpeg.length}-byte JPEG ${frameWidth}x${frameHeight}: ${errorText(err)}`, { cause: err });
  }
  return { image, scale: frameWidth / image.width, frameWidth, frameHeight };
}

/** Trailing bytes searched for the EOI marker: some encoders pad after it. */
const EOI_SEARCH_BYTES = 64;

function endsWithEoi(jpeg: Uint8Array): boolean {
  for (let i = jpeg.length - 2; i >= Math.max(2, jpeg.length - EOI_SEARCH_BYTES); i--) {
    if (jpeg[i] === 0xff && jpeg[i + 1] === 0xd9) return true;
  }
  return false;
}

export interface PixelsDescription {
  pixelFormat: PixelFormat;
  /** Frame size as the frame message states it (raw formats need it; JPEG carries its own). */
  width: number;
  height: number;
}

/**
 * Decodes frame bytes in any supported pixel format: JPEG (with the chosen decoder), PNG (sharp),
 * and raw RGB24, BGR24, RGBA32, GRAY8 (converted and box-downscaled here). Others throw
 * UnsupportedPixelFormatError; bad bytes throw FrameDecodeError.
 */
export async function decodePixels(data: Uint8Array, frame: PixelsDescription, options: DecodeOptions): Promise<DecodedFrame> {
  const { pixelFormat, width, height } = frame;
  if (pixelFormat === PixelFormat.PIXEL_FORMAT_JPEG) return decodeFrame(data, options);
  if (pixelFormat === PixelFormat.PIXEL_FORMAT_PNG) return decodePng(data, options.maxWidth);
  const layout = RAW_LAYOUTS.get(pixelFormat);
  if (layout === undefined) throw new UnsupportedPixelFormatError(pixelFormat);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width * height > MAX_FRAME_PIXELS) {
    throw new FrameDecodeError('raw', `frame size ${width}x${height} is not a valid raw frame size`);
  }
  const expected = width * height * layout.channels;
  if (data.length !== expected) {
    throw new FrameDecodeError('raw', `${data.length} bytes for a ${width}x${height} frame of ${layout.channels} bytes per pixel (expected ${expected})`);
  }
  const target = analysisSize(width, height, options.maxWidth);
  const image = resampleToRgb(data, width, height, layout, target.width, target.height);
  return { image, scale: width / image.width, frameWidth: width, frameHeight: height };
}

interface RawLayout {
  channels: number;
  /** Offsets of R, G and B within a pixel. */
  r: number;
  g: number;
  b: number;
}

const RAW_LAYOUTS = new Map<PixelFormat, RawLayout>([
  [PixelFormat.PIXEL_FORMAT_RGB24, { channels: 3, r: 0, g: 1, b: 2 }],
  [PixelFormat.PIXEL_FORMAT_BGR24, { channels: 3, r: 2, g: 1, b: 0 }],
  [PixelFormat.PIXEL_FORMAT_RGBA32, { channels: 4, r: 0, g: 1, b: 2 }],
  [PixelFormat.PIXEL_FORMAT_GRAY8, { channels: 1, r: 0, g: 0, b: 0 }],
]);
const RGB_LAYOUT: RawLayout = { channels: 3, r: 0, g: 1, b: 2 };

/**
 * Converts packed pixels to RGB and downscales by averaging each output pixel's source rectangle
 * (an area filter: no aliasing of thin edges). Same size → a plain conversion.
 */
export function resampleToRgb(
  src: Uint8Array,
  srcWidth: number,
  srcHeight: number,
  layout: RawLayout,
  width: number,
  height: number,
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const { channels, r, g, b } = layout;
  if (width === srcWidth && height === srcHeight) {
    if (channels === 3 && r === 0 && g === 1 && b === 2) data.set(src.subarray(0, data.length));
    else {
      for (let p = 0, q = 0; q < data.length; p += channels, q += 3) {
        data[q] = src[p + r];
        data[q + 1] = src[p + g];
        data[q + 2] = src[p + b];
      }
    }
    return { width, height, data };
  }
  const x0 = new Int32Array(width + 1);
  for (let x = 0; x <= width; x++) x0[x] = Math.min(srcWidth, Math.floor((x * srcWidth) / width));
  let q = 0;
  for (let y = 0; y < height; y++) {
    const sy0 = Math.floor((y * srcHeight) / height);
    const sy1 = Math.max(sy0 + 1, Math.floor(((y + 1) * srcHeight) / height));
    for (let x = 0; x < width; x++) {
      const sx0 = x0[x];
      const sx1 = Math.max(sx0 + 1, x0[x + 1]);
      let sr = 0;
      let sg = 0;
      let sb = 0;
      for (let sy = sy0; sy < sy1; sy++) {
        let p = (sy * srcWidth + sx0) * channels;
        for (let sx = sx0; sx < sx1; sx++, p += channels) {
          sr += src[p + r];
          sg += src[p + g];
          sb += src[p + b];
        }
      }
      const n = (sy1 - sy0) * (sx1 - sx0);
      data[q++] = (sr + (n >> 1)) / n;
      data[q++] = (sg + (n >> 1)) / n;
      data[q++] = (sb + (n >> 1)) / n;
    }
  }
  return { width, height, data };
}

/** libvips: shrinks while decoding (libjpeg DCT scaling), then resamples the rest. */
async function decodeWithSharp(input: Uint8Array, target: { width: number; height: number }): Promise<RgbImage> {
  const { data, info } = await sharp(input, { failOn: 'warning', limitInputPixels: MAX_FRAME_PIXELS })
    .resize({ width: target.width, height: target.height, fit: 'fill', withoutEnlargement: true, kernel: 'linear' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return packedRgb(data, info.width, info.height, info.channels);
}

async function decodeWithNapiRs(input: Uint8Array, width: number, height: number, target: { width: number; height: number }): Promise<RgbImage> {
  const transformer = new Transformer(input);
  if (target.width !== width || target.height !== height) transformer.resize(target.width, target.height, ResizeFilterType.Triangle);
  const data = await transformer.rawPixels();
  return packedRgb(data, target.width, target.height, data.length / (target.width * target.height));
}

function decodeWithJpegJs(input: Uint8Array, target: { width: number; height: number }): RgbImage {
  const decoded = jpegJs.decode(input, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_FRAME_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
  return resampleToRgb(decoded.data, decoded.width, decoded.height, RGB_LAYOUT, target.width, target.height);
}

async function decodePng(input: Uint8Array, maxWidth: number): Promise<DecodedFrame> {
  try {
    const meta = await sharp(input, { limitInputPixels: MAX_FRAME_PIXELS }).metadata();
    if (meta.format !== 'png' || !meta.width || !meta.height) throw new Error(`not a PNG (format ${meta.format ?? 'unknown'})`);
    const target = analysisSize(meta.width, meta.height, maxWidth);
    const image = await decodeWithSharp(input, target);
    return { image, scale: meta.width / image.width, frameWidth: meta.width, frameHeight: meta.height };
  } catch (err) {
    throw new FrameDecodeError('sharp', `cannot decode ${input.length}-byte PNG: ${errorText(err)}`, { cause: err });
  }
}

/** Decoders return 1 (grey), 3 (RGB) or 4 (RGBA) bytes per pixel; analysis wants exactly RGB. */
function packedRgb(data: Uint8Array, width: number, height: number, channels: number): RgbImage {
  if (channels === 3) return { width, height, data: new Uint8Array(data.buffer, data.byteOffset, width * height * 3) };
  if (channels === 1) return resampleToRgb(data, width, height, { channels: 1, r: 0, g: 0, b: 0 }, width, height);
  if (channels === 4) return resampleToRgb(data, width, height, { channels: 4, r: 0, g: 1, b: 2 }, width, height);
  throw new Error(`decoder returned ${data.length} bytes for ${width}x${height} (${channels} per pixel)`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
