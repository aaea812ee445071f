// Segmentation payload, formats.md §3 (RW latest variant): a header, then instances until the
// payload ends, each a contour whose first point is absolute and the others deltas. Frames are
// independent: no state between them.
import type { FrameSink, FrameSource } from '@framewire/framing';
import { ByteReader } from './byte-reader';
import { ByteWriter, UINT8_MAX } from './byte-writer';
import { ProtocolEncodeError, ProtocolStateError } from './errors';
import { CodecSinkState, FrameWriteQueue } from './frame-write-queue';
import { FrameIdInput, checkFrameId, checkUint, checkUint32, confidenceFromRaw, confidenceToRaw } from './values';

/** Readers reject an instance with more points (formats.md §3), before allocating for them. */
export const MAX_SEGMENTATION_POINTS = 10_000_000;
// Smallest point on the wire: two 1-byte zigzag varints.
const MIN_POINT_BYTES = 2;

/**
 * A decoded instance. Points are one flat Int32Array `x0, y0, x1, y1, ...`: one allocation per
 * instance instead of one array per point, and exact int32 values.
 */
export interface SegmentationInstance {
  classId: number;
  instanceId: number;
  /** confidenceRaw / 65535. */
  confidence: number;
  confidenceRaw: number;
  points: Int32Array;
}

export interface SegmentationFrame {
  frameId: bigint;
  width: number;
  height: number;
  instances: SegmentationInstance[];
  /** Stream offset of the frame (Frame.offset); 0 when decoded without a stream offset. */
  offset: number;
}

export interface SegmentationInstanceInput {
  classId: number;
  instanceId: number;
  /** 0..1, clamped (NaN counts as 0). */
  confidence: number;
  /** Flat `x0, y0, x1, y1, ...` int32 values; an Int32Array skips the per-value check. */
  points: ArrayLike<number>;
}

export interface SegmentationFrameInput {
  frameId: FrameIdInput;
  width: number;
  height: number;
  instances: readonly SegmentationInstanceInput[];
}

function checkPoints(points: ArrayLike<number>): void {
  if (points.length % 2 !== 0) {
    throw new ProtocolEncodeError(
      'VALUE_OUT_OF_RANGE',
      `segmentation points length ${points.length} is odd: points are flat x, y pairs`,
    );
  }
  if (points.length / 2 > MAX_SEGMENTATION_POINTS) {
    throw new ProtocolEncodeError(
      'VALUE_OUT_OF_RANGE',
      `segmentation instance of ${points.length / 2} points exceeds the ${MAX_SEGMENTATION_POINTS}-point limit of readers`,
    );
  }
  if (points instanceof Int32Array) return;
  for (let i = 0; i < points.length; i++) {
    const v = points[i];
    if ((v | 0) !== v) {
      throw new ProtocolEncodeError(
        'VALUE_OUT_OF_RANGE',
        `segmentation point ${i >> 1} ${i & 1 ? 'y' : 'x'} ${v} is not an int32`,
      );
    }
  }
}

/** Encodes segmentation frames without I/O into one reused buffer: beginFrame, addInstance per
 *  instance, finishFrame. */
export class SegmentationEncoder {
  private readonly out = new ByteWriter();
  private open = false;

  /** Starts a frame (dropping any unfinished one) and writes its header. */
  beginFrame(frameId: FrameIdInput, width: number, height: number): void {
    checkFrameId(frameId);
    checkUint32(width, 'segmentation width');
    checkUint32(height, 'segmentation height');
    const out = this.out;
    out.reset();
    out.u64(frameId);
    out.varint(width);
    out.varint(height);
    this.open = true;
  }

  /** Appends one instance: class and instance id 0..255, confidence 0..1 (clamped), flat points.
   *  Everything is checked before a byte is written, so a rejected instance leaves no trace. */
  addInstance(classId: number, instanceId: number, confidence: number, points: ArrayLike<number>): void {
    if (!this.open) throw new ProtocolStateError('NO_OPEN_FRAME', 'segmentation addInstance() before beginFrame()');
    checkUint(classId, UINT8_MAX, 'segmentation class id');
    checkUint(instanceId, UINT8_MAX, 'segmentation instance id');
    checkPoints(points);
    const out = this.out;
    const count = points.length >> 1;
    out.u8(classId);
    out.u8(instanceId);
    out.u16(confidenceToRaw(confidence));
    out.varint(count);
    if (count === 0) return;
    let px = points[0] | 0;
    let py = points[1] | 0;
    out.zigzag(px);
    out.zigzag(py);
    for (let i = 2; i < points.length; i += 2) {
      const x = points[i] | 0;
      const y = points[i + 1] | 0;
      out.zigzag((x - px) | 0);
      out.zigzag((y - py) | 0);
      px = x;
      py = y;
    }
  }

  abandonFrame(): void {
    this.open = false;
  }

  /** The frame's bytes: a view of the internal buffer, valid until the next beginFrame. */
  finishFrame(): Uint8Array {
    if (!this.open) throw new ProtocolStateError('NO_OPEN_FRAME', 'segmentation finishFrame() before beginFrame()');
    this.open = false;
    return this.out.view();
  }

  encodeFrame(frame: SegmentationFrameInput): Uint8Array {
    this.beginFrame(frame.frameId, frame.width, frame.height);
    for (const i of frame.instances) this.addInstance(i.classId, i.instanceId, i.confidence, i.points);
    return this.finishFrame();
  }
}

/** Decodes one segmentation payload. `frameOffset` goes into the result and into errors.
 *  Throws ProtocolDecodeError only. */
export function decodeSegmentation(payload: Uint8Array, frameOffset?: number): SegmentationFrame {
  const r = new ByteReader('segmentation');
  r.reset(payload, frameOffset);
  const frameId = r.u64('the frame id');
  const width = r.varint('the width');
  const height = r.varint('the height');
  const instances: SegmentationInstance[] = [];
  while (r.remaining > 0) {
    const classId = r.u8('a class id');
    const instanceId = r.u8('an instance id');
    const raw = r.u16('an instance confidence');
    const countOffset = r.offset;
    const count = r.varint('a point count');
    if (count > MAX_SEGMENTATION_POINTS) {
      throw r.error(
        'POINT_COUNT_TOO_LARGE',
        `point count ${count} exceeds the ${MAX_SEGMENTATION_POINTS}-point limit`,
        countOffset,
      );
    }
    if (count > r.remaining / MIN_POINT_BYTES) {
      throw r.error(
        'TRUNCATED',
        `point count ${count} needs at least ${count * MIN_POINT_BYTES} bytes, ${r.remaining} remain`,
        countOffset,
      );
    }
    const points = new Int32Array(count * 2);
    if (count > 0) {
      let x = r.zigzag('a point x');
      let y = r.zigzag('a point y');
      points[0] = x;
      points[1] = y;
      for (let i = 2; i < points.length; i += 2) {
        x = (x + r.zigzag('a point dx')) | 0;
        y = (y + r.zigzag('a point dy')) | 0;
        points[i] = x;
        points[i + 1] = y;
      }
    }
    instances.push({ classId, instanceId, confidence: confidenceFromRaw(raw), confidenceRaw: raw, points });
  }
  return { frameId, width, height, instances, offset: frameOffset ?? 0 };
}

/** Decodes a segmentation stream: one SegmentationFrame per frame. */
export async function* readSegmentation(frames: FrameSource): AsyncGenerator<SegmentationFrame, void, undefined> {
  for await (const frame of frames) yield decodeSegmentation(frame.payload, frame.offset);
}

export interface SegmentationSinkOptions {
  /** Close the FrameSink on close() (default true); otherwise only flush it. */
  closeFrameSink?: boolean;
}

/** Writes one segmentation frame; nothing reaches the stream unless commit() is called. */
export class SegmentationFrameWriter {
  constructor(
    private readonly state: CodecSinkState<SegmentationEncoder>,
    private readonly generation: number,
  ) {}

  /** Appends one instance (see SegmentationEncoder.addInstance). */
  addInstance(classId: number, instanceId: number, confidence: number, points: ArrayLike<number>): this {
    this.state.checkOpen(this.generation);
    this.state.encoder.addInstance(classId, instanceId, confidence, points);
    return this;
  }

  /** Writes the frame as one frame; resolves once the FrameSink took it. */
  async commit(): Promise<void> {
    return this.state.commit(this.generation);
  }
}

/** A segmentation stream over a FrameSink: beginFrame returns a per-frame writer whose commit()
 *  writes the frame atomically. Beginning a frame abandons an uncommitted one. */
export class SegmentationSink {
  private readonly state: CodecSinkState<SegmentationEncoder>;

  constructor(frameSink: FrameSink, options: SegmentationSinkOptions = {}) {
    const queue = new FrameWriteQueue(frameSink, options.closeFrameSink ?? true, 'segmentation sink');
    this.state = new CodecSinkState(new SegmentationEncoder(), queue, 'segmentation');
  }

  beginFrame(frameId: FrameIdInput, width: number, height: number): SegmentationFrameWriter {
    this.state.checkNotClosed();
    this.state.encoder.beginFrame(frameId, width, height);
    return new SegmentationFrameWriter(this.state, this.state.nextGeneration());
  }

  flush(): Promise<void> {
    return this.state.flush();
  }

  /** Abandons an uncommitted writer, waits for committed frames, closes (or flushes) the
   *  FrameSink. Idempotent; writes no frame. */
  close(): Promise<void> {
    return this.state.close();
  }
}
