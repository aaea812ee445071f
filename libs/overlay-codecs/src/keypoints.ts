// KeyPoints payload, formats.md §2 (RW latest variant): master frames carry absolute keypoints,
// delta frames carry differences against the immediately preceding frame, matched by keypoint id.
import type { FrameSink, FrameSource } from '@framewire/framing';
import { ByteReader } from './byte-reader';
import { ByteWriter, UINT32_MAX } from './byte-writer';
import { ProtocolEncodeError, ProtocolStateError } from './errors';
import { CodecSinkState, FrameWriteQueue } from './frame-write-queue';
import {
  CONFIDENCE_RAW_MAX,
  FrameIdInput,
  checkFrameId,
  checkInt32,
  checkUint32,
  confidenceFromRaw,
  confidenceToRaw,
} from './values';

export const KEYPOINTS_MASTER_FRAME = 0x00;
export const KEYPOINTS_DELTA_FRAME = 0x01;
export const DEFAULT_MASTER_INTERVAL = 300;

// Smallest records (1-byte id, 1-byte varints): a count above remaining / these is a lie, caught
// before anything is sized by it.
const MIN_MASTER_RECORD_BYTES = 11;
const MIN_DELTA_RECORD_BYTES = 4;
// Keypoint ids below this are looked up in flat arrays; larger ids fall back to a Map.
const DENSE_ID_LIMIT = 1024;
const INITIAL_TABLE_CAPACITY = 32;

export type KeyPointsFrameType = 'master' | 'delta';

/** A decoded keypoint, with absolute values. `confidence` is confidenceRaw / 65535. */
export interface KeyPoint {
  id: number;
  x: number;
  y: number;
  confidence: number;
  confidenceRaw: number;
}

export interface KeyPointsFrame {
  frameId: bigint;
  type: KeyPointsFrameType;
  keypoints: KeyPoint[];
  /** Stream offset of the frame (Frame.offset); 0 when decoded without a stream offset. */
  offset: number;
}

/** What delta decoding needs of one keypoint of the previous frame (a KeyPoint qualifies). */
export interface KeyPointState {
  id: number;
  x: number;
  y: number;
  confidenceRaw: number;
}

/** A keypoint as callers give it to an encoder: confidence 0..1, clamped. */
export interface KeyPointInput {
  id: number;
  x: number;
  y: number;
  confidence: number;
}

export interface KeyPointsEncoderOptions {
  /** Frame number k (from 0) is a master when k % masterInterval == 0. Default 300; at least 1. */
  masterInterval?: number;
}

/**
 * One frame's keypoints in record order, found by id: the delta state of §2. Two tables are
 * swapped from frame to frame and never reallocated once grown.
 */
class KeyPointTable {
  count = 0;
  ids = new Uint32Array(INITIAL_TABLE_CAPACITY);
  xs = new Int32Array(INITIAL_TABLE_CAPACITY);
  ys = new Int32Array(INITIAL_TABLE_CAPACITY);
  raws = new Uint16Array(INITIAL_TABLE_CAPACITY);
  // An id below DENSE_ID_LIMIT is present when its mark equals `mark`: clear() is one increment.
  private readonly denseMark = new Uint32Array(DENSE_ID_LIMIT);
  private readonly denseSlot = new Int32Array(DENSE_ID_LIMIT);
  private mark = 1;
  private readonly sparseSlot = new Map<number, number>();

  clear(): void {
    this.count = 0;
    if (this.mark === UINT32_MAX) {
      this.denseMark.fill(0);
      this.mark = 0;
    }
    this.mark++;
    if (this.sparseSlot.size > 0) this.sparseSlot.clear();
  }

  /** Slot of `id`, or -1. */
  slotOf(id: number): number {
    if (id < DENSE_ID_LIMIT) return this.denseMark[id] === this.mark ? this.denseSlot[id] : -1;
    return this.sparseSlot.get(id) ?? -1;
  }

  /** Adds a keypoint; a second one with the same id overwrites the first (the later record wins,
   *  as in the RW readers). */
  put(id: number, x: number, y: number, raw: number): void {
    let slot = this.slotOf(id);
    if (slot < 0) {
      slot = this.count++;
      if (slot === this.ids.length) this.grow();
      this.ids[slot] = id;
      if (id < DENSE_ID_LIMIT) {
        this.denseMark[id] = this.mark;
        this.denseSlot[id] = slot;
      } else {
        this.sparseSlot.set(id, slot);
      }
    }
    this.xs[slot] = x;
    this.ys[slot] = y;
    this.raws[slot] = raw;
  }

  private grow(): void {
    const capacity = this.ids.length * 2;
    const ids = new Uint32Array(capacity);
    const xs = new Int32Array(capacity);
    const ys = new Int32Array(capacity);
    const raws = new Uint16Array(capacity);
    ids.set(this.ids);
    xs.set(this.xs);
    ys.set(this.ys);
    raws.set(this.raws);
    this.ids = ids;
    this.xs = xs;
    this.ys = ys;
    this.raws = raws;
  }
}

function checkMasterInterval(interval: number): void {
  if (!(Number.isSafeInteger(interval) && interval >= 1)) {
    throw new ProtocolEncodeError(
      'INVALID_MASTER_INTERVAL',
      `keypoints master interval ${interval} is not an integer >= 1`,
    );
  }
}

/**
 * Encodes a sequence of keypoints frames without I/O: beginFrame, add per keypoint, finishFrame.
 * Keeps the state of §2 (its own frame counter and the previous frame's keypoints) and one
 * reused output buffer, so a frame allocates nothing once the buffers have grown.
 */
export class KeyPointsEncoder {
  readonly masterInterval: number;
  private framesFinished = 0;
  private previous = new KeyPointTable();
  private current = new KeyPointTable();
  private readonly out = new ByteWriter();
  private frameId: FrameIdInput = 0;
  private open = false;

  constructor(options: KeyPointsEncoderOptions = {}) {
    this.masterInterval = options.masterInterval ?? DEFAULT_MASTER_INTERVAL;
    checkMasterInterval(this.masterInterval);
  }

  /** Frames finished so far: the frame counter k of the next frame. */
  get framesEncoded(): number {
    return this.framesFinished;
  }

  /** What the next finished frame will be. */
  get nextFrameType(): KeyPointsFrameType {
    return this.framesFinished % this.masterInterval === 0 ? 'master' : 'delta';
  }

  /** Starts a frame, dropping any frame begun and not finished (it never counted). */
  beginFrame(frameId: FrameIdInput): void {
    checkFrameId(frameId);
    this.current.clear();
    this.frameId = frameId;
    this.open = true;
  }

  /** Adds one keypoint: id uint32, x and y int32, confidence 0..1 (clamped; NaN counts as 0). */
  add(id: number, x: number, y: number, confidence: number): void {
    if (!this.open) throw new ProtocolStateError('NO_OPEN_FRAME', 'keypoints add() before beginFrame()');
    checkUint32(id, 'keypoint id');
    // Constant field names: a template here would build a string per keypoint.
    checkInt32(x, 'keypoint x');
    checkInt32(y, 'keypoint y');
    if (this.current.slotOf(id) >= 0) {
      throw new ProtocolEncodeError('DUPLICATE_KEYPOINT_ID', `keypoint id ${id} added twice to one frame`);
    }
    this.current.put(id, x, y, confidenceToRaw(confidence));
  }

  /** Drops the frame in progress, if any; the frame counter and delta state are unchanged. */
  abandonFrame(): void {
    this.open = false;
  }

  /**
   * Encodes the frame in progress as a master or a delta (by the frame counter) and makes it the
   * delta state of the next one. Returns a view of the internal buffer, valid until the next
   * finishFrame: copy it to keep it.
   */
  finishFrame(): Uint8Array {
    if (!this.open) throw new ProtocolStateError('NO_OPEN_FRAME', 'keypoints finishFrame() before beginFrame()');
    const master = this.framesFinished % this.masterInterval === 0;
    const frame = this.current;
    const { ids, xs, ys, raws, count } = frame;
    const out = this.out;
    out.reset();
    out.u8(master ? KEYPOINTS_MASTER_FRAME : KEYPOINTS_DELTA_FRAME);
    out.u64(this.frameId);
    out.varint(count);
    if (master) {
      for (let i = 0; i < count; i++) {
        out.varint(ids[i]);
        out.i32(xs[i]);
        out.i32(ys[i]);
        out.u16(raws[i]);
      }
    } else {
      const previous = this.previous;
      for (let i = 0; i < count; i++) {
        const id = ids[i];
        out.varint(id);
        const slot = previous.slotOf(id);
        if (slot >= 0) {
          out.zigzag((xs[i] - previous.xs[slot]) | 0);
          out.zigzag((ys[i] - previous.ys[slot]) | 0);
          out.zigzag(raws[i] - previous.raws[slot]);
        } else {
          // New or reappearing: absolute values, as a delta against zero.
          out.zigzag(xs[i]);
          out.zigzag(ys[i]);
          out.zigzag(raws[i]);
        }
      }
    }
    this.current = this.previous;
    this.previous = frame;
    this.framesFinished++;
    this.open = false;
    return out.view();
  }

  /** beginFrame, add each keypoint, finishFrame. */
  encodeFrame(frameId: FrameIdInput, keypoints: readonly KeyPointInput[]): Uint8Array {
    this.beginFrame(frameId);
    for (const kp of keypoints) this.add(kp.id, kp.x, kp.y, kp.confidence);
    return this.finishFrame();
  }
}

/**
 * Decodes a sequence of keypoints payloads, keeping the reader's state of §2: the previous
 * frame's keypoints. A delta met with no previous frame decodes against an empty state. A payload
 * that fails to decode leaves the state as it was.
 */
export class KeyPointsDecoder {
  private previous = new KeyPointTable();
  private next = new KeyPointTable();
  private readonly reader = new ByteReader('keypoints');

  /** `initialState`: the keypoints of the frame before the first one decoded (see restore). */
  constructor(initialState?: Iterable<KeyPointState>) {
    if (initialState) this.restore(initialState);
  }

  /** Forgets the previous frame: the next delta decodes against an empty state. */
  reset(): void {
    this.previous.clear();
  }

  /** Sets the previous frame to `keypoints` (for example the last frame decoded before a seek),
   *  so that decoding continues from there. */
  restore(keypoints: Iterable<KeyPointState>): void {
    this.previous.clear();
    for (const kp of keypoints) this.previous.put(kp.id, kp.x, kp.y, kp.confidenceRaw);
  }

  /** Decodes one payload. `frameOffset` (the stream offset of its frame) goes into the result and
   *  into errors. Throws ProtocolDecodeError only. */
  decode(payload: Uint8Array, frameOffset?: number): KeyPointsFrame {
    const r = this.reader;
    r.reset(payload, frameOffset);
    const frameType = r.u8('the frame type');
    if (frameType !== KEYPOINTS_MASTER_FRAME && frameType !== KEYPOINTS_DELTA_FRAME) {
      throw r.error('UNKNOWN_FRAME_TYPE', `unknown frame type 0x${frameType.toString(16).padStart(2, '0')}`, 0);
    }
    const master = frameType === KEYPOINTS_MASTER_FRAME;
    const frameId = r.u64('the frame id');
    const countOffset = r.offset;
    const count = r.varint('the keypoint count');
    const minRecordBytes = master ? MIN_MASTER_RECORD_BYTES : MIN_DELTA_RECORD_BYTES;
    if (count > r.remaining / minRecordBytes) {
      throw r.error(
        'TRUNCATED',
        `keypoint count ${count} needs at least ${count * minRecordBytes} bytes, ${r.remaining} remain`,
        countOffset,
      );
    }
    const previous = this.previous;
    const next = this.next;
    next.clear();
    const keypoints = new Array<KeyPoint>(count);
    for (let i = 0; i < count; i++) {
      const id = r.varint('a keypoint id');
      let x: number;
      let y: number;
      let raw: number;
      if (master) {
        x = r.i32('a keypoint x');
        y = r.i32('a keypoint y');
        raw = r.u16('a keypoint confidence');
      } else {
        x = r.zigzag('a keypoint dx');
        y = r.zigzag('a keypoint dy');
        raw = r.zigzag('a keypoint dconfidence');
        const slot = previous.slotOf(id);
        if (slot >= 0) {
          x = (previous.xs[slot] + x) | 0;
          y = (previous.ys[slot] + y) | 0;
          raw += previous.raws[slot];
        }
        raw = raw < 0 ? 0 : raw > CONFIDENCE_RAW_MAX ? CONFIDENCE_RAW_MAX : raw;
      }
      next.put(id, x, y, raw);
      keypoints[i] = { id, x, y, confidence: confidenceFromRaw(raw), confidenceRaw: raw };
    }
    if (r.remaining > 0) {
      throw r.error('TRAILING_BYTES', `${r.remaining} bytes after the last of ${count} keypoints`);
    }
    this.previous = next;
    this.next = previous;
    return { frameId, type: master ? 'master' : 'delta', keypoints, offset: frameOffset ?? 0 };
  }
}

/** Decodes a keypoints stream: one KeyPointsFrame per frame, absolute values. */
export async function* readKeyPoints(
  frames: FrameSource,
  options: { initialState?: Iterable<KeyPointState> } = {},
): AsyncGenerator<KeyPointsFrame, void, undefined> {
  const decoder = new KeyPointsDecoder(options.initialState);
  for await (const frame of frames) yield decoder.decode(frame.payload, frame.offset);
}

export interface KeyPointsSinkOptions extends KeyPointsEncoderOptions {
  /** Close the FrameSink on close() (default true); otherwise only flush it. */
  closeFrameSink?: boolean;
}

/** Writes one frame's keypoints; nothing reaches the stream unless commit() is called. */
export class KeyPointsFrameWriter {
  constructor(
    private readonly state: CodecSinkState<KeyPointsEncoder>,
    private readonly generation: number,
  ) {}

  /** Adds one keypoint (see KeyPointsEncoder.add). */
  add(id: number, x: number, y: number, confidence: number): this {
    this.state.checkOpen(this.generation);
    this.state.encoder.add(id, x, y, confidence);
    return this;
  }

  /** Encodes the frame and writes it as one frame; resolves once the FrameSink took it. */
  async commit(): Promise<void> {
    return this.state.commit(this.generation);
  }
}

/**
 * A keypoints stream over a FrameSink: beginFrame(frameId) returns a per-frame writer whose
 * commit() writes the frame atomically. Master or delta follows the sink's own counter of
 * committed frames. Beginning a frame abandons an uncommitted one, which writes nothing.
 */
export class KeyPointsSink {
  private readonly state: CodecSinkState<KeyPointsEncoder>;

  constructor(frameSink: FrameSink, options: KeyPointsSinkOptions = {}) {
    const queue = new FrameWriteQueue(frameSink, options.closeFrameSink ?? true, 'keypoints sink');
    this.state = new CodecSinkState(new KeyPointsEncoder(options), queue, 'keypoints');
  }

  /** Frames committed so far (the frame counter of §2). */
  get framesCommitted(): number {
    return this.state.encoder.framesEncoded;
  }

  /** What the next committed frame will be (an archive indexes its masters). */
  get nextFrameType(): KeyPointsFrameType {
    return this.state.encoder.nextFrameType;
  }

  beginFrame(frameId: FrameIdInput): KeyPointsFrameWriter {
    this.state.checkNotClosed();
    this.state.encoder.beginFrame(frameId);
    return new KeyPointsFrameWriter(this.state, this.state.nextGeneration());
  }

  /** Waits for committed frames and flushes the FrameSink. Writes no frame. */
  flush(): Promise<void> {
    return this.state.flush();
  }

  /** Abandons an uncommitted writer, waits for committed frames, closes (or flushes) the
   *  FrameSink. Idempotent; writes no frame. */
  close(): Promise<void> {
    return this.state.close();
  }
}
