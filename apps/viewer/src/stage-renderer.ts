// Stage overlays (formats.md §4) in the page: each message, decoded by @framewire/overlay-codecs's
// decodeStage (the same code the Node side uses), updates the layer state of its worker (master:
// new ops; remain: keep; clear: nothing), and a frame is drawn from the resolved layers, lower ids
// first. Context ops (stroke, fill, thickness, font, transforms, save/restore/reset) apply within a
// layer; every layer starts from the defaults.
import { decodeStage, type ContextProperty, type Rgba, type StageOp } from '@framewire/overlay-codecs';
import { Canvas2D, CanvasImageSourceLike, rgba } from './canvas';

/** A stage message with every layer resolved to the ops to draw, in drawing order. */
export interface ResolvedStage {
  frameId: bigint;
  layers: { layerId: number; ops: readonly StageOp[] }[];
}

const DEFAULT_STROKE: Rgba = { r: 255, g: 255, b: 255, a: 255 };
const DEFAULT_FILL: Rgba = { r: 0, g: 0, b: 0, a: 0 };
const DEFAULT_FONT_COLOR: Rgba = { r: 255, g: 255, b: 255, a: 255 };
const DEFAULT_THICKNESS_PX = 1;
const DEFAULT_FONT_SIZE_PX = 12;
const DEGREES = Math.PI / 180;

/** The layers of one worker's stage stream, as the messages so far leave them. */
export class StageLayers {
  private readonly layers = new Map<number, readonly StageOp[]>();

  /** Applies `payload` (throws ProtocolDecodeError on bad bytes; the state is then unchanged). */
  apply(payload: Uint8Array): ResolvedStage {
    const message = decodeStage(payload);
    for (const layer of message.layers) {
      if (layer.type === 'master') this.layers.set(layer.layerId, layer.ops);
      else if (layer.type === 'clear') this.layers.delete(layer.layerId);
      // remain: the layer keeps what it had
    }
    const layers = [...this.layers.entries()].sort((a, b) => a[0] - b[0]).map(([layerId, ops]) => ({ layerId, ops }));
    return { frameId: message.frameId, layers };
  }
}

type Matrix = [number, number, number, number, number, number];
const IDENTITY: Matrix = [1, 0, 0, 1, 0, 0];

function multiply(m: Matrix, n: Matrix): Matrix {
  return [m[0] * n[0] + m[2] * n[1], m[1] * n[0] + m[3] * n[1], m[0] * n[2] + m[2] * n[3], m[1] * n[2] + m[3] * n[3], m[0] * n[4] + m[2] * n[5] + m[4], m[1] * n[4] + m[3] * n[5] + m[5]];
}

interface DrawState {
  stroke: Rgba;
  fill: Rgba;
  fontColor: Rgba;
  thickness: number;
  fontSize: number;
  matrix: Matrix;
}

const defaults = (): DrawState => ({ stroke: DEFAULT_STROKE, fill: DEFAULT_FILL, fontColor: DEFAULT_FONT_COLOR, thickness: DEFAULT_THICKNESS_PX, fontSize: DEFAULT_FONT_SIZE_PX, matrix: IDENTITY });

function applyProperty(s: DrawState, p: ContextProperty): void {
  switch (p.property) {
    case 'stroke':
    case 'fill':
    case 'fontColor':
      s[p.property] = p.color;
      return;
    case 'thickness':
    case 'fontSize':
      s[p.property] = p.value;
      return;
    case 'offset':
      s.matrix = multiply(s.matrix, [1, 0, 0, 1, p.x, p.y]);
      return;
    case 'rotation': {
      const r = p.degrees * DEGREES;
      s.matrix = multiply(s.matrix, [Math.cos(r), Math.sin(r), -Math.sin(r), Math.cos(r), 0, 0]);
      return;
    }
    case 'scale':
      s.matrix = multiply(s.matrix, [p.x, 0, 0, p.y, 0, 0]);
      return;
    case 'skew':
      s.matrix = multiply(s.matrix, [1, Math.tan(p.y * DEGREES), Math.tan(p.x * DEGREES), 1, 0, 0]);
      return;
    case 'matrix':
      // SkMatrix order: scaleX, skewX, transX, skewY, scaleY, transY.
      s.matrix = [p.scaleX, p.skewY, p.skewX, p.scaleY, p.transX, p.transY];
      return;
  }
}

/** Decoded JPEG patches by their bytes (decoding is asynchronous in the browser). */
export interface JpegPatches {
  get(bytes: Uint8Array): CanvasImageSourceLike | undefined;
}

function paint(ctx: Canvas2D, s: DrawState): void {
  if (s.fill.a > 0) {
    ctx.fillStyle = rgba(s.fill);
    ctx.fill();
  }
  if (s.stroke.a > 0 && s.thickness > 0) {
    ctx.strokeStyle = rgba(s.stroke);
    ctx.lineWidth = s.thickness;
    ctx.stroke();
  }
}

/** Draws a resolved stage on `ctx`, whose transform maps frame pixels to the canvas (`base`). */
export function drawStage(ctx: Canvas2D, stage: ResolvedStage, base: Matrix = IDENTITY, patches?: JpegPatches): void {
  for (const layer of stage.layers) {
    let s = defaults();
    const saved: DrawState[] = [];
    ctx.save();
    for (const op of layer.ops) {
      const m = multiply(base, s.matrix);
      ctx.setTransform(m[0], m[1], m[2], m[3], m[4], m[5]);
      switch (op.op) {
        case 'setContext':
          for (const p of op.properties) applyProperty(s, p);
          break;
        case 'save':
          saved.push({ ...s });
          break;
        case 'restore':
          s = saved.pop() ?? s;
          break;
        case 'reset':
          s = defaults();
          break;
        case 'polygon': {
          if (op.points.length < 4) break;
          ctx.beginPath();
          ctx.moveTo(op.points[0], op.points[1]);
          for (let i = 2; i < op.points.length; i += 2) ctx.lineTo(op.points[i], op.points[i + 1]);
          ctx.closePath();
          paint(ctx, s);
          break;
        }
        case 'circle':
          ctx.beginPath();
          ctx.arc(op.cx, op.cy, op.radius, 0, 2 * Math.PI);
          paint(ctx, s);
          break;
        case 'rect':
          ctx.beginPath();
          ctx.rect(op.x, op.y, op.width, op.height);
          paint(ctx, s);
          break;
        case 'line':
          if (s.stroke.a === 0) break;
          ctx.beginPath();
          ctx.moveTo(op.x1, op.y1);
          ctx.lineTo(op.x2, op.y2);
          ctx.strokeStyle = rgba(s.stroke);
          ctx.lineWidth = s.thickness;
          ctx.stroke();
          break;
        case 'text':
          ctx.fillStyle = rgba(s.fontColor);
          ctx.font = `${s.fontSize}px system-ui, sans-serif`;
          ctx.textBaseline = 'alphabetic';
          ctx.fillText(op.text, op.x, op.y);
          break;
        case 'jpeg': {
          const image = patches?.get(op.data);
          if (image !== undefined) ctx.drawImage(image, op.x, op.y, op.width, op.height);
          break;
        }
      }
    }
    ctx.restore();
  }
}
