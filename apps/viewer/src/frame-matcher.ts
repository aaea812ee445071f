// Which frame to show and which results to draw on it. Frames arrive before the results computed
// from them (analysis takes time), so a frame waits until every result source seen recently has
// answered for its sequence (a result for it, or for a later frame: that worker skipped it), or
// until a short hold ends. Overlays are matched by frame sequence; a source that skipped the frame
// contributes its nearest earlier result if it is at most MAX_OVERLAY_LAG_FRAMES older (marked
// inexact), so overlays do not flicker when a worker is slower than the display. A worker slower than
// the default hold (a trained model: 0.3-0.5 s from capture to result on a busy machine) lengthens the
// hold to its measured lag, up to MAX_HOLD_MS: the video is then that much later, and its overlays
// are drawn instead of never matching.

/** A frame waits at least this long for its results (and this long only, while every source is faster). */
export const DEFAULT_HOLD_MS = 400;
/** The hold never exceeds this, however slow a source. */
export const MAX_HOLD_MS = 1_500;
/** The hold is the slowest source's recent lag (frame arrival → its result's arrival) plus this. */
export const HOLD_MARGIN_MS = 50;
/** Lags remembered per source (the hold follows the largest of them). */
export const LAG_SAMPLES = 16;
/** Arrival times remembered for this many recent frames (to measure each result's lag). */
const FRAME_ARRIVALS_KEPT = 64;
/** Frames held at once; older ones are dropped (latest-frame policy in the page too). Enough for a
 *  15 fps stream to wait a full second. */
export const DEFAULT_MAX_HELD_FRAMES = 16;
/** A result source (worker and kind) silent this long is no longer waited for. */
export const SOURCE_EXPIRY_MS = 2_000;
/** Results kept per source at most (newest first). A source keeps every result a frame not yet shown
 *  may need, i.e. those at or after the shown frame less MAX_OVERLAY_LAG_FRAMES, however many newer
 *  ones arrive meanwhile (in a fast replay, hundreds can come while one frame decodes); this bounds
 *  it when frames stop coming and results do not. */
export const MAX_RESULTS_PER_SOURCE = 1024;
/** An earlier result is drawn on a frame its worker skipped only within this many sequences. */
export const MAX_OVERLAY_LAG_FRAMES = 2;

/** What the matcher needs of a result. */
export interface MatchableResult {
  frameSequence: number;
  workerId: string;
  /** Capture time of the frame it was computed from, microseconds (tells an ended run's late results). */
  captureTimeUs?: number;
}

export interface HeldFrame<F> {
  sequence: number;
  captureTimeUs: number;
  /** The decoded picture (or null: draw overlays on an empty canvas). */
  picture: F;
  arrivedMs: number;
}

export interface MatchedOverlay<R> {
  /** `${kind}` of the result. */
  kind: string;
  result: R;
  /** True when the result is for exactly the frame shown. */
  exact: boolean;
}

export interface MatchedFrame<F, R> {
  frame: HeldFrame<F>;
  overlays: MatchedOverlay<R>[];
}

interface Source<R> {
  kind: string;
  workerId: string;
  /** Newest first. */
  results: R[];
  lastSequence: number;
  lastSeenMs: number;
  /** Recent lags, ms: from its frame's arrival in the page to the result's (a ring of LAG_SAMPLES). */
  lags: number[];
  nextLag: number;
}

export class FrameMatcher<F, R extends MatchableResult> {
  private frames: HeldFrame<F>[] = [];
  private readonly sources = new Map<string, Source<R>>();
  private shownSequence = -1;
  /** Arrival time (ms) by sequence of the last FRAME_ARRIVALS_KEPT frames, shown or held. */
  private readonly frameArrivals = new Map<number, number>();
  private shownCaptureTimeUs = -1;
  /** After a restart: the newest capture time of the run that ended; results up to it are late. */
  private endedRunUntilUs = -1;
  framesDropped = 0;
  /** Times the stream's sequences began again (its capture restarted). */
  restarts = 0;

  constructor(
    private readonly options: {
      holdMs?: number;
      maxHeldFrames?: number;
      onDropped?: (picture: F) => void;
      /** The stream's sequences began again: what was known of the old run is forgotten. */
      onRestart?: () => void;
    } = {},
  ) {}

  addFrame(sequence: number, captureTimeUs: number, picture: F, nowMs: number): void {
    // Held frames are sorted by sequence and belong to one run, so the newest is also the latest captured.
    const newest = this.frames.at(-1);
    const lastSequence = Math.max(this.shownSequence, newest?.sequence ?? -1);
    const lastCaptureTimeUs = Math.max(this.shownCaptureTimeUs, newest?.captureTimeUs ?? -1);
    if (lastSequence >= 0 && sequence <= lastSequence && captureTimeUs > lastCaptureTimeUs) {
      // A sequence not above the last one, captured later: the capture restarted and counts from the
      // start again (a late frame of the same run would be older). Its results and held frames belong
      // to the old run.
      this.reset();
      this.endedRunUntilUs = lastCaptureTimeUs;
      this.restarts++;
      this.options.onRestart?.();
    }
    if (sequence <= this.shownSequence || this.frames.some((f) => f.sequence === sequence)) {
      this.options.onDropped?.(picture);
      return;
    }
    this.frames.push({ sequence, captureTimeUs, picture, arrivedMs: nowMs });
    this.frameArrivals.set(sequence, nowMs);
    if (this.frameArrivals.size > FRAME_ARRIVALS_KEPT) this.frameArrivals.delete(this.frameArrivals.keys().next().value as number);
    this.frames.sort((a, b) => a.sequence - b.sequence);
    const max = this.options.maxHeldFrames ?? DEFAULT_MAX_HELD_FRAMES;
    while (this.frames.length > max) {
      this.drop(this.frames.shift() as HeldFrame<F>);
    }
  }

  /** True for a result of a run that ended (captured before the capture restarted): it would be
   *  matched to the new run's frame of the same sequence, so it is ignored. */
  fromEndedRun(result: MatchableResult): boolean {
    return result.captureTimeUs !== undefined && result.captureTimeUs <= this.endedRunUntilUs;
  }

  addResult(kind: string, result: R, nowMs: number): void {
    if (this.fromEndedRun(result)) return;
    const key = `${result.workerId}\n${kind}`;
    let source = this.sources.get(key);
    if (source === undefined) {
      source = { kind, workerId: result.workerId, results: [], lastSequence: -1, lastSeenMs: nowMs, lags: [], nextLag: 0 };
      this.sources.set(key, source);
    }
    const arrived = this.frameArrivals.get(result.frameSequence);
    if (arrived !== undefined) {
      source.lags[source.nextLag] = nowMs - arrived;
      source.nextLag = (source.nextLag + 1) % LAG_SAMPLES;
    }
    source.lastSeenMs = nowMs;
    source.lastSequence = Math.max(source.lastSequence, result.frameSequence);
    const at = source.results.findIndex((r) => r.frameSequence <= result.frameSequence);
    if (at < 0) source.results.push(result);
    else if (source.results[at].frameSequence === result.frameSequence) source.results[at] = result;
    else source.results.splice(at, 0, result);
    this.prune(source);
  }

  /** Results held for `kind` of `workerId` (for the side panel and tests). */
  resultsHeld(workerId: string, kind: string): number {
    return this.sources.get(`${workerId}\n${kind}`)?.results.length ?? 0;
  }

  /** The frame to show now, with its overlays, or undefined when none is ready (or none is new).
   *  Frames older than the one returned are dropped. */
  next(nowMs: number): MatchedFrame<F, R> | undefined {
    for (const [key, s] of this.sources) if (nowMs - s.lastSeenMs > SOURCE_EXPIRY_MS) this.sources.delete(key);
    const hold = this.holdMs();
    let chosen = -1;
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = this.frames[i];
      if (nowMs - f.arrivedMs >= hold || this.settled(f.sequence)) {
        chosen = i;
        break;
      }
    }
    if (chosen < 0) return undefined;
    const frame = this.frames[chosen];
    for (const older of this.frames.slice(0, chosen)) this.drop(older);
    this.frames = this.frames.slice(chosen + 1);
    this.shownSequence = frame.sequence;
    this.shownCaptureTimeUs = frame.captureTimeUs;
    for (const s of this.sources.values()) this.prune(s);
    return { frame, overlays: this.overlaysFor(frame.sequence) };
  }

  /** How long a frame waits for its results now: the fixed `holdMs` option, else the slowest live
   *  source's recent lag plus a margin, between DEFAULT_HOLD_MS and MAX_HOLD_MS. */
  holdMs(): number {
    if (this.options.holdMs !== undefined) return this.options.holdMs;
    let slowest = 0;
    for (const s of this.sources.values()) for (const lag of s.lags) if (lag > slowest) slowest = lag;
    return Math.min(MAX_HOLD_MS, Math.max(DEFAULT_HOLD_MS, slowest + HOLD_MARGIN_MS));
  }

  /** The overlays for `sequence` now (also used to redraw a shown frame when toggles change). */
  overlaysFor(sequence: number): MatchedOverlay<R>[] {
    const out: MatchedOverlay<R>[] = [];
    for (const s of this.sources.values()) {
      const r = s.results.find((x) => x.frameSequence <= sequence);
      if (r === undefined || sequence - r.frameSequence > MAX_OVERLAY_LAG_FRAMES) continue;
      out.push({ kind: s.kind, result: r, exact: r.frameSequence === sequence });
    }
    return out;
  }

  /** Forgets everything (a new stream, a replay starts). */
  reset(): void {
    for (const f of this.frames) this.options.onDropped?.(f.picture);
    this.frames = [];
    this.sources.clear();
    this.frameArrivals.clear();
    this.shownSequence = -1;
    this.shownCaptureTimeUs = -1;
    this.endedRunUntilUs = -1;
  }

  private drop(frame: HeldFrame<F>): void {
    this.framesDropped++;
    this.options.onDropped?.(frame.picture);
  }

  /** Drops the results no frame can use any more: older than the shown frame less the lag (frames
   *  up to the shown one are never shown again), then beyond MAX_RESULTS_PER_SOURCE. */
  private prune(source: Source<R>): void {
    const oldestUsable = this.shownSequence - MAX_OVERLAY_LAG_FRAMES;
    let keep = source.results.length;
    while (keep > 0 && source.results[keep - 1].frameSequence < oldestUsable) keep--;
    source.results.length = Math.min(keep, MAX_RESULTS_PER_SOURCE);
  }

  private settled(sequence: number): boolean {
    for (const s of this.sources.values()) if (s.lastSequence < sequence) return false;
    return true;
  }
}
