// The image-folder source: the folder's JPEG and PNG files in natural name order, paced at the
// configured fps, once or looped. Bytes are passed through unchanged: JPEG as PIXEL_FORMAT_JPEG,
// PNG as PIXEL_FORMAT_PNG (no re-encoding, no quality loss; every worker decodes both with sharp).
import { PixelFormat } from '@framewire/proto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import sharp from 'sharp';
import { ImageFolderError } from './errors';
import { captureClockUs, CapturedFrame, FrameSchedule, FrameSource, sleep } from './frame';

export interface ImageFolderSourceOptions {
  folder: string;
  fps: number;
  /** Start again with the first file after the last one. */
  loop: boolean;
}

export interface FolderImage {
  path: string;
  width: number;
  height: number;
  pixelFormat: PixelFormat;
}

const FORMAT_OF_EXTENSION: Record<string, PixelFormat> = {
  '.jpg': PixelFormat.PIXEL_FORMAT_JPEG,
  '.jpeg': PixelFormat.PIXEL_FORMAT_JPEG,
  '.png': PixelFormat.PIXEL_FORMAT_PNG,
};
const FORMAT_OF_SHARP: Record<string, PixelFormat> = { jpeg: PixelFormat.PIXEL_FORMAT_JPEG, png: PixelFormat.PIXEL_FORMAT_PNG };

/** "frame2.png" before "frame10.png". */
const naturalOrder = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' }).compare;

/**
 * Lists the folder's images in natural name order and reads each one's size and format from its
 * content (a .jpg holding a PNG is sent as PNG). Throws ImageFolderError naming the folder or file.
 */
export async function listFolderImages(folder: string): Promise<FolderImage[]> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    throw new ImageFolderError('IMAGE_FOLDER_UNREADABLE', `cannot list image folder ${folder}: ${(err as Error).message}`, folder);
  }
  const imageNames = names.filter((n) => extname(n).toLowerCase() in FORMAT_OF_EXTENSION).sort(naturalOrder);
  if (imageNames.length === 0) {
    throw new ImageFolderError('IMAGE_FOLDER_EMPTY', `image folder ${folder} holds no .jpg, .jpeg or .png file`, folder);
  }
  const images: FolderImage[] = [];
  for (const name of imageNames) {
    const path = join(folder, name);
    let meta: { format?: string; width?: number; height?: number };
    try {
      meta = await sharp(path).metadata();
    } catch (err) {
      throw new ImageFolderError('IMAGE_UNREADABLE', `cannot read image ${path}: ${(err as Error).message}`, path);
    }
    const pixelFormat = FORMAT_OF_SHARP[meta.format ?? ''];
    if (pixelFormat === undefined || !meta.width || !meta.height) {
      throw new ImageFolderError('IMAGE_UNREADABLE', `image ${path} is ${meta.format ?? 'of unknown format'}, not a JPEG or PNG`, path);
    }
    images.push({ path, width: meta.width, height: meta.height, pixelFormat });
  }
  return images;
}

export function imageFolderSource(options: ImageFolderSourceOptions): FrameSource {
  return {
    description: `images:${options.folder}${options.loop ? ' (looped)' : ''}`,
    async *frames(signal?: AbortSignal): AsyncGenerator<CapturedFrame> {
      const images = await listFolderImages(options.folder);
      const schedule = new FrameSchedule(options.fps);
      let index = 0;
      for (;;) {
        const { slot, waitMs, skipped } = schedule.next();
        // A late slot skips the images it had no time for, as a camera would.
        index += skipped;
        if (index >= images.length) {
          if (!options.loop) return;
          index %= images.length;
        }
        if (waitMs > 0) await sleep(waitMs, signal);
        signal?.throwIfAborted();
        const image = images[index++];
        let data: Buffer;
        try {
          data = await readFile(image.path, { signal });
        } catch (err) {
          signal?.throwIfAborted();
          throw new ImageFolderError('IMAGE_UNREADABLE', `cannot read image ${image.path}: ${(err as Error).message}`, image.path);
        }
        yield { data, width: image.width, height: image.height, pixelFormat: image.pixelFormat, captureTimeUs: captureClockUs(), frameNumber: slot };
      }
    },
  };
}
