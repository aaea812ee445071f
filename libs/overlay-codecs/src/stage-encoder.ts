// Stage message encoder (formats.md §4) with the layer-canvas API of the RW StageSink: per frame,
// layers by id; per layer master (ops follow), remain or clear; ops written as they are called.
import type { FrameSink } from '@framewire/framing';
import { ByteWriter, UINT8_MAX, utf8ByteLength, varint32Length } from './byte-writer';
import { ProtocolEncodeError, ProtocolStateError } from './errors';
import { CodecSinkState, FrameWriteQueue } from './frame-write-queue';
import {
  ContextProperty,
  MAX_STAGE_LAYERS,
  MAX_STAGE_LAYER_BYTES,
  Rgba,
  STAGE_CONTEXT_PROPERTY_IDS,
  STAGE_END_MARKER_BYTE,
  STAGE_LAYER_CLEAR,
  STAGE_LAYER_MASTER,
  STAGE_LAYER_REMAIN,
  STAGE_OP_CODES,
  StageLayer,
  StageMatrix,
  StageOp,
} from './stage';
import { FrameIdInput, checkFrameId, checkUint, checkUint32, toInt32Coordinate } from './values';

type LayerType = StageLayer['type'];

// Layer id and frame type bytes before the op count.
const LAYER_HEADER_BYTES = 2;

/** Shared by an encoder and its canvases: a canvas draws only while its generation is current. */
interface StageFrameState {
  generation: number;
}

function isByte(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= UINT8_MAX;
}

function checkColor(color: Rgba, field: string): void {
  if (!(isByte(color.r) && isByte(color.g) && isByte(color.b) && isByte(color.a))) {
    throw new ProtocolEncodeError(
      'VALUE_OUT_OF_RANGE',
      `${field} colour ${JSON.stringify(color)} has a channel that is not an integer in 0..255`,
    );
  }
}

function writeColor(out: ByteWriter, color: Rgba): void {
  out.u8(color.r);
  out.u8(color.g);
  out.u8(color.b);
  out.u8(color.a);
}

/** A coordinate already checked with toInt32Coordinate, as the int32 it stands for. */
function truncInt32(value: number): number {
  return Math.trunc(value) | 0;
}

function checkProperty(p: ContextProperty): void {
  switch (p.property) {
    case 'stroke':
    case 'fill':
    case 'fontColor':
      return checkColor(p.color, p.property);
    case 'thickness':
    case 'fontSize':
      return checkUint32(p.value, p.property);
    case 'offset':
      toInt32Coordinate(p.x, 'offset x');
      toInt32Coordinate(p.y, 'offset y');
      return;
  }
}

/** Writes a property that checkProperty accepted. */
function writeProperty(out: ByteWriter, p: ContextProperty): void {
  out.u8(STAGE_CONTEXT_PROPERTY_IDS[p.property]);
  switch (p.property) {
    case 'stroke':
    case 'fill':
    case 'fontColor':
      writeColor(out, p.color);
      return;
    case 'thickness':
    case 'fontSize':
      out.varint(p.value);
      return;
    case 'offset':
      out.zigzag(truncInt32(p.x));
      out.zigzag(truncInt32(p.y));
      return;
    case 'rotation':
      out.f32(p.degrees);
      return;
    case 'scale':
    case 'skew':
      out.f32(p.x);
      out.f32(p.y);
      return;
    case 'matrix':
      out.f32(p.scaleX);
      out.f32(p.skewX);
      out.f32(p.transX);
      out.f32(p.skewY);
      out.f32(p.scaleY);
      out.f32(p.transY);
      return;
  }
}

/**
 * Draws on one layer of the frame in progress. Coordinates are truncated toward zero to int32
 * (as the RW encoders cast them); sizes are uint32; a value out of range throws before any of
 * its op is kept. Methods chain. A canvas is valid until its frame is finished.
 */
export class LayerCanvas {
  private type: LayerType = 'master';
  private opCount = 0;
  private readonly ops = new ByteWriter();
  private frameGeneration = -1;

  constructor(
    readonly layerId: number,
    private readonly frame: StageFrameState,
  ) {}

  /** Clear and redraw with the ops drawn on this canvas (the default). */
  master(): this {
    this.checkCurrent();
    this.type = 'master';
    return this;
  }

  /** Keep the layer's previous content. Carries no ops. */
  remain(): this {
    return this.setOpLessType('remain');
  }

  /** Clear the layer to transparent. Carries no ops. */
  clear(): this {
    return this.setOpLessType('clear');
  }

  setStroke(color: Rgba): this {
    return this.setColor('stroke', color);
  }

  setFill(color: Rgba): this {
    return this.setColor('fill', color);
  }

  setFontColor(color: Rgba): this {
    return this.setColor('fontColor', color);
  }

  setThickness(pixels: number): this {
    checkUint32(pixels, 'thickness');
    const start = this.beginOp();
    this.writeContextHeader(STAGE_CONTEXT_PROPERTY_IDS.thickness);
    this.ops.varint(pixels);
    return this.endOp(start);
  }

  setFontSize(pixels: number): this {
    checkUint32(pixels, 'font size');
    const start = this.beginOp();
    this.writeContextHeader(STAGE_CONTEXT_PROPERTY_IDS.fontSize);
    this.ops.varint(pixels);
    return this.endOp(start);
  }

  /** Translation in whole pixels. */
  setOffset(x: number, y: number): this {
    const ix = toInt32Coordinate(x, 'offset x');
    const iy = toInt32Coordinate(y, 'offset y');
    const start = this.beginOp();
    this.writeContextHeader(STAGE_CONTEXT_PROPERTY_IDS.offset);
    this.ops.zigzag(ix);
    this.ops.zigzag(iy);
    return this.endOp(start);
  }

  setRotation(degrees: number): this {
    const start = this.beginOp();
    this.writeContextHeader(STAGE_CONTEXT_PROPERTY_IDS.rotation);
    this.ops.f32(degrees);
    return this.endOp(start);
  }

  setScale(x: number, y: number): this {
    return this.setFloatPair(STAGE_CONTEXT_PROPERTY_IDS.scale, x, y);
  }

  setSkew(x: number, y: number): this {
    return this.setFloatPair(STAGE_CONTEXT_PROPERTY_IDS.skew, x, y);
  }

  setMatrix(m: StageMatrix): this {
    return this.setContext([{ property: 'matrix', ...m }]);
  }

  /** Several context properties in one set-context op (the set* methods write one each, as the
   *  RW encoders do). */
  setContext(properties: readonly ContextProperty[]): this {
    for (const p of properties) checkProperty(p);
    const start = this.beginOp();
    const ops = this.ops;
    ops.u8(STAGE_OP_CODES.setContext);
    ops.varint(properties.length);
    for (const p of properties) writeProperty(ops, p);
    return this.endOp(start);
  }

  save(): this {
    return this.simpleOp(STAGE_OP_CODES.save);
  }

  restore(): this {
    return this.simpleOp(STAGE_OP_CODES.restore);
  }

  resetContext(): this {
    return this.simpleOp(STAGE_OP_CODES.reset);
  }

  /** A polygon from flat `x0, y0, x1, y1, ...`; points after the first go out as deltas. */
  drawPolygon(points: ArrayLike<number>): this {
    if (points.length % 2 !== 0) {
      throw new ProtocolEncodeError('VALUE_OUT_OF_RANGE', `polygon points length ${points.length} is odd: points are flat x, y pairs`);
    }
    // Checked in a first pass so that a bad point leaves no half-written op.
    if (!(points instanceof Int32Array)) {
      for (let i = 0; i < points.length; i++) toInt32Coordinate(points[i], i & 1 ? 'polygon y' : 'polygon x');
    }
    const start = this.beginOp();
    const ops = this.ops;
    ops.u8(STAGE_OP_CODES.polygon);
    ops.varint(points.length >> 1);
    // The first point is absolute: a delta against 0, 0.
    let px = 0;
    let py = 0;
    for (let i = 0; i < points.length; i += 2) {
      const x = truncInt32(points[i]);
      const y = truncInt32(points[i + 1]);
      ops.zigzag((x - px) | 0);
      ops.zigzag((y - py) | 0);
      px = x;
      py = y;
    }
    return this.endOp(start);
  }

  drawText(text: string, x: number, y: number): this {
    const ix = toInt32Coordinate(x, 'text x');
    const iy = toInt32Coordinate(y, 'text y');
    const byteLength = utf8ByteLength(text);
    this.checkRoom(byteLength);
    const start = this.beginOp();
    const ops = this.ops;
    ops.u8(STAGE_OP_CODES.text);
    ops.zigzag(ix);
    ops.zigzag(iy);
    ops.varint(byteLength);
    ops.utf8(text, byteLength);
    return this.endOp(start);
  }

  drawCircle(cx: number, cy: number, radius: number): this {
    const icx = toInt32Coordinate(cx, 'circle cx');
    const icy = toInt32Coordinate(cy, 'circle cy');
    checkUint32(radius, 'circle radius');
    const start = this.beginOp();
    const ops = this.ops;
    ops.u8(STAGE_OP_CODES.circle);
    ops.zigzag(icx);
    ops.zigzag(icy);
    ops.varint(radius);
    return this.endOp(start);
  }

  drawRect(x: number, y: number, width: number, height: number): this {
    const ix = toInt32Coordinate(x, 'rect x');
    const iy = toInt32Coordinate(y, 'rect y');
    checkUint32(width, 'rect width');
    checkUint32(height, 'rect height');
    const start = this.beginOp();
    const ops = this.ops;
    ops.u8(STAGE_OP_CODES.rect);
    ops.zigzag(ix);
    ops.zigzag(iy);
    ops.varint(width);
    ops.varint(height);
    return this.endOp(start);
  }

  drawLine(x1: number, y1: number, x2: number, y2: number): this {
    const ix1 = toInt32Coordinate(x1, 'line x1');
    const iy1 = toInt32Coordinate(y1, 'line y1');
    const ix2 = toInt32Coordinate(x2, 'line x2');
    const iy2 = toInt32Coordinate(y2, 'line y2');
    const start = this.beginOp();
    const ops = this.ops;
    ops.u8(STAGE_OP_CODES.line);
    ops.zigzag(ix1);
    ops.zigzag(iy1);
    ops.zigzag(ix2);
    ops.zigzag(iy2);
    return this.endOp(start);
  }

  /** A JPEG patch drawn at x, y scaled to width x height. The bytes are copied. */
  drawJpeg(jpeg: Uint8Array, x: number, y: number, width: number, height: number): this {
    const ix = toInt32Coordinate(x, 'jpeg x');
    const iy = toInt32Coordinate(y, 'jpeg y');
    checkUint32(width, 'jpeg width');
    checkUint32(height, 'jpeg height');
    // Checked before copying, so an oversized image is refused without growing the buffer.
    this.checkRoom(jpeg.length);
    const start = this.beginOp();
    const ops = this.ops;
    ops.u8(STAGE_OP_CODES.jpeg);
    ops.zigzag(ix);
    ops.zigzag(iy);
    ops.varint(width);
    ops.varint(height);
    ops.varint(jpeg.length);
    ops.raw(jpeg);
    return this.endOp(start);
  }

  /** Writes an op given as data (what decodeStage returns). */
  op(op: StageOp): this {
    switch (op.op) {
      case 'polygon':
        return this.drawPolygon(op.points);
      case 'text':
        return this.drawText(op.text, op.x, op.y);
      case 'circle':
        return this.drawCircle(op.cx, op.cy, op.radius);
      case 'rect':
        return this.drawRect(op.x, op.y, op.width, op.height);
      case 'line':
        return this.drawLine(op.x1, op.y1, op.x2, op.y2);
      case 'jpeg':
        return this.drawJpeg(op.data, op.x, op.y, op.width, op.height);
      case 'setContext':
        return this.setContext(op.properties);
      case 'save':
        return this.save();
      case 'restore':
        return this.restore();
      case 'reset':
        return this.resetContext();
    }
  }

  /** Whether this canvas belongs to the frame in progress. */
  get current(): boolean {
    return this.frameGeneration === this.frame.generation;
  }

  /** Starts this canvas over for frame `generation`. */
  activate(generation: number): void {
    this.frameGeneration = generation;
    this.type = 'master';
    this.opCount = 0;
    this.ops.reset();
  }

  /** Appends the layer block (id, type, and for a master the op count and ops) to `out`. */
  writeTo(out: ByteWriter): void {
    out.u8(this.layerId);
    if (this.type === 'master') {
      out.u8(STAGE_LAYER_MASTER);
      out.varint(this.opCount);
      out.raw(this.ops.view());
    } else {
      out.u8(this.type === 'remain' ? STAGE_LAYER_REMAIN : STAGE_LAYER_CLEAR);
    }
  }

  private setOpLessType(type: 'remain' | 'clear'): this {
    this.checkCurrent();
    if (this.opCount > 0) {
      throw new ProtocolEncodeError(
        'OPS_ON_NON_MASTER_LAYER',
        `layer ${this.layerId} has ${this.opCount} ops and cannot become ${type}: only a master layer carries ops`,
      );
    }
    this.type = type;
    return this;
  }

  private setColor(property: 'stroke' | 'fill' | 'fontColor', color: Rgba): this {
    checkColor(color, property);
    const start = this.beginOp();
    this.writeContextHeader(STAGE_CONTEXT_PROPERTY_IDS[property]);
    writeColor(this.ops, color);
    return this.endOp(start);
  }

  private setFloatPair(propertyId: number, x: number, y: number): this {
    const start = this.beginOp();
    this.writeContextHeader(propertyId);
    this.ops.f32(x);
    this.ops.f32(y);
    return this.endOp(start);
  }

  private simpleOp(code: number): this {
    const start = this.beginOp();
    this.ops.u8(code);
    return this.endOp(start);
  }

  /** A set-context op with one property: op code, count 1, property id. */
  private writeContextHeader(propertyId: number): void {
    this.ops.u8(STAGE_OP_CODES.setContext);
    this.ops.varint(1);
    this.ops.u8(propertyId);
  }

  private checkCurrent(): void {
    if (!this.current) {
      throw new ProtocolStateError('STALE_LAYER', `layer ${this.layerId} canvas used after its frame was finished`);
    }
  }

  /** Checks the canvas may take an op; returns where the op starts, for endOp and guard. */
  private beginOp(): number {
    this.checkCurrent();
    if (this.type !== 'master') {
      throw new ProtocolEncodeError(
        'OPS_ON_NON_MASTER_LAYER',
        `layer ${this.layerId} is ${this.type}: only a master layer carries ops`,
      );
    }
    return this.ops.length;
  }

  /** Counts the op just written, or undoes it when it pushed the layer past its limit. */
  private endOp(start: number): this {
    const opCount = this.opCount + 1;
    const layerBytes = LAYER_HEADER_BYTES + varint32Length(opCount) + this.ops.length;
    if (layerBytes > MAX_STAGE_LAYER_BYTES) {
      this.ops.truncate(start);
      throw this.tooLarge(layerBytes);
    }
    this.opCount = opCount;
    return this;
  }

  /** Refuses, before writing, an op carrying `payloadBytes` that cannot fit the layer. */
  private checkRoom(payloadBytes: number): void {
    const atLeast = LAYER_HEADER_BYTES + this.ops.length + payloadBytes;
    if (atLeast > MAX_STAGE_LAYER_BYTES) throw this.tooLarge(atLeast);
  }

  private tooLarge(bytes: number): ProtocolEncodeError {
    return new ProtocolEncodeError(
      'LAYER_TOO_LARGE',
      `layer ${this.layerId} would be ${bytes} bytes, above the ${MAX_STAGE_LAYER_BYTES}-byte limit (${this.opCount} ops so far)`,
    );
  }
}

/**
 * Encodes stage messages without I/O: beginFrame, draw on layer(id) canvases, finishFrame.
 * Layers go out in the order they were first used in the frame (as the RW StageSink writes them).
 * Layer buffers and the output buffer are reused from frame to frame.
 */
export class StageEncoder {
  private readonly frame: StageFrameState = { generation: 0 };
  private readonly canvases: (LayerCanvas | undefined)[] = [];
  private readonly layers: LayerCanvas[] = [];
  private readonly out = new ByteWriter();
  private frameId: FrameIdInput = 0;
  private open = false;

  /** Starts a frame, dropping any unfinished one. */
  beginFrame(frameId: FrameIdInput): void {
    checkFrameId(frameId);
    this.frame.generation++;
    this.layers.length = 0;
    this.frameId = frameId;
    this.open = true;
  }

  /** The canvas of layer `layerId` (0..255) in this frame, a master layer until told otherwise. */
  layer(layerId: number): LayerCanvas {
    if (!this.open) throw new ProtocolStateError('NO_OPEN_FRAME', 'stage layer() before beginFrame()');
    checkUint(layerId, UINT8_MAX, 'stage layer id');
    let canvas = this.canvases[layerId];
    if (!canvas) {
      canvas = new LayerCanvas(layerId, this.frame);
      this.canvases[layerId] = canvas;
    }
    if (!canvas.current) {
      if (this.layers.length === MAX_STAGE_LAYERS) {
        throw new ProtocolEncodeError(
          'TOO_MANY_LAYERS',
          `stage layer ${layerId} would be layer ${MAX_STAGE_LAYERS + 1} of a message that carries at most ${MAX_STAGE_LAYERS}`,
        );
      }
      canvas.activate(this.frame.generation);
      this.layers.push(canvas);
    }
    return canvas;
  }

  abandonFrame(): void {
    this.frame.generation++;
    this.open = false;
  }

  /** The message: a view of the internal buffer, valid until the next finishFrame. Canvases of
   *  this frame become stale. */
  finishFrame(): Uint8Array {
    if (!this.open) throw new ProtocolStateError('NO_OPEN_FRAME', 'stage finishFrame() before beginFrame()');
    const out = this.out;
    out.reset();
    out.u64(this.frameId);
    out.u8(this.layers.length);
    for (const canvas of this.layers) canvas.writeTo(out);
    out.u8(STAGE_END_MARKER_BYTE);
    out.u8(STAGE_END_MARKER_BYTE);
    this.frame.generation++;
    this.open = false;
    return out.view();
  }

  /** Encodes a message given as data (what decodeStage returns). Layer ids must be unique. */
  encodeMessage(message: { frameId: FrameIdInput; layers: readonly StageLayer[] }): Uint8Array {
    this.beginFrame(message.frameId);
    for (const layer of message.layers) {
      checkUint(layer.layerId, UINT8_MAX, 'stage layer id');
      if (this.canvases[layer.layerId]?.current) {
        throw new ProtocolEncodeError('VALUE_OUT_OF_RANGE', `stage layer ${layer.layerId} appears twice in one message`);
      }
      const canvas = this.layer(layer.layerId);
      if (layer.type === 'master') for (const op of layer.ops) canvas.op(op);
      else if (layer.type === 'remain') canvas.remain();
      else canvas.clear();
    }
    return this.finishFrame();
  }
}

export interface StageSinkOptions {
  /** Close the FrameSink on close() (default true); otherwise only flush it. */
  closeFrameSink?: boolean;
}

/** Draws one stage frame; nothing reaches the stream unless commit() is called. */
export class StageFrameWriter {
  constructor(
    private readonly state: CodecSinkState<StageEncoder>,
    private readonly generation: number,
  ) {}

  layer(layerId: number): LayerCanvas {
    this.state.checkOpen(this.generation);
    return this.state.encoder.layer(layerId);
  }

  /** Writes the message as one frame (a frame with no layers is still a message: header and end
   *  marker); resolves once the FrameSink took it. */
  async commit(): Promise<void> {
    return this.state.commit(this.generation);
  }
}

/** A stage stream over a FrameSink: beginFrame returns a per-frame writer whose commit() writes
 *  the message atomically. Beginning a frame abandons an uncommitted one. */
export class StageSink {
  private readonly state: CodecSinkState<StageEncoder>;

  constructor(frameSink: FrameSink, options: StageSinkOptions = {}) {
    const queue = new FrameWriteQueue(frameSink, options.closeFrameSink ?? true, 'stage sink');
    this.state = new CodecSinkState(new StageEncoder(), queue, 'stage');
  }

  beginFrame(frameId: FrameIdInput): StageFrameWriter {
    this.state.checkNotClosed();
    this.state.encoder.beginFrame(frameId);
    return new StageFrameWriter(this.state, this.state.nextGeneration());
  }

  flush(): Promise<void> {
    return this.state.flush();
  }

  close(): Promise<void> {
    return this.state.close();
  }
}
