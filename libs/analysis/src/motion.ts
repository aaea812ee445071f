// The "motion" analyzer: median background model → foreground mask → connected components →
// outer contours → Douglas-Peucker polygons. Outputs segmentation (one polygon per moving object)
// and detections (its box), both in frame pixels.
import { Detection, SegmentationInstance } from '@framewire/proto';
import { Analyzer, AnalyzerInput, AnalyzerOutputs } from './analyzer';
import { BACKGROUND_SAMPLES, MedianBackground } from './background';
import { ComponentLabeler } from './components';
import { PointBuffer, traceOuterContour } from './contour';
import { applySettings, defaultSettings, SettingsSpec } from './settings';
import { PolygonSimplifier } from './simplify';

export const MOTION_ANALYZER = 'motion';
/** Class id of motion instances and detections (0 is left for "background" in segmentation). */
export const MOTION_CLASS_ID = 1;
export const MOTION_LABEL = 'motion';
/** Mean per-pixel difference at which a component's score reaches 1. */
const FULL_SCORE_DIFFERENCE = 96;
/** A component whose border contrast in the frame is below this fraction of that in the background
 *  model is a ghost (see isGhost). An object half hidden by its own ghost scores about 1. */
const GHOST_CONTRAST_RATIO = 0.5;
/** Instance ids are one byte in the RW segmentation format. */
const MAX_INSTANCE_ID = 255;

export const MOTION_SETTINGS = {
  threshold: { min: 1, max: 255, integer: true, default: 30, description: 'per-pixel difference from the background (max over R, G, B, 0..255) above which a pixel is foreground' },
  minArea: { min: 1, max: 1e8, integer: false, default: 100, description: 'smallest object kept, in frame pixels' },
  historySeconds: { min: 0.5, max: 600, integer: false, default: 6, description: `background window: the median of ${BACKGROUND_SAMPLES} frames sampled evenly over it; an object still for less than half of it stays foreground` },
  simplifyEpsilon: { min: 0, max: 100, integer: false, default: 2, description: 'Douglas-Peucker tolerance of the polygons, frame pixels' },
  maxObjects: { min: 1, max: MAX_INSTANCE_ID, integer: true, default: 32, description: 'most objects reported per frame (the largest are kept)' },
} as const satisfies SettingsSpec<string>;
export type MotionSettings = Record<keyof typeof MOTION_SETTINGS, number>;

/** Everything sized to the analysed image; rebuilt when its size changes. */
interface MotionBuffers {
  width: number;
  height: number;
  background: MedianBackground;
  difference: Uint8Array;
  mask: Uint8Array;
  labeler: ComponentLabeler;
  contour: PointBuffer;
  polygon: PointBuffer;
  simplifier: PolygonSimplifier;
  order: number[];
}

export class MotionAnalyzer implements Analyzer {
  readonly name = MOTION_ANALYZER;
  private current: MotionSettings;
  private buffers: MotionBuffers | undefined;
  private lastTimeUs = Number.NEGATIVE_INFINITY;

  constructor(settings: Record<string, unknown> = {}) {
    this.current = applySettings(MOTION_ANALYZER, MOTION_SETTINGS, defaultSettings(MOTION_SETTINGS), settings);
  }

  settings(): MotionSettings {
    return { ...this.current };
  }

  configure(changes: Record<string, unknown>): void {
    const next = applySettings(MOTION_ANALYZER, MOTION_SETTINGS, this.current, changes);
    // A new window length is a new background model; the old samples are spaced for the old one.
    if (next.historySeconds !== this.current.historySeconds) this.reset();
    this.current = next;
  }

  reset(): void {
    this.buffers?.background.reset();
    this.lastTimeUs = Number.NEGATIVE_INFINITY;
  }

  analyze(input: AnalyzerInput): AnalyzerOutputs {
    const { image, scale, frameWidth, frameHeight, captureTimeUs } = input;
    const { width, height } = image;
    let b = this.buffers;
    if (b === undefined || b.width !== width || b.height !== height) b = this.buffers = createBuffers(width, height);
    // Time going backwards means a new capture session: the old background is not this scene's.
    if (captureTimeUs < this.lastTimeUs) b.background.reset();
    this.lastTimeUs = captureTimeUs;
    const empty: AnalyzerOutputs = {
      segmentation: { width: frameWidth, height: frameHeight, instances: [] },
      detections: { detections: [] },
    };
    if (b.background.sampleCount === 0) {
      b.background.update(image.data, captureTimeUs, (this.current.historySeconds * 1e6) / BACKGROUND_SAMPLES);
      return empty;
    }

    const { threshold, minArea, simplifyEpsilon, maxObjects } = this.current;
    const { difference, mask } = b;
    const model = b.background.model;
    const rgb = image.data;
    for (let p = 0, i = 0; p < difference.length; p++, i += 3) {
      const dr = Math.abs(rgb[i] - model[i]);
      const dg = Math.abs(rgb[i + 1] - model[i + 1]);
      const db = Math.abs(rgb[i + 2] - model[i + 2]);
      const d = dr > dg ? (dr > db ? dr : db) : dg > db ? dg : db;
      difference[p] = d;
      mask[p] = d > threshold ? 1 : 0;
    }
    // Compared with this frame's model, then the model learns from the frame.
    b.background.update(rgb, captureTimeUs, (this.current.historySeconds * 1e6) / BACKGROUND_SAMPLES);

    const count = b.labeler.label(mask, difference);
    const { area, minX, minY, maxX, maxY, sumWeight, start } = b.labeler.stats;
    const minPixels = minArea / (scale * scale);
    const order = b.order;
    order.length = 0;
    for (let l = 1; l <= count; l++) if (area[l] >= minPixels) order.push(l);
    order.sort((l1, l2) => area[l2] - area[l1]);

    const instances: SegmentationInstance[] = [];
    const detections: Detection[] = [];
    const epsilon = simplifyEpsilon / scale;
    const labels = b.labeler.labels;
    for (let k = 0; k < order.length && instances.length < maxObjects; k++) {
      const l = order[k];
      traceOuterContour(labels, width, height, l, start[l], b.contour);
      if (isGhost(b.contour, labels, width, height, l, rgb, model)) {
        for (let y = minY[l]; y <= maxY[l]; y++) {
          for (let i = y * width + minX[l], end = y * width + maxX[l]; i <= end; i++) if (labels[i] === l) b.background.adoptPixel(rgb, i);
        }
        continue;
      }
      const score = Math.min(1, sumWeight[l] / area[l] / FULL_SCORE_DIFFERENCE);
      b.simplifier.simplifyClosed(b.contour, epsilon, b.polygon);
      const points = new Array<number>(b.polygon.length * 2);
      const pd = b.polygon.data;
      // Vertices are the centres of boundary pixels, mapped to frame pixels.
      for (let i = 0; i < points.length; i++) {
        const limit = (i & 1) === 0 ? frameWidth - 1 : frameHeight - 1;
        points[i] = Math.min(limit, Math.floor((pd[i] + 0.5) * scale));
      }
      instances.push({ classId: MOTION_CLASS_ID, instanceId: instances.length + 1, confidence: score, points });
      const x = minX[l] * scale;
      const y = minY[l] * scale;
      detections.push({
        box: { x, y, width: Math.min(frameWidth, (maxX[l] + 1) * scale) - x, height: Math.min(frameHeight, (maxY[l] + 1) * scale) - y },
        score,
        classId: MOTION_CLASS_ID,
        label: MOTION_LABEL,
      });
    }
    return { segmentation: { width: frameWidth, height: frameHeight, instances }, detections: { detections } };
  }
}

/**
 * Whether a foreground component is a ghost: where its mask ends, an object makes an edge in the
 * frame, while a ghost (an object that was in the background samples and has left) makes an edge
 * only in the background model. Compares the colour contrast across the component's border in both.
 */
function isGhost(contour: PointBuffer, labels: Int32Array, width: number, height: number, label: number, rgb: Uint8Array, model: Uint8Array): boolean {
  let frameContrast = 0;
  let backgroundContrast = 0;
  const p = contour.data;
  for (let k = 0; k < contour.length; k++) {
    const x = p[2 * k];
    const y = p[2 * k + 1];
    const inside = (y * width + x) * 3;
    for (let n = 0; n < 4; n++) {
      const nx = x + NEIGHBOUR_DX[n];
      const ny = y + NEIGHBOUR_DY[n];
      if (nx < 0 || nx >= width || ny < 0 || ny >= height || labels[ny * width + nx] === label) continue;
      const outside = (ny * width + nx) * 3;
      frameContrast += maxChannelDifference(rgb, inside, outside);
      backgroundContrast += maxChannelDifference(model, inside, outside);
    }
  }
  return frameContrast < GHOST_CONTRAST_RATIO * backgroundContrast;
}

const NEIGHBOUR_DX = [1, 0, -1, 0] as const;
const NEIGHBOUR_DY = [0, 1, 0, -1] as const;

function maxChannelDifference(rgb: Uint8Array, a: number, b: number): number {
  const dr = Math.abs(rgb[a] - rgb[b]);
  const dg = Math.abs(rgb[a + 1] - rgb[b + 1]);
  const db = Math.abs(rgb[a + 2] - rgb[b + 2]);
  return dr > dg ? (dr > db ? dr : db) : dg > db ? dg : db;
}

function createBuffers(width: number, height: number): MotionBuffers {
  return {
    width,
    height,
    background: new MedianBackground(width, height),
    difference: new Uint8Array(width * height),
    mask: new Uint8Array(width * height),
    labeler: new ComponentLabeler(width, height),
    contour: new PointBuffer(1024),
    polygon: new PointBuffer(256),
    simplifier: new PolygonSimplifier(),
    order: [],
  };
}
