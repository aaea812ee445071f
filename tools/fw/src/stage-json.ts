// Stage messages given as JSON (the shape decodeStage returns, JPEG bytes as base64) written through
// @framewire/overlay-codecs's StageSink. The sink checks value ranges; this module checks the shape the
// sink takes on trust (op and property names, which fields are numbers) so that a typo in a JSON
// file is an error naming the field rather than a silently dropped op.
import type { FrameSink } from '@framewire/framing';
import { ContextProperty, StageOp, StageSink } from '@framewire/overlay-codecs';
import { JsonShapeError, expectArray, expectNumber, expectObject } from './json-shape';

const OP_NUMBER_FIELDS: Record<StageOp['op'], readonly string[]> = {
  polygon: [],
  text: ['x', 'y'],
  circle: ['cx', 'cy', 'radius'],
  rect: ['x', 'y', 'width', 'height'],
  line: ['x1', 'y1', 'x2', 'y2'],
  jpeg: ['x', 'y', 'width', 'height'],
  setContext: [],
  save: [],
  restore: [],
  reset: [],
};

const PROPERTY_NUMBER_FIELDS: Record<ContextProperty['property'], readonly string[]> = {
  stroke: [],
  fill: [],
  fontColor: [],
  thickness: ['value'],
  fontSize: ['value'],
  offset: ['x', 'y'],
  rotation: ['degrees'],
  scale: ['x', 'y'],
  skew: ['x', 'y'],
  matrix: ['scaleX', 'skewX', 'transX', 'skewY', 'scaleY', 'transY'],
};
const COLOR_PROPERTIES = new Set(['stroke', 'fill', 'fontColor']);
const COLOR_CHANNELS = ['r', 'g', 'b', 'a'];
const LAYER_TYPES = new Set(['master', 'remain', 'clear']);
const BASE64_PATTERN = /^[A-Za-z0-9+/]*={0,2}$/;

/** Writes one stage message per call; owns the StageSink (and through it the FrameSink). */
export class StageJsonSink {
  private readonly sink: StageSink;

  constructor(frameSink: FrameSink) {
    this.sink = new StageSink(frameSink);
  }

  async write(frameId: bigint, message: Record<string, unknown>): Promise<void> {
    // Parsed completely before the frame begins: a bad layer must not leave half a frame behind.
    const layers = expectArray(message.layers, 'layers').map((item, i) => readLayer(item, `layers[${i}]`));
    const seen = new Set<number>();
    const writer = this.sink.beginFrame(frameId);
    for (const layer of layers) {
      if (seen.has(layer.layerId)) throw new JsonShapeError(`layer ${layer.layerId} appears twice in one message`);
      seen.add(layer.layerId);
      const canvas = writer.layer(layer.layerId);
      if (layer.type === 'remain') canvas.remain();
      else if (layer.type === 'clear') canvas.clear();
      else for (const op of layer.ops) canvas.op(op);
    }
    await writer.commit();
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}

interface ParsedLayer {
  layerId: number;
  type: 'master' | 'remain' | 'clear';
  ops: StageOp[];
}

function readLayer(value: unknown, where: string): ParsedLayer {
  const layer = expectObject(value, where);
  const layerId = expectNumber(layer.layerId, `${where}.layerId`);
  const type = layer.type;
  if (typeof type !== 'string' || !LAYER_TYPES.has(type)) {
    throw new JsonShapeError(`${where}.type must be "master", "remain" or "clear", got ${JSON.stringify(type)}`);
  }
  if (type !== 'master') {
    if (layer.ops !== undefined && !(Array.isArray(layer.ops) && layer.ops.length === 0)) {
      throw new JsonShapeError(`${where} is a ${type} layer: it carries no ops`);
    }
    return { layerId, type: type as ParsedLayer['type'], ops: [] };
  }
  const ops = expectArray(layer.ops, `${where}.ops`).map((op, i) => readOp(op, `${where}.ops[${i}]`));
  return { layerId, type: 'master', ops };
}

function readOp(value: unknown, where: string): StageOp {
  const op = expectObject(value, where);
  const name = op.op;
  if (typeof name !== 'string' || !Object.hasOwn(OP_NUMBER_FIELDS, name)) {
    throw new JsonShapeError(`${where}.op ${JSON.stringify(name)} is not one of ${Object.keys(OP_NUMBER_FIELDS).join(', ')}`);
  }
  for (const field of OP_NUMBER_FIELDS[name as StageOp['op']]) expectNumber(op[field], `${where}.${field}`);
  switch (name) {
    case 'polygon': {
      const points = expectArray(op.points, `${where}.points`);
      points.forEach((p, i) => expectNumber(p, `${where}.points[${i}]`));
      // A plain array, not an Int32Array: the canvas range-checks plain values, a typed array
      // would have wrapped them silently.
      return { op: 'polygon', points: points as unknown as Int32Array };
    }
    case 'text':
      if (typeof op.text !== 'string') throw new JsonShapeError(`${where}.text must be a string`);
      break;
    case 'jpeg':
      if (typeof op.data !== 'string' || !BASE64_PATTERN.test(op.data)) {
        throw new JsonShapeError(`${where}.data must be the JPEG bytes as a base64 string`);
      }
      return { ...(op as unknown as StageOp & { op: 'jpeg' }), data: Buffer.from(op.data, 'base64') };
    case 'setContext': {
      const properties = expectArray(op.properties, `${where}.properties`).map((p, i) => readProperty(p, `${where}.properties[${i}]`));
      return { op: 'setContext', properties };
    }
  }
  return op as unknown as StageOp;
}

function readProperty(value: unknown, where: string): ContextProperty {
  const property = expectObject(value, where);
  const name = property.property;
  if (typeof name !== 'string' || !Object.hasOwn(PROPERTY_NUMBER_FIELDS, name)) {
    throw new JsonShapeError(
      `${where}.property ${JSON.stringify(name)} is not one of ${Object.keys(PROPERTY_NUMBER_FIELDS).join(', ')}`,
    );
  }
  for (const field of PROPERTY_NUMBER_FIELDS[name as ContextProperty['property']]) expectNumber(property[field], `${where}.${field}`);
  if (COLOR_PROPERTIES.has(name)) {
    const color = expectObject(property.color, `${where}.color`);
    for (const channel of COLOR_CHANNELS) expectNumber(color[channel], `${where}.color.${channel}`);
  }
  return property as unknown as ContextProperty;
}
