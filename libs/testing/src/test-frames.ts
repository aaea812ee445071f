// Frames for tests and benchmarks, and the error a call throws.
import type { Frame } from '@framewire/proto';

/** A frame of `bytes` bytes of stream `streamId` (pixel format JPEG). */
export function testFrame(streamId: string, sequence: number, bytes = 16, captureTimeUs = Date.now() * 1000): Frame {
  return { streamId, sequence, captureTimeUs, width: 4, height: 4, pixelFormat: 1, sizeBytes: bytes, data: Buffer.alloc(bytes, sequence & 0xff) };
}

/** The error `fn` throws (tests look at its fields); throws when it throws nothing. */
export function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}
