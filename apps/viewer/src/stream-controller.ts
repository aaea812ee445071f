// What the page knows of the stream it shows, and how frames and results enter it: one explicit
// state object (the matcher, trails, stage layers, the frame shown, the page's counters) and plain
// functions over it. Live and replay feed the same functions. Decoding a JPEG is passed in
// (createImageBitmap in the browser), so all of it runs under Jest.
import type { Result, VideoFrame } from '@framewire/proto/browser';
import { FrameMatcher } from './frame-matcher';
import { DrawnOverlays, nothingDrawn, OVERLAY_KINDS, OverlayKind, OverlayResult } from './overlays';
import { ResolvedStage, StageLayers } from './stage-renderer';
import { TrackTrails } from './trails';

/** JPEG decodes in flight at once; a frame arriving beyond that is dropped (the page is slow). */
export const MAX_DECODES_IN_FLIGHT = 2;

/** A decoded picture (an ImageBitmap in the browser): closed when no longer shown or held. */
export interface Picture {
  close(): void;
}

export interface ViewerResult {
  frameSequence: number;
  workerId: string;
  captureTimeUs: number;
  result: OverlayResult;
  stage?: ResolvedStage;
}

export interface ShownFrame<P> {
  sequence: number;
  captureTimeUs: number;
  picture: P | null;
}

export interface ViewState<P extends Picture> {
  mode: 'live' | 'replay';
  streamId: string;
  enabled: Set<OverlayKind>;
  matcher: FrameMatcher<P | null, ViewerResult>;
  trails: TrackTrails;
  stages: Map<string, StageLayers>;
  shown: ShownFrame<P> | undefined;
  /** What the canvas shows of the overlays (the points under the pointer give the tooltip). */
  drawn: DrawnOverlays;
  framesShown: number;
  /** Frames of the current replay shown, and shown with a result for exactly that frame. */
  replayed: { shown: number; matched: number };
  /** When frames were shown (performance.now()), over the last RATE_WINDOW_MS. */
  shownTimes: number[];
  decoding: number;
  browserDrops: number;
  relayGaps: number;
  lastRelaySequence: number;
  lastFrameAgeMs: number;
  lastRelayAgeMs: number;
  /** Whose results are drawn: a worker id, '' for every worker, undefined until the first result. */
  workerId: string | undefined;
  workers: Set<string>;
}

export function createViewState<P extends Picture>(): ViewState<P> {
  const trails = new TrackTrails();
  return {
    mode: 'live',
    streamId: '',
    enabled: new Set<OverlayKind>(OVERLAY_KINDS),
    matcher: new FrameMatcher<P | null, ViewerResult>({
      onDropped: (p) => p?.close(),
      // The capture restarted and counts from 1 again: trails are kept by sequence.
      onRestart: () => trails.clear(),
    }),
    trails,
    stages: new Map(),
    shown: undefined,
    drawn: nothingDrawn(),
    framesShown: 0,
    replayed: { shown: 0, matched: 0 },
    shownTimes: [],
    decoding: 0,
    browserDrops: 0,
    relayGaps: 0,
    lastRelaySequence: 0,
    lastFrameAgeMs: Number.NaN,
    lastRelayAgeMs: Number.NaN,
    workerId: undefined,
    workers: new Set(),
  };
}

/** Forgets what was shown and matched (a new stream, a replay, back to live). */
export function resetView<P extends Picture>(state: ViewState<P>): void {
  state.matcher.reset();
  state.trails.clear();
  state.stages.clear();
  state.shown?.picture?.close();
  state.shown = undefined;
  state.lastRelaySequence = 0;
}

/** Draws the results of `workerId` from now on ('' for every worker). */
export function chooseWorker<P extends Picture>(state: ViewState<P>, workerId: string): void {
  state.workerId = workerId;
  state.matcher.reset();
  state.trails.clear();
  state.stages.clear();
}

const KIND_OF_RESULT: [keyof Result, OverlayKind][] = [
  ['segmentation', 'segmentation'],
  ['detections', 'detections'],
  ['tracks', 'tracks'],
  ['keypoints', 'keypoints'],
  ['stage', 'stage'],
];

/** Turns a decoded Result into what the matcher holds; undefined for a payload it cannot show. */
function viewerResult<P extends Picture>(state: ViewState<P>, r: Result): { kind: OverlayKind; value: ViewerResult } | undefined {
  const entry = KIND_OF_RESULT.find(([field]) => r[field] !== undefined);
  if (entry === undefined) return undefined;
  const kind = entry[1];
  const value: ViewerResult = { frameSequence: r.frameSequence, workerId: r.workerId, captureTimeUs: r.captureTimeUs, result: r as OverlayResult };
  if (kind === 'stage') {
    let layers = state.stages.get(r.workerId);
    if (layers === undefined) {
      layers = new StageLayers();
      state.stages.set(r.workerId, layers);
    }
    try {
      value.stage = layers.apply(r.stage as Uint8Array);
    } catch (error) {
      console.warn(`stage message of ${r.workerId} at frame ${r.frameSequence} does not decode: ${(error as Error).message}`);
      return undefined;
    }
  }
  if (kind === 'tracks') state.trails.add(r.workerId, r.frameSequence, r.tracks?.tracks ?? []);
  return { kind, value };
}

/** What a result changed that the page shows outside the canvas. */
export interface ResultEffect {
  /** A worker seen for the first time (the page lists it). */
  newWorker?: string;
  /** The page now draws this worker (the first that answered). */
  chosenWorker?: string;
}

/** Takes a result into the matcher if its worker is drawn. */
export function receiveResult<P extends Picture>(state: ViewState<P>, r: Result, nowMs: number): ResultEffect {
  const effect: ResultEffect = {};
  if (!state.workers.has(r.workerId)) {
    state.workers.add(r.workerId);
    effect.newWorker = r.workerId;
    // Each worker draws the same objects: show one (the first that answers) unless told otherwise.
    if (state.workerId === undefined) {
      state.workerId = r.workerId;
      effect.chosenWorker = r.workerId;
    }
  }
  if (state.workerId !== '' && r.workerId !== state.workerId) return effect;
  if (state.matcher.fromEndedRun(r)) return effect; // late, from before the capture restarted
  const v = viewerResult(state, r);
  if (v !== undefined) state.matcher.addResult(v.kind, v.value, nowMs);
  return effect;
}

export interface FrameIntake<P extends Picture> {
  decode: (jpeg: Uint8Array) => Promise<P>;
  /** Whether the socket generation the frame came on is still the page's (else the picture is closed). */
  isCurrent: (generation: number) => boolean;
  /** The canvas takes the frame's size before its picture is decoded. */
  resize: (width: number, height: number) => void;
  nowMs: number;
  wallClockMs: number;
}

/** Counts a relayed frame and decodes it into the matcher, unless MAX_DECODES_IN_FLIGHT are under way
 *  (then it is dropped and counted). Answers the decode, or undefined for a dropped frame. */
export function receiveFrame<P extends Picture>(state: ViewState<P>, frame: VideoFrame, generation: number, intake: FrameIntake<P>): Promise<void> | undefined {
  if (state.lastRelaySequence > 0 && frame.relaySequence > state.lastRelaySequence + 1) state.relayGaps += frame.relaySequence - state.lastRelaySequence - 1;
  state.lastRelaySequence = frame.relaySequence;
  state.lastFrameAgeMs = intake.wallClockMs - frame.captureTimeUs / 1000;
  if (frame.relayReceivedTimeUs > 0) state.lastRelayAgeMs = (frame.relayReceivedTimeUs - frame.captureTimeUs) / 1000;
  if (state.decoding >= MAX_DECODES_IN_FLIGHT) {
    state.browserDrops++;
    return undefined;
  }
  intake.resize(frame.width, frame.height);
  state.decoding++;
  return intake
    .decode(frame.jpeg)
    .then((picture) => {
      if (!intake.isCurrent(generation)) return picture.close();
      state.matcher.addFrame(frame.sequence, frame.captureTimeUs, picture, intake.nowMs);
    })
    .catch((error: unknown) => console.warn(`frame ${frame.sequence} does not decode: ${String(error)}`))
    .finally(() => state.decoding--);
}
