// Splitting an MJPEG byte stream (concatenated JPEGs, as ffmpeg's image2pipe/mjpeg muxers write)
// into frames, and reading a JPEG's size from its SOF marker.
//
// A frame runs from SOI (FF D8) to the first EOI (FF D9) after it. That is sound for what ffmpeg
// writes: entropy-coded data stuffs every FF as FF 00, so FF D9 cannot occur inside it, and
// ffmpeg's mjpeg encoder writes no APPn segment that embeds another JPEG (an EXIF thumbnail would
// end a frame early; cameras that add one need a marker-walking parser instead).
import { InvalidJpegError, MjpegFrameTooLargeError } from './errors';

const MARKER = 0xff;
const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
/** Default bound on one frame: far above any real JPEG, low enough to stop a runaway stream. */
export const DEFAULT_MAX_MJPEG_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * Incremental MJPEG splitter. Each chunk is scanned once; the bytes of a frame are kept as views
 * of the chunks they arrived in and copied once, into the frame's own buffer, when its EOI arrives.
 * Bytes outside SOI...EOI are skipped.
 */
export class MjpegSplitter {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private inFrame = false;
  /** The previous chunk ended with FF (a marker may straddle chunks). */
  private lastWasMarker = false;

  constructor(private readonly maxFrameBytes: number = DEFAULT_MAX_MJPEG_FRAME_BYTES) {}

  /** Whether a frame has started and not yet ended. */
  get midFrame(): boolean {
    return this.inFrame;
  }

  /** Feeds one chunk; returns the frames it completed, each in a buffer of its own. */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    let start = 0; // where the current frame's bytes begin in this chunk
    let i = 0;
    if (this.lastWasMarker && chunk.length > 0) {
      this.lastWasMarker = false;
      if (!this.inFrame && chunk[0] === SOI) {
        this.beginFrame(Buffer.of(MARKER));
        start = 0;
        i = 1;
      } else if (this.inFrame && chunk[0] === EOI) {
        frames.push(this.endFrame(chunk.subarray(0, 1)));
        i = 1;
      }
    }
    while (i < chunk.length) {
      const ff = chunk.indexOf(MARKER, i);
      if (ff < 0 || ff === chunk.length - 1) {
        this.lastWasMarker = ff === chunk.length - 1;
        break;
      }
      const code = chunk[ff + 1];
      if (!this.inFrame && code === SOI) {
        this.beginFrame();
        start = ff;
        i = ff + 2;
      } else if (this.inFrame && code === EOI) {
        frames.push(this.endFrame(chunk.subarray(start, ff + 2)));
        i = ff + 2;
      } else {
        // FF FF is fill before a marker: look at the second FF again.
        i = code === MARKER ? ff + 1 : ff + 2;
      }
    }
    if (this.inFrame) this.keep(chunk.subarray(start));
    return frames;
  }

  private beginFrame(first?: Buffer): void {
    this.inFrame = true;
    this.parts = [];
    this.partsBytes = 0;
    if (first) this.keep(first);
  }

  private keep(part: Buffer): void {
    if (part.length === 0) return;
    this.partsBytes += part.length;
    if (this.partsBytes > this.maxFrameBytes) {
      const bytes = this.partsBytes;
      this.inFrame = false;
      this.parts = [];
      this.partsBytes = 0;
      throw new MjpegFrameTooLargeError(bytes, this.maxFrameBytes);
    }
    this.parts.push(part);
  }

  private endFrame(last: Buffer): Buffer {
    this.keep(last);
    const frame = Buffer.allocUnsafe(this.partsBytes);
    let offset = 0;
    for (const part of this.parts) offset += part.copy(frame, offset);
    this.inFrame = false;
    this.parts = [];
    this.partsBytes = 0;
    return frame;
  }
}

/** Width and height from the first SOFn marker of a JPEG (baseline, progressive, lossless...). */
export function jpegSize(jpeg: Uint8Array): { width: number; height: number } {
  if (jpeg.length < 4 || jpeg[0] !== MARKER || jpeg[1] !== SOI) throw new InvalidJpegError('no SOI marker at the start');
  let p = 2;
  while (p + 3 < jpeg.length) {
    if (jpeg[p] !== MARKER) throw new InvalidJpegError(`expected a marker at offset ${p}, found 0x${jpeg[p].toString(16)}`);
    const code = jpeg[p + 1];
    if (code === MARKER) {
      p += 1; // fill byte
      continue;
    }
    // Standalone markers (TEM, RSTn) carry no length.
    if (code === 0x01 || (code >= 0xd0 && code <= 0xd7)) {
      p += 2;
      continue;
    }
    if (code === SOS || code === EOI) break;
    const length = (jpeg[p + 2] << 8) | jpeg[p + 3];
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (code >= 0xc0 && code <= 0xcf && code !== 0xc4 && code !== 0xc8 && code !== 0xcc) {
      if (p + 8 >= jpeg.length) break;
      const height = (jpeg[p + 5] << 8) | jpeg[p + 6];
      const width = (jpeg[p + 7] << 8) | jpeg[p + 8];
      if (width === 0 || height === 0) throw new InvalidJpegError(`SOF marker at offset ${p} gives size ${width}x${height}`);
      return { width, height };
    }
    p += 2 + length;
  }
  throw new InvalidJpegError('no SOF marker before the image data');
}
