// The overlays the page draws itself from results: segmentation polygons, detection boxes with
// scores, track boxes with ids and short trails, keypoints with their names; stage overlays through
// the stage renderer. Drawing order: segmentation, detections, tracks, stage, keypoints (markers on top).
import { Canvas2D } from './canvas';
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
  labelBackground: 'rgba(0,0,0,0.55)',
} as const;
export const KEYPOINT_MARKER_RADIUS_PX = 4;
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
  detections?: { detections: { box?: Box; score: number; label: string }[] };
  tracks?: { tracks: { trackId: number; box?: Box; misses: number }[] };
  keypoints?: { points: { id: number; x: number; y: number; confidence: number }[]; pointNames: Record<string, number> };
}

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface OverlayToDraw {
  kind: OverlayKind;
  result: OverlayResult;
  stage?: ResolvedStage;
  exact: boolean;
}

function label(ctx: Canvas2D, text: string, x: number, y: number): void {
  ctx.font = LABEL_FONT;
  ctx.textBaseline = 'top';
  const w = ctx.measureText(text).width + 2 * LABEL_PADDING_PX;
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

/** Draws `overlays` of the enabled kinds for the frame `sequence` (trails up to it). */
export function drawOverlays(
  ctx: Canvas2D,
  overlays: readonly OverlayToDraw[],
  enabled: ReadonlySet<OverlayKind>,
  trails: TrackTrails,
  sequence: number,
  patches?: JpegPatches,
): void {
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
          label(ctx, `${d.label || 'object'} ${d.score.toFixed(2)}`, d.box.x, d.box.y + d.box.height + 2);
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
          label(ctx, `#${t.trackId}`, t.box.x - 3, t.box.y - 3 - LABEL_HEIGHT_PX);
        }
        break;
      case 'stage':
        if (o.stage !== undefined) drawStage(ctx, o.stage, undefined, patches);
        break;
      case 'keypoints': {
        const names = new Map(Object.entries(r.keypoints?.pointNames ?? {}).map(([name, id]) => [id, name]));
        for (const p of r.keypoints?.points ?? []) {
          ctx.beginPath();
          ctx.arc(p.x, p.y, KEYPOINT_MARKER_RADIUS_PX, 0, 2 * Math.PI);
          ctx.fillStyle = OVERLAY_COLORS.keypoint;
          ctx.fill();
          const name = names.get(p.id);
          // Names of centroids only: five labels per object would hide the picture.
          if (name !== undefined && name.endsWith('.centroid')) label(ctx, name, p.x + KEYPOINT_MARKER_RADIUS_PX + 2, p.y + KEYPOINT_MARKER_RADIUS_PX);
        }
        break;
      }
    }
    ctx.restore();
  }
}
