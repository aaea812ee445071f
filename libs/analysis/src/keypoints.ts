// The "keypoints" analyzer: for each confirmed track seen in this frame, named points of its
// object: the centroid and the extreme points (top, right, bottom, left) of the segmentation
// polygon that matches the track's box. Ids are stable per track: trackId * 8 + kind. It also draws
// them as a stage overlay (formats.md §4): links, points and labels, one layer each.
import { Box, KeyPoint, SegmentationInstance } from '@framewire/proto';
import { Rgba, StageEncoder } from '@framewire/overlay-codecs';
import { Analyzer, AnalyzerInput, AnalyzerOutputs } from './analyzer';
import { applySettings, defaultSettings, SettingsSpec } from './settings';
import { iou } from './tracker';

export const KEYPOINTS_ANALYZER = 'keypoints';
/** Ids reserved per track: id = trackId * KEYPOINT_ID_STRIDE + kind. */
export const KEYPOINT_ID_STRIDE = 8;
export const KEYPOINT_KINDS = ['centroid', 'top', 'right', 'bottom', 'left'] as const;
export type KeypointKind = (typeof KEYPOINT_KINDS)[number];

/** The id of point `kind` of track `trackId`. */
export function keypointId(trackId: number, kind: KeypointKind): number {
  return trackId * KEYPOINT_ID_STRIDE + KEYPOINT_KINDS.indexOf(kind);
}

/** The name under which point `kind` of track `trackId` appears in pointNames, e.g. "t3.centroid". */
export function keypointName(trackId: number, kind: KeypointKind): string {
  return `t${trackId}.${kind}`;
}

export const KEYPOINT_SETTINGS = {
  minIou: { min: 0.01, max: 1, integer: false, default: 0.3, description: 'least IoU between a track’s box and a polygon’s bounding box for the polygon to be that object’s' },
  boxOnlyConfidence: { min: 0, max: 1, integer: false, default: 0.5, description: 'confidence factor of a centroid taken from the track box when no polygon matches (no extreme points then)' },
  stage: { min: 0, max: 1, integer: true, default: 1, description: '1: also output a stage overlay of the points (links, points, labels); 0: keypoints only' },
} as const satisfies SettingsSpec<string>;
export type KeypointSettings = Record<keyof typeof KEYPOINT_SETTINGS, number>;

/** Stage layers of the keypoints overlay, drawn in this order (lower ids first). */
export const KEYPOINT_STAGE_LAYERS = { links: 0, points: 1, labels: 2 } as const;
/** Colours of the stage overlay (distinct from the viewer's own keypoint markers). */
export const KEYPOINT_STAGE_LINK_COLOR: Rgba = { r: 255, g: 255, b: 255, a: 160 };
export const KEYPOINT_STAGE_POINT_COLOR: Rgba = { r: 255, g: 64, b: 255, a: 255 };
export const KEYPOINT_STAGE_LABEL_COLOR: Rgba = { r: 255, g: 255, b: 255, a: 255 };
const TRANSPARENT: Rgba = { r: 0, g: 0, b: 0, a: 0 };
/** Sizes in frame pixels. */
export const KEYPOINT_STAGE_POINT_RADIUS_PX = 4;
const KEYPOINT_STAGE_LINK_THICKNESS_PX = 1;
const KEYPOINT_STAGE_FONT_SIZE_PX = 12;
/** The label sits this far right of and above the centroid. */
const KEYPOINT_STAGE_LABEL_OFFSET_PX = 8;

/** Vertices within this many pixels of an extreme coordinate count as that extreme (a flat edge gives its middle). */
const EXTREME_TIE_PX = 1;

export class KeypointsAnalyzer implements Analyzer {
  readonly name = KEYPOINTS_ANALYZER;
  private current: KeypointSettings;
  // Reused from frame to frame; each message is copied out (the view is valid until the next frame).
  private readonly stage = new StageEncoder();

  constructor(settings: Record<string, unknown> = {}) {
    this.current = applySettings(KEYPOINTS_ANALYZER, KEYPOINT_SETTINGS, defaultSettings(KEYPOINT_SETTINGS), settings);
  }

  settings(): KeypointSettings {
    return { ...this.current };
  }

  configure(changes: Record<string, unknown>): void {
    this.current = applySettings(KEYPOINTS_ANALYZER, KEYPOINT_SETTINGS, this.current, changes);
  }

  reset(): void {
    // Stateless: every frame's points come from that frame's tracks and polygons.
  }

  analyze(input: AnalyzerInput): AnalyzerOutputs {
    const tracks = input.earlier.tracks?.tracks ?? [];
    const instances = input.earlier.segmentation?.instances ?? [];
    const points: KeyPoint[] = [];
    const pointNames: Record<string, number> = {};
    const add = (trackId: number, kind: KeypointKind, x: number, y: number, confidence: number) => {
      const id = keypointId(trackId, kind);
      points.push({ id, x: Math.round(x), y: Math.round(y), confidence: Math.min(1, Math.max(0, confidence)) });
      pointNames[keypointName(trackId, kind)] = id;
    };
    for (const track of tracks) {
      // A coasting track has no fresh observation to take points from.
      if (track.misses > 0 || track.box === undefined) continue;
      const instance = matchingInstance(track.box, instances, this.current.minIou);
      if (instance === undefined) {
        const b = track.box;
        add(track.trackId, 'centroid', b.x + b.width / 2 - 0.5, b.y + b.height / 2 - 0.5, this.current.boxOnlyConfidence);
        continue;
      }
      const p = instance.points;
      const c = polygonCentroid(p);
      const confidence = instance.confidence;
      add(track.trackId, 'centroid', c.x, c.y, confidence);
      const e = extremePoints(p);
      add(track.trackId, 'top', e.top.x, e.top.y, confidence);
      add(track.trackId, 'right', e.right.x, e.right.y, confidence);
      add(track.trackId, 'bottom', e.bottom.x, e.bottom.y, confidence);
      add(track.trackId, 'left', e.left.x, e.left.y, confidence);
    }
    if (this.current.stage === 0) return { keypoints: { points, pointNames } };
    return { keypoints: { points, pointNames }, stage: this.drawStage(input.frameSequence, points) };
  }

  /** Links from each centroid to its object's extreme points, a dot per point, the track's name by
   *  its centroid. Every layer is a master, so an empty frame clears what the last one drew. */
  private drawStage(frameSequence: number, points: readonly KeyPoint[]): Uint8Array {
    const stage = this.stage;
    stage.beginFrame(frameSequence);
    const links = stage.layer(KEYPOINT_STAGE_LAYERS.links).setStroke(KEYPOINT_STAGE_LINK_COLOR).setThickness(KEYPOINT_STAGE_LINK_THICKNESS_PX);
    const dots = stage.layer(KEYPOINT_STAGE_LAYERS.points).setStroke(TRANSPARENT).setFill(KEYPOINT_STAGE_POINT_COLOR);
    const labels = stage.layer(KEYPOINT_STAGE_LAYERS.labels).setFontColor(KEYPOINT_STAGE_LABEL_COLOR).setFontSize(KEYPOINT_STAGE_FONT_SIZE_PX);
    const centroids = new Map<number, KeyPoint>();
    for (const p of points) if (p.id % KEYPOINT_ID_STRIDE === 0) centroids.set(p.id / KEYPOINT_ID_STRIDE, p);
    for (const p of points) {
      const trackId = Math.floor(p.id / KEYPOINT_ID_STRIDE);
      const centroid = centroids.get(trackId);
      if (centroid !== undefined && centroid !== p) links.drawLine(centroid.x, centroid.y, p.x, p.y);
      dots.drawCircle(p.x, p.y, KEYPOINT_STAGE_POINT_RADIUS_PX);
      if (p === centroid) labels.drawText(`t${trackId}`, p.x + KEYPOINT_STAGE_LABEL_OFFSET_PX, p.y - KEYPOINT_STAGE_LABEL_OFFSET_PX);
    }
    return stage.finishFrame().slice();
  }
}

function matchingInstance(box: Box, instances: readonly SegmentationInstance[], minIou: number): SegmentationInstance | undefined {
  let best: SegmentationInstance | undefined;
  let bestIou = minIou;
  for (const instance of instances) {
    if (instance.points.length < 2) continue;
    const overlap = iou(box, polygonBox(instance.points));
    if (overlap >= bestIou) {
      bestIou = overlap;
      best = instance;
    }
  }
  return best;
}

/** Bounding box of polygon vertices (pixel centres), as a box covering those pixels. */
export function polygonBox(points: readonly number[]): Box {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < points.length; i += 2) {
    x0 = Math.min(x0, points[i]);
    x1 = Math.max(x1, points[i]);
    y0 = Math.min(y0, points[i + 1]);
    y1 = Math.max(y1, points[i + 1]);
  }
  return { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

/** Area centroid of a closed polygon (shoelace); the vertex mean when the area is zero. */
export function polygonCentroid(points: readonly number[]): { x: number; y: number } {
  const n = points.length / 2;
  let a = 0;
  let cx = 0;
  let cy = 0;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    const x0 = points[2 * i];
    const y0 = points[2 * i + 1];
    const j = (i + 1) % n;
    const x1 = points[2 * j];
    const y1 = points[2 * j + 1];
    const cross = x0 * y1 - x1 * y0;
    a += cross;
    cx += (x0 + x1) * cross;
    cy += (y0 + y1) * cross;
    mx += x0;
    my += y0;
  }
  if (a === 0) return { x: mx / n, y: my / n };
  return { x: cx / (3 * a), y: cy / (3 * a) };
}

/** Topmost, rightmost, bottommost and leftmost vertices; ties (a flat edge) give the middle of the tied vertices. */
export function extremePoints(points: readonly number[]): Record<'top' | 'right' | 'bottom' | 'left', { x: number; y: number }> {
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < points.length; i += 2) {
    minX = Math.min(minX, points[i]);
    maxX = Math.max(maxX, points[i]);
    minY = Math.min(minY, points[i + 1]);
    maxY = Math.max(maxY, points[i + 1]);
  }
  const span = (axis: 0 | 1, extreme: number) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < points.length; i += 2) {
      if (Math.abs(points[i + axis] - extreme) > EXTREME_TIE_PX) continue;
      const other = points[i + 1 - axis];
      lo = Math.min(lo, other);
      hi = Math.max(hi, other);
    }
    return (lo + hi) / 2;
  };
  return {
    top: { x: span(1, minY), y: minY },
    right: { x: maxX, y: span(0, maxX) },
    bottom: { x: span(1, maxY), y: maxY },
    left: { x: minX, y: span(0, minX) },
  };
}
