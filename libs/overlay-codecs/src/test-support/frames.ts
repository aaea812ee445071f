// Test doubles for the framing contract: an in-memory FrameSink and a FrameSource over payloads,
// with the stream offsets a varint-framed file would give them. Used by the specs only.
import { EmptyFrameError, SinkClosedError, varintLength } from '@framewire/framing';
import type { Frame, FrameSink, FrameSource } from '@framewire/framing';

export class MemoryFrameSink implements FrameSink {
  /** Copies of the payloads written, in order. */
  readonly frames: Uint8Array[] = [];
  /** Stream offset each frame starts at. */
  readonly offsets: number[] = [];
  flushes = 0;
  closes = 0;
  private written = 0;

  get bytesWritten(): number {
    return this.written;
  }

  async write(payload: Uint8Array): Promise<void> {
    if (this.closes > 0) throw new SinkClosedError(this.written);
    if (payload.length === 0) throw new EmptyFrameError(this.written);
    this.frames.push(payload.slice());
    this.offsets.push(this.written);
    this.written += varintLength(payload.length) + payload.length;
  }

  async flush(): Promise<void> {
    this.flushes++;
  }

  async close(): Promise<void> {
    this.closes++;
  }
}

/** A source yielding `payloads` with the offsets of a varint-framed stream. */
export async function* framesOf(payloads: readonly Uint8Array[]): FrameSource {
  let offset = 0;
  for (const payload of payloads) {
    const frame: Frame = { payload, offset };
    offset += varintLength(payload.length) + payload.length;
    yield frame;
  }
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Bytes from hex text; spaces, newlines and `|` separators are ignored. */
export function fromHex(text: string): Uint8Array {
  const digits = text.replace(/[\s|]/g, '');
  if (digits.length % 2 !== 0) throw new Error(`odd number of hex digits in ${text}`);
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Bytes from lines of `hex # comment`: the comment explains how the bytes were derived. */
export function fromAnnotatedHex(text: string): Uint8Array {
  return fromHex(
    text
      .split('\n')
      .map((line) => line.replace(/#.*$/, ''))
      .join(' '),
  );
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
