// Rendering orchestration: on each animation frame, asks the matcher for the next frame to show,
// draws it with its overlays, and writes what is on the canvas into data attributes (for tests and
// the curious: data-frame-sequence, -frame-capture-us, -overlay-exact, -frames-shown, -limbs (skeleton
// limbs drawn), -labels (the label texts, a JSON array); during a replay the status line's
// data-shown and data-matched). What was drawn stays in the view state for the page's tooltip. Drawing goes through Canvas2D, the
// attributes into plain records, so Jest runs it with a recording fake.
import { Canvas2D } from './canvas';
import { MatchedOverlay } from './frame-matcher';
import { drawOverlays, OverlayKind, OverlayToDraw } from './overlays';
import { Picture, ViewerResult, ViewState } from './stream-controller';

/** The page's own frame rate is measured over this window. */
export const RATE_WINDOW_MS = 3_000;
const BACKGROUND = '#0b0d12';

type DataAttributes = Record<string, string | undefined>;

/** The canvas as rendering uses it (an HTMLCanvasElement and its 2D context in the browser). */
export interface RenderTarget {
  ctx: Canvas2D;
  canvas: { width: number; height: number; dataset: DataAttributes };
  /** The replay status line's attributes. */
  replayStatus: DataAttributes;
}

/** Draws `picture` (or the background) and the overlays of the enabled kinds for frame `sequence`. */
export function drawFrame<P extends Picture>(state: ViewState<P>, target: RenderTarget, picture: P | null, sequence: number, overlays: MatchedOverlay<ViewerResult>[]): void {
  const { ctx, canvas } = target;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (picture !== null) ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
  const toDraw: OverlayToDraw[] = overlays.map((o) => ({ kind: o.kind as OverlayKind, result: o.result.result, stage: o.result.stage, exact: o.exact }));
  state.drawn = drawOverlays(ctx, toDraw, state.enabled, state.trails, sequence, { frame: canvas });
  canvas.dataset.frameSequence = String(sequence);
  canvas.dataset.frameCaptureUs = String(state.shown?.captureTimeUs ?? 0);
  canvas.dataset.overlayExact = overlays.filter((o) => o.exact && state.enabled.has(o.kind as OverlayKind)).map((o) => o.kind).sort().join(',');
  canvas.dataset.framesShown = String(state.framesShown);
  canvas.dataset.limbs = String(state.drawn.limbs);
  canvas.dataset.labels = JSON.stringify(state.drawn.labels);
}

/** One animation frame: shows the next matched frame, if there is one, and ages the rate window. */
export function renderTick<P extends Picture>(state: ViewState<P>, target: RenderTarget, nowMs: number): void {
  const matched = state.matcher.next(nowMs);
  if (matched !== undefined) {
    if (state.shown?.picture && state.shown.picture !== matched.frame.picture) state.shown.picture.close();
    state.shown = { sequence: matched.frame.sequence, captureTimeUs: matched.frame.captureTimeUs, picture: matched.frame.picture };
    state.framesShown++;
    state.shownTimes.push(nowMs);
    drawFrame(state, target, matched.frame.picture, matched.frame.sequence, matched.overlays);
    if (state.mode === 'replay') {
      state.replayed.shown++;
      if (target.canvas.dataset.overlayExact !== '') state.replayed.matched++;
      target.replayStatus.shown = String(state.replayed.shown);
      target.replayStatus.matched = String(state.replayed.matched);
    }
  }
  while (state.shownTimes.length > 0 && nowMs - state.shownTimes[0] > RATE_WINDOW_MS) state.shownTimes.shift();
}

/** Draws the frame shown again (an overlay kind was switched on or off). */
export function redraw<P extends Picture>(state: ViewState<P>, target: RenderTarget): void {
  if (state.shown !== undefined) drawFrame(state, target, state.shown.picture, state.shown.sequence, state.matcher.overlaysFor(state.shown.sequence));
}
