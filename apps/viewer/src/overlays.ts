// The overlays the page draws itself from results: segmentation polygons, detection boxes with
// their class and score, track boxes with ids and short trails, keypoints (COCO poses as skeletons,
// other points as markers with their names); stage overlays through the stage renderer. Drawing
// order: segmentation, detections, tracks, stage, keypoints (on top). It answers what it drew (the
// points with their hover text, limbs, labels) for the page's tooltip and for tests.
import { Canvas2D } from './canvas';
import { groupByPerson, isCocoPose, limbsOf, personColors, PosePoint, posePointText, sideOfPoint } from './skeleton';
import { drawStage, JpegPatches, ResolvedStage } from './stage-renderer';
import { TrackTrails } from './trails';

export const OVERLAY_KINDS = ['segmentation', 'detections', 'tracks', 'stage', 'keypoints'] as const;
export type OverlayKind = (typeof OVERLAY_KINDS)[number];

export const OVERLAY_COLORS = {
  segmentationStroke: 'rgba(64,224,255,0.95)',
  segmentationFill: 'rgba(64,224,255,0.18)',
  detection: 'rgba(255,160,40,0.95)',
  track: 'rgba(120,255,120,0.95)',
  trail: 'rgba(120,255,120,0.6)',
  /** The keypoint marker: (255, 212, 0), what the browser test looks for at an object's centroid. */
  keypoint: 'rgb(255,212,0)',
  label: 'rgba(255,255,255,0.95)',
  /** White text on this is at least 7:1 in contrast over any picture, white included. */
  labelBackground: 'rgba(0,0,0,0.7)',
  /** The outline of a pose point, so a light point shows on a light picture. */
  posePointOutline: 'rgba(0,0,0,0.8)',
} as const;
export const KEYPOINT_MARKER_RADIUS_PX = 4;
/** Pose points: the radius grows with confidence from the least to the most (frame pixels). */
export const POSE_POINT_RADIUS_PX = { least: 2, most: 5 } as const;
/** Pose points: the opacity grows with confidence from this to 1. */
export const POSE_POINT_LEAST_ALPHA = 0.35;
export const SKELETON_LIMB_WIDTH_PX = 3;
/** Hovering within this many pixels of a point (or its radius, if larger) shows its text. */
export const HOVER_REACH_PX = 6;
const LABEL_FONT = '11px system-ui, sans-serif';
const LABEL_PADDING_PX = 2;
const LABEL_HEIGHT_PX = 13;
/** An overlay taken from an earlier frame (its worker skipped this one) is drawn fainter. */
const INEXACT_ALPHA = 0.45;

/** The result fields the overlays read (framewire.v1.Result as the browser decodes it). */
export interface OverlayResult {
  frameSequence: number;
  workerId: string;
  segmentation?: { instances: { instanceId: number; confidence: number; points: number[] }[] };
  detections?: { detections: Detection[] };
  tracks?: { tracks: { trackId: number; box?: Box; misses: number }[] };
  keypoints?: { points: { id: number; x: number; y: number; confidence: number }[]; pointNames: Record<string, number> };
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Detection {
  box?: Box;
  score: number;
  label: string;
}

/** The size of the frame drawn on: labels are kept inside it. */
export interface FrameSize {
  width: number;
  height: number;
}

/** A keypoint as drawn: where, how big, and what hovering over it shows. */
export interface DrawnPoint {
  x: number;
  y: number;
  radius: number;
  text: string;
}

/** What one drawOverlays call drew. */
export interface DrawnOverlays {
  points: DrawnPoint[];
  /** Skeleton limbs. */
  limbs: number;
  /** The text of each label (detections, tracks, keypoint names), in drawing order. */
  labels: string[];
}

export const nothingDrawn = (): DrawnOverlays => ({ points: [], limbs: 0, labels: [] });

/** A detection's label: its class and score (`person 0.87`); `object` when it has no label. */
export function detectionLabel(d: Detection): string {
  return `${d.label || 'object'} ${d.score.toFixed(2)}`;
}

/** The text of the drawn point nearest (x, y) within its reach, or undefined. */
export function pointTextAt(points: readonly DrawnPoint[], x: number, y: number): string | undefined {
  let best: { text: string; distance: number } | undefined;
  for (const p of points) {
    const distance = Math.hypot(p.x - x, p.y - y);
    if (distance <= Math.max(p.radius, HOVER_REACH_PX) && (best === undefined || distance < best.distance)) best = { text: p.text, distance };
  }
  return best?.text;
}

export interface OverlayToDraw {
  kind: OverlayKind;
  result: OverlayResult;
  stage?: ResolvedStage;
  exact: boolean;
}

/** Draws a label at (x, y), moved inside the frame when it would leave it (a box at an edge). */
function label(ctx: Canvas2D, drawn: DrawnOverlays, frame: FrameSize | undefined, text: string, atX: number, atY: number): void {
  ctx.font = LABEL_FONT;
  ctx.textBaseline = 'top';
  const w = ctx.measureText(text).width + 2 * LABEL_PADDING_PX;
  const x = frame === undefined ? atX : Math.max(0, Math.min(atX, frame.width - w));
  const y = frame === undefined ? atY : Math.max(0, Math.min(atY, frame.height - LABEL_HEIGHT_PX));
  drawn.labels.push(text);
  ctx.fillStyle = OVERLAY_COLORS.labelBackground;
  ctx.fillRect(x, y, w, LABEL_HEIGHT_PX);
  ctx.fillStyle = OVERLAY_COLORS.label;
  ctx.fillText(text, x + LABEL_PADDING_PX, y + 1);
}

function strokeBox(ctx: Canvas2D, b: Box, color: string, width: number): void {
  ctx.beginPath();
  ctx.rect(b.x, b.y, b.width, b.height);
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.stroke();
}

/** The pose points of `points` grouped by person: limbs between present points in the person's
 *  colours (left side lighter), then the points, their size and opacity by confidence. */
function drawSkeletons(ctx: Canvas2D, drawn: DrawnOverlays, points: readonly PosePoint[]): void {
  const alpha = ctx.globalAlpha;
  for (const person of groupByPerson(points)) {
    const colors = personColors(person.personId);
    ctx.lineWidth = SKELETON_LIMB_WIDTH_PX;
    for (const limb of limbsOf(person)) {
      ctx.beginPath();
      ctx.moveTo(limb.from.x, limb.from.y);
      ctx.lineTo(limb.to.x, limb.to.y);
      ctx.strokeStyle = colors[limb.side];
      ctx.stroke();
      drawn.limbs++;
    }
    person.points.forEach((p, k) => {
      if (p === undefined) return;
      const confidence = Math.min(1, Math.max(0, p.confidence));
      const radius = POSE_POINT_RADIUS_PX.least + (POSE_POINT_RADIUS_PX.most - POSE_POINT_RADIUS_PX.least) * confidence;
      ctx.globalAlpha = alpha * (POSE_POINT_LEAST_ALPHA + (1 - POSE_POINT_LEAST_ALPHA) * confidence);
      ctx.beginPath();
      ctx.arc(p.x, p.y, radius, 0, 2 * Math.PI);
      ctx.fillStyle = colors[sideOfPoint(k)];
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = OVERLAY_COLORS.posePointOutline;
      ctx.stroke();
      drawn.points.push({ x: p.x, y: p.y, radius, text: posePointText(person.personId, k, p.confidence) });
    });
    ctx.globalAlpha = alpha;
  }
}

/** Draws `overlays` of the enabled kinds for the frame `sequence` (trails up to it), labels inside
 *  `view.frame` when given; answers what it drew. */
export function drawOverlays(
  ctx: Canvas2D,
  overlays: readonly OverlayToDraw[],
  enabled: ReadonlySet<OverlayKind>,
  trails: TrackTrails,
  sequence: number,
  view: { frame?: FrameSize; patches?: JpegPatches } = {},
): DrawnOverlays {
  const drawn = nothingDrawn();
  const { frame, patches } = view;
  const ordered = [...overlays].filter((o) => enabled.has(o.kind)).sort((a, b) => OVERLAY_KINDS.indexOf(a.kind) - OVERLAY_KINDS.indexOf(b.kind));
  for (const o of ordered) {
    ctx.save();
    ctx.globalAlpha = o.exact ? 1 : INEXACT_ALPHA;
    const r = o.result;
    switch (o.kind) {
      case 'segmentation':
        for (const i of r.segmentation?.instances ?? []) {
          if (i.points.length < 6) continue;
          ctx.beginPath();
          ctx.moveTo(i.points[0], i.points[1]);
          for (let k = 2; k < i.points.length; k += 2) ctx.lineTo(i.points[k], i.points[k + 1]);
          ctx.closePath();
          ctx.fillStyle = OVERLAY_COLORS.segmentationFill;
          ctx.fill();
          ctx.strokeStyle = OVERLAY_COLORS.segmentationStroke;
          ctx.lineWidth = 1.5;
          ctx.stroke();
        }
        break;
      case 'detections':
        for (const d of r.detections?.detections ?? []) {
          if (d.box === undefined) continue;
          strokeBox(ctx, d.box, OVERLAY_COLORS.detection, 1.5);
          label(ctx, drawn, frame, detectionLabel(d), d.box.x, d.box.y + d.box.height + 2);
        }
        break;
      case 'tracks':
        for (const t of r.tracks?.tracks ?? []) {
          if (t.box === undefined) continue;
          const trail = trails.upTo(r.workerId, t.trackId, sequence);
          if (trail.length > 1) {
            ctx.beginPath();
            ctx.moveTo(trail[0].x, trail[0].y);
            for (const p of trail.slice(1)) ctx.lineTo(p.x, p.y);
            ctx.strokeStyle = OVERLAY_COLORS.trail;
            ctx.lineWidth = 2;
            ctx.stroke();
          }
          strokeBox(ctx, { x: t.box.x - 3, y: t.box.y - 3, width: t.box.width + 6, height: t.box.height + 6 }, OVERLAY_COLORS.track, t.misses > 0 ? 1 : 2);
          label(ctx, drawn, frame, `#${t.trackId}`, t.box.x - 3, t.box.y - 3 - LABEL_HEIGHT_PX);
        }
        break;
      case 'stage':
        if (o.stage !== undefined) drawStage(ctx, o.stage, undefined, patches);
        break;
      case 'keypoints': {
        const pointNames = r.keypoints?.pointNames ?? {};
        if (isCocoPose(pointNames)) {
          drawSkeletons(ctx, drawn, r.keypoints?.points ?? []);
          break;
        }
        const names = new Map(Object.entries(pointNames).map(([name, id]) => [id, name]));
        for (const p of r.keypoints?.points ?? []) {
          ctx.beginPath();
          ctx.arc(p.x, p.y, KEYPOINT_MARKER_RADIUS_PX, 0, 2 * Math.PI);
          ctx.fillStyle = OVERLAY_COLORS.keypoint;
          ctx.fill();
          const name = names.get(p.id);
          drawn.points.push({ x: p.x, y: p.y, radius: KEYPOINT_MARKER_RADIUS_PX, text: `${name ?? `point ${p.id}`} ${p.confidence.toFixed(2)}` });
          // Names of centroids only: five labels per object would hide the picture.
          if (name !== undefined && name.endsWith('.centroid')) label(ctx, drawn, frame, name, p.x + KEYPOINT_MARKER_RADIUS_PX + 2, p.y + KEYPOINT_MARKER_RADIUS_PX);
        }
        break;
      }
    }
    ctx.restore();
  }
  return drawn;
}
