// Stage (vector graphics overlay) payload, formats.md §4: the message types and the decoder.
// The decoder also runs in the browser viewer, so this module uses only Uint8Array, DataView and
// TextDecoder (no Buffer, no Node modules).
import { ByteReader } from './byte-reader';

export const STAGE_LAYER_MASTER = 0x00;
export const STAGE_LAYER_REMAIN = 0x01;
export const STAGE_LAYER_CLEAR = 0x02;
/** A message ends with two of these bytes. */
export const STAGE_END_MARKER_BYTE = 0xff;
/** A layer (id, type, op count and ops) larger than this is an error on both sides. */
export const MAX_STAGE_LAYER_BYTES = 64 * 1024 * 1024;
/** The layer count is a uint8. */
export const MAX_STAGE_LAYERS = 0xff;

export const STAGE_OP_CODES = {
  polygon: 0x01,
  text: 0x02,
  circle: 0x03,
  rect: 0x04,
  line: 0x05,
  jpeg: 0x07,
  setContext: 0x10,
  save: 0x11,
  restore: 0x12,
  reset: 0x13,
} as const;

export const STAGE_CONTEXT_PROPERTY_IDS = {
  stroke: 0x01,
  fill: 0x02,
  thickness: 0x03,
  fontSize: 0x04,
  fontColor: 0x05,
  offset: 0x10,
  rotation: 0x11,
  scale: 0x12,
  skew: 0x13,
  matrix: 0x20,
} as const;

/** Colour channels 0..255 each. */
export interface Rgba {
  r: number;
  g: number;
  b: number;
  a: number;
}

/** The 2x3 affine matrix in SkMatrix order, as the wire carries it. */
export interface StageMatrix {
  scaleX: number;
  skewX: number;
  transX: number;
  skewY: number;
  scaleY: number;
  transY: number;
}

export type ContextProperty =
  | { property: 'stroke' | 'fill' | 'fontColor'; color: Rgba }
  /** Pixels, uint32. */
  | { property: 'thickness' | 'fontSize'; value: number }
  /** Translation in whole pixels (int32). */
  | { property: 'offset'; x: number; y: number }
  /** Degrees, float32. */
  | { property: 'rotation'; degrees: number }
  /** float32 each. */
  | { property: 'scale' | 'skew'; x: number; y: number }
  /** float32 each. */
  | ({ property: 'matrix' } & StageMatrix);

/** One drawing op. Coordinates are int32, sizes uint32. */
export type StageOp =
  /** Flat x0, y0, x1, y1, ... */
  | { op: 'polygon'; points: Int32Array }
  | { op: 'text'; x: number; y: number; text: string }
  | { op: 'circle'; cx: number; cy: number; radius: number }
  | { op: 'rect'; x: number; y: number; width: number; height: number }
  | { op: 'line'; x1: number; y1: number; x2: number; y2: number }
  /** `data` is a view of the payload when decoded. */
  | { op: 'jpeg'; x: number; y: number; width: number; height: number; data: Uint8Array }
  | { op: 'setContext'; properties: ContextProperty[] }
  | { op: 'save' }
  | { op: 'restore' }
  | { op: 'reset' };

/** master: clear and redraw with `ops`; remain: keep the previous content; clear: transparent.
 *  The viewer draws lower layer ids first, whatever their order in the message. */
export type StageLayer =
  | { layerId: number; type: 'master'; ops: StageOp[] }
  | { layerId: number; type: 'remain' }
  | { layerId: number; type: 'clear' };

export interface StageMessage {
  frameId: bigint;
  layers: StageLayer[];
  /** Stream offset of the frame (Frame.offset); 0 when decoded without a stream offset. */
  offset: number;
}

// Non-fatal, like the C# reader's Encoding.UTF8: malformed text becomes U+FFFD instead of failing
// the whole overlay. ignoreBOM keeps a leading U+FEFF as text.
const utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });

// Smallest encodings, to reject counts that cannot fit before sizing anything by them.
const MIN_OP_BYTES = 1;
const MIN_POINT_BYTES = 2;
const MIN_PROPERTY_BYTES = 2;

function hexByte(b: number): string {
  return `0x${b.toString(16).padStart(2, '0')}`;
}

function readColor(r: ByteReader): Rgba {
  r.need(4, 'a colour');
  return { r: r.u8('red'), g: r.u8('green'), b: r.u8('blue'), a: r.u8('alpha') };
}

function readProperty(r: ByteReader): ContextProperty {
  const idOffset = r.offset;
  const id = r.u8('a context property id');
  switch (id) {
    case STAGE_CONTEXT_PROPERTY_IDS.stroke:
      return { property: 'stroke', color: readColor(r) };
    case STAGE_CONTEXT_PROPERTY_IDS.fill:
      return { property: 'fill', color: readColor(r) };
    case STAGE_CONTEXT_PROPERTY_IDS.fontColor:
      return { property: 'fontColor', color: readColor(r) };
    case STAGE_CONTEXT_PROPERTY_IDS.thickness:
      return { property: 'thickness', value: r.varint('a thickness') };
    case STAGE_CONTEXT_PROPERTY_IDS.fontSize:
      return { property: 'fontSize', value: r.varint('a font size') };
    case STAGE_CONTEXT_PROPERTY_IDS.offset:
      return { property: 'offset', x: r.zigzag('an offset x'), y: r.zigzag('an offset y') };
    case STAGE_CONTEXT_PROPERTY_IDS.rotation:
      return { property: 'rotation', degrees: r.f32('a rotation') };
    case STAGE_CONTEXT_PROPERTY_IDS.scale:
      return { property: 'scale', x: r.f32('a scale x'), y: r.f32('a scale y') };
    case STAGE_CONTEXT_PROPERTY_IDS.skew:
      return { property: 'skew', x: r.f32('a skew x'), y: r.f32('a skew y') };
    case STAGE_CONTEXT_PROPERTY_IDS.matrix:
      r.need(24, 'a matrix');
      return {
        property: 'matrix',
        scaleX: r.f32('a matrix'),
        skewX: r.f32('a matrix'),
        transX: r.f32('a matrix'),
        skewY: r.f32('a matrix'),
        scaleY: r.f32('a matrix'),
        transY: r.f32('a matrix'),
      };
    default:
      throw r.error('UNKNOWN_CONTEXT_PROPERTY', `unknown context property ${hexByte(id)}`, idOffset);
  }
}

function readOp(r: ByteReader): StageOp {
  const codeOffset = r.offset;
  const code = r.u8('an op code');
  switch (code) {
    case STAGE_OP_CODES.polygon: {
      const countOffset = r.offset;
      const count = r.varint('a polygon point count');
      if (count > r.remaining / MIN_POINT_BYTES) {
        throw r.error(
          'TRUNCATED',
          `polygon point count ${count} needs at least ${count * MIN_POINT_BYTES} bytes, ${r.remaining} remain`,
          countOffset,
        );
      }
      const points = new Int32Array(count * 2);
      if (count > 0) {
        let x = r.zigzag('a polygon x');
        let y = r.zigzag('a polygon y');
        points[0] = x;
        points[1] = y;
        for (let i = 2; i < points.length; i += 2) {
          x = (x + r.zigzag('a polygon dx')) | 0;
          y = (y + r.zigzag('a polygon dy')) | 0;
          points[i] = x;
          points[i + 1] = y;
        }
      }
      return { op: 'polygon', points };
    }
    case STAGE_OP_CODES.text: {
      const x = r.zigzag('a text x');
      const y = r.zigzag('a text y');
      const length = r.varint('a text length');
      return { op: 'text', x, y, text: utf8Decoder.decode(r.bytes(length, 'a text')) };
    }
    case STAGE_OP_CODES.circle:
      return { op: 'circle', cx: r.zigzag('a circle cx'), cy: r.zigzag('a circle cy'), radius: r.varint('a radius') };
    case STAGE_OP_CODES.rect:
      return {
        op: 'rect',
        x: r.zigzag('a rect x'),
        y: r.zigzag('a rect y'),
        width: r.varint('a rect width'),
        height: r.varint('a rect height'),
      };
    case STAGE_OP_CODES.line:
      return {
        op: 'line',
        x1: r.zigzag('a line x1'),
        y1: r.zigzag('a line y1'),
        x2: r.zigzag('a line x2'),
        y2: r.zigzag('a line y2'),
      };
    case STAGE_OP_CODES.jpeg: {
      const x = r.zigzag('a jpeg x');
      const y = r.zigzag('a jpeg y');
      const width = r.varint('a jpeg width');
      const height = r.varint('a jpeg height');
      const length = r.varint('a jpeg byte length');
      return { op: 'jpeg', x, y, width, height, data: r.bytes(length, 'the jpeg bytes') };
    }
    case STAGE_OP_CODES.setContext: {
      const countOffset = r.offset;
      const count = r.varint('a context property count');
      if (count > r.remaining / MIN_PROPERTY_BYTES) {
        throw r.error(
          'TRUNCATED',
          `context property count ${count} needs at least ${count * MIN_PROPERTY_BYTES} bytes, ${r.remaining} remain`,
          countOffset,
        );
      }
      const properties: ContextProperty[] = [];
      for (let i = 0; i < count; i++) properties.push(readProperty(r));
      return { op: 'setContext', properties };
    }
    case STAGE_OP_CODES.save:
      return { op: 'save' };
    case STAGE_OP_CODES.restore:
      return { op: 'restore' };
    case STAGE_OP_CODES.reset:
      return { op: 'reset' };
    default:
      throw r.error('UNKNOWN_OP', `unknown op code ${hexByte(code)}`, codeOffset);
  }
}

function readLayer(r: ByteReader): StageLayer {
  const start = r.offset;
  const layerId = r.u8('a layer id');
  const type = r.u8('a layer frame type');
  if (type === STAGE_LAYER_REMAIN) return { layerId, type: 'remain' };
  if (type === STAGE_LAYER_CLEAR) return { layerId, type: 'clear' };
  if (type !== STAGE_LAYER_MASTER) {
    throw r.error('UNKNOWN_LAYER_TYPE', `unknown frame type ${hexByte(type)} of layer ${layerId}`, start + 1);
  }
  const countOffset = r.offset;
  const opCount = r.varint('an op count');
  if (opCount > r.remaining / MIN_OP_BYTES) {
    throw r.error('TRUNCATED', `op count ${opCount} of layer ${layerId} exceeds the ${r.remaining} bytes left`, countOffset);
  }
  const ops: StageOp[] = [];
  for (let i = 0; i < opCount; i++) {
    ops.push(readOp(r));
    if (r.offset - start > MAX_STAGE_LAYER_BYTES) {
      throw r.error('LAYER_TOO_LARGE', `layer ${layerId} exceeds ${MAX_STAGE_LAYER_BYTES} bytes`, start);
    }
  }
  return { layerId, type: 'master', ops };
}

/** Decodes one stage message into plain data. `frameOffset` goes into the result and into
 *  errors. Throws ProtocolDecodeError only. */
export function decodeStage(payload: Uint8Array, frameOffset?: number): StageMessage {
  const r = new ByteReader('stage');
  r.reset(payload, frameOffset);
  const frameId = r.u64('the frame id');
  const layerCount = r.u8('the layer count');
  const layers: StageLayer[] = [];
  for (let i = 0; i < layerCount; i++) layers.push(readLayer(r));
  const markerOffset = r.offset;
  r.need(2, 'the end marker');
  const first = r.u8('the end marker');
  const second = r.u8('the end marker');
  if (first !== STAGE_END_MARKER_BYTE || second !== STAGE_END_MARKER_BYTE) {
    throw r.error(
      'MISSING_END_MARKER',
      `end marker ${hexByte(first)} ${hexByte(second)} instead of 0xff 0xff after ${layerCount} layers`,
      markerOffset,
    );
  }
  if (r.remaining > 0) throw r.error('TRAILING_BYTES', `${r.remaining} bytes after the end marker`);
  return { frameId, layers, offset: frameOffset ?? 0 };
}
