// Test fixtures of the model analyzers' specs: real photos as RgbImage (Debian's opencv-doc
// examples), placed on larger canvases or downscaled, and the AnalyzerInput of such an image.
import { AnalyzerInput, RgbImage } from '@framewire/analysis';
import sharp from 'sharp';

/** 548×342: one player mid-kick and a ball, a blurred crowd behind. */
export const MESSI_JPG = '/usr/share/doc/opencv-doc/examples/data/messi5.jpg';
/** The canvas around a placed image: mid grey, what the letterbox's padding is not (black). */
export const CANVAS_GREY = 128;

/** A file (JPEG, PNG) as packed RGB, optionally resized to `width` (aspect kept). */
export async function readRgbImage(file: string, width?: number): Promise<RgbImage> {
  const { data, info } = await sharp(file)
    .resize(width === undefined ? undefined : { width })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** `image` copied into a grey canvas of width × height at (x, y). */
export function placedOnCanvas(image: RgbImage, width: number, height: number, x: number, y: number): RgbImage {
  const data = new Uint8Array(width * height * 3).fill(CANVAS_GREY);
  for (let row = 0; row < image.height; row++) {
    data.set(image.data.subarray(row * image.width * 3, (row + 1) * image.width * 3), ((y + row) * width + x) * 3);
  }
  return { width, height, data };
}

/** `image` halved in each direction (sharp's area-averaging shrink). */
export async function halved(image: RgbImage): Promise<RgbImage> {
  const width = Math.round(image.width / 2);
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize({ width, height: Math.round(image.height / 2), fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** One frame of stream "s" whose analysed image is `image`, `scale` frame pixels per image pixel. */
export function inputOf(image: RgbImage, options: { scale?: number; frameSequence?: number; frame?: { width: number; height: number } } = {}): AnalyzerInput {
  const scale = options.scale ?? 1;
  const sequence = options.frameSequence ?? 1;
  return {
    streamId: 's',
    frameSequence: sequence,
    // 10 fps.
    captureTimeUs: sequence * 100_000,
    frameWidth: options.frame?.width ?? image.width * scale,
    frameHeight: options.frame?.height ?? image.height * scale,
    image,
    scale,
    earlier: {},
  };
}
