import { PixelFormat } from '@framewire/proto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ImageFolderError } from './errors';
import { CapturedFrame } from './frame';
import { imageFolderSource, listFolderImages } from './images';

function solid(width: number, height: number, rgb: [number, number, number]) {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
}

async function take(iterable: AsyncIterable<CapturedFrame>, max: number): Promise<CapturedFrame[]> {
  const frames: CapturedFrame[] = [];
  for await (const f of iterable) {
    frames.push(f);
    if (frames.length === max) break;
  }
  return frames;
}

describe('imageFolderSource', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fw-images-'));
  });
  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  async function writeSamples(): Promise<Record<string, Buffer>> {
    const files: Record<string, Buffer> = {
      'frame10.png': await solid(40, 30, [0, 0, 255]).png().toBuffer(),
      'frame2.jpg': await solid(64, 48, [0, 255, 0]).jpeg().toBuffer(),
      'frame1.JPEG': await solid(32, 24, [255, 0, 0]).jpeg().toBuffer(),
      'notes.txt': Buffer.from('not an image'),
    };
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(folder, name), bytes);
    return files;
  }

  it('lists JPEG and PNG files in natural name order with their size and format', async () => {
    await writeSamples();
    const images = await listFolderImages(folder);
    expect(images.map((i) => [i.path.slice(folder.length + 1), i.width, i.height, i.pixelFormat])).toEqual([
      ['frame1.JPEG', 32, 24, PixelFormat.PIXEL_FORMAT_JPEG],
      ['frame2.jpg', 64, 48, PixelFormat.PIXEL_FORMAT_JPEG],
      ['frame10.png', 40, 30, PixelFormat.PIXEL_FORMAT_PNG],
    ]);
  });

  it('passes each file through unchanged, once, at the configured fps', async () => {
    const files = await writeSamples();
    const started = performance.now();
    const frames = await take(imageFolderSource({ folder, fps: 20, loop: false }).frames(), 10);
    const elapsed = performance.now() - started;
    expect(frames).toHaveLength(3);
    expect(Buffer.from(frames[0].data)).toEqual(files['frame1.JPEG']);
    expect(Buffer.from(frames[2].data)).toEqual(files['frame10.png']);
    expect(frames.map((f) => f.pixelFormat)).toEqual([PixelFormat.PIXEL_FORMAT_JPEG, PixelFormat.PIXEL_FORMAT_JPEG, PixelFormat.PIXEL_FORMAT_PNG]);
    expect(frames[2].captureTimeUs).toBeGreaterThan(frames[0].captureTimeUs + 80_000);
    expect(elapsed).toBeGreaterThanOrEqual(90); // two intervals, less a timer's early firing
  });

  it('starts again from the first file when looping', async () => {
    await writeSamples();
    const frames = await take(imageFolderSource({ folder, fps: 50, loop: true }).frames(), 7);
    // The k-th slot after the first shows image k mod 3; a loaded machine may skip a late slot's
    // image, never reorder them.
    expect(frames).toHaveLength(7);
    const slots = frames.map((f) => f.frameNumber!);
    for (let k = 1; k < slots.length; k++) expect(slots[k]).toBeGreaterThan(slots[k - 1]);
    const widthOfImage = [32, 64, 40];
    expect(frames.map((f) => f.width)).toEqual(slots.map((s) => widthOfImage[(s - slots[0]) % 3]));
  });

  it('refuses an empty folder with a typed error naming it', async () => {
    await writeFile(join(folder, 'readme.md'), '# nothing');
    const failure = take(imageFolderSource({ folder, fps: 10, loop: false }).frames(), 1);
    await expect(failure).rejects.toBeInstanceOf(ImageFolderError);
    await expect(failure).rejects.toMatchObject({ code: 'IMAGE_FOLDER_EMPTY', path: folder });
  });

  it('refuses a missing folder with a typed error naming it', async () => {
    const missing = join(folder, 'absent');
    await expect(listFolderImages(missing)).rejects.toMatchObject({ code: 'IMAGE_FOLDER_UNREADABLE', path: missing });
  });

  it('names the file that cannot be read', async () => {
    await writeSamples();
    const broken = join(folder, 'frame3.jpg');
    await writeFile(broken, Buffer.from('definitely not a jpeg'));
    const failure = listFolderImages(folder);
    await expect(failure).rejects.toMatchObject({ code: 'IMAGE_UNREADABLE', path: broken });
    await expect(failure).rejects.toThrow(broken);
  });
});
