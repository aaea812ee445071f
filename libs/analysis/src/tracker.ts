// The "tracks" analyzer: associates the detections of earlier analyzers across frames. Each track
// predicts its centre with constant velocity; detections are matched greedily, closest first,
// within a distance or IoU gate. Ids are monotonic and never given to another object; a track is
// reported once confirmed (minHits matches) and stops being reported once it has gone unmatched for
// more than maxMisses frames and more than maxMissSeconds of capture time (so at any capture rate an
// occluded object has at least maxMissSeconds to reappear under its id). A track that never moved
// from where it was first seen is then kept, unreported, for reviveSeconds: the same object found
// again in its place (same class, IoU >= reviveIou with its last box) takes its id back, for a still
// object that the detector misses for a few seconds (a parked car, a person standing behind passers-by).
// Whatever the gaps between capture times (0, 1 ms, an hour), velocities stay bounded and every box
// inside the frame.
import { Box, Detection, Track } from '@framewire/proto';
import { Analyzer, AnalyzerInput, AnalyzerOutputs } from './analyzer';
import { applySettings, defaultSettings, SettingsSpec } from './settings';

export const TRACK_ANALYZER = 'tracks';
/** Ids must fit keypoint ids (trackId * 8 + k) in a uint32. */
const MAX_TRACK_ID = 2 ** 29 - 1;
/** Velocity is measured over at least this much capture time: a frame closer to the last
 *  measurement (a repeated frame, a burst) moves the track but does not change its velocity,
 *  which would otherwise be pixel noise divided by almost nothing. */
export const MIN_VELOCITY_BASELINE_US = 30_000;
/** Fastest speed a track may have, in frame diagonals per second (crossing the frame in half a second). */
export const MAX_SPEED_DIAGONALS_PER_SECOND = 2;
/** A missing track's box is moved by its velocity for at most this long after its last match. */
export const MAX_PREDICTION_US = 1_000_000;
/** Dropped still tracks remembered for revival, at most (the first dropped is forgotten first). */
export const MAX_LOST_TRACKS = 256;
/** A track is still while its centre has stayed within this share of its box's smaller side of
 *  where it was first seen. */
export const STILL_SHARE_OF_SIZE = 0.5;
const MICROS_PER_SECOND = 1e6;

export const TRACK_SETTINGS = {
  maxMisses: { min: 0, max: 1000, integer: true, default: 5, description: 'consecutive frames a confirmed track may go unmatched before it is dropped (if maxMissSeconds have passed too)' },
  maxMissSeconds: { min: 0, max: 60, integer: false, default: 1, description: 'capture time a confirmed track may go unmatched before it is dropped (if maxMisses frames have passed too): how long an object may stay hidden and keep its id, whatever the frame rate' },
  minHits: { min: 1, max: 1000, integer: true, default: 3, description: 'matches before a track is confirmed and reported (a tentative track is dropped at its first miss)' },
  maxDistance: { min: 0, max: 100000, integer: false, default: 60, description: 'gate: largest distance, frame pixels, between a track’s predicted centre and a detection’s centre' },
  iouThreshold: { min: 0, max: 1, integer: false, default: 0.3, description: 'gate: a pair whose IoU (predicted box vs detection) reaches this matches even beyond maxDistance; 0 turns the IoU gate off' },
  reviveSeconds: { min: 0, max: 600, integer: false, default: 10, description: 'capture time a dropped track that never moved is remembered (how long a still object may stay hidden, behind a passing bus or group, or unseen by the detector): the same object found again in its place (same class, IoU of at least reviveIou with its last box) takes its id back; 0 turns this off' },
  reviveIou: { min: 0.05, max: 1, integer: false, default: 0.5, description: 'IoU with a remembered still track’s last box that a new detection of its class needs to take its id back' },
  fragmentInside: { min: 0, max: 1, integer: false, default: 0.5, description: 'an unmatched detection with at least this fraction of its area inside the predicted box of a track matched in the same frame is a piece of that object (a walker split by a post): it widens the track’s box and starts no track; 0 turns this off' },
  velocitySmoothing: { min: 0, max: 0.95, integer: false, default: 0.5, description: 'weight of the previous velocity in its exponential average (0: the last step only)' },
} as const satisfies SettingsSpec<string>;
export type TrackSettings = Record<keyof typeof TRACK_SETTINGS, number>;

interface TrackState {
  id: number;
  box: Box;
  /** Frame pixels per second. */
  vx: number;
  vy: number;
  /** Whether vx, vy were measured yet (the first measurement is taken as is, later ones averaged). */
  measured: boolean;
  /** Centre and capture time the next velocity measurement starts from. */
  baseX: number;
  baseY: number;
  baseUs: number;
  lastHitUs: number;
  ageFrames: number;
  hits: number;
  misses: number;
  /** Class of the detection it last matched. */
  label: string;
  classId: number;
  /** Centre where it was first seen, and whether it has stayed near it (STILL_SHARE_OF_SIZE). */
  firstX: number;
  firstY: number;
  still: boolean;
  /** The tracker's frame count when it was dropped (remembered tracks age by the frames since). */
  droppedAtFrame: number;
}

interface Candidate {
  track: number;
  detection: number;
  distance: number;
}

export class TrackAnalyzer implements Analyzer {
  readonly name = TRACK_ANALYZER;
  private current: TrackSettings;
  private tracks: TrackState[] = [];
  /** Dropped still tracks that may still be found in their place, in the order they were dropped. */
  private lost: TrackState[] = [];
  private nextId = 1;
  /** Frames analysed. */
  private frames = 0;
  private lastTimeUs = Number.NEGATIVE_INFINITY;
  private readonly candidates: Candidate[] = [];
  private readonly predicted: Box[] = [];

  constructor(settings: Record<string, unknown> = {}) {
    this.current = applySettings(TRACK_ANALYZER, TRACK_SETTINGS, defaultSettings(TRACK_SETTINGS), settings);
  }

  settings(): TrackSettings {
    return { ...this.current };
  }

  configure(changes: Record<string, unknown>): void {
    this.current = applySettings(TRACK_ANALYZER, TRACK_SETTINGS, this.current, changes);
  }

  /** Forgets every track; ids keep counting up, so an id is never given twice. */
  reset(): void {
    this.tracks = [];
    this.lost = [];
    this.lastTimeUs = Number.NEGATIVE_INFINITY;
  }

  analyze(input: AnalyzerInput): AnalyzerOutputs {
    const now = input.captureTimeUs;
    if (now < this.lastTimeUs) this.reset();
    this.frames++;
    this.lastTimeUs = now;
    const frame = { width: input.frameWidth, height: input.frameHeight };
    const maxSpeed = MAX_SPEED_DIAGONALS_PER_SECOND * Math.hypot(frame.width, frame.height);
    // Boxes reaching outside the frame are cut to it; one wholly outside (or not finite) is no detection.
    const detections: Box[] = [];
    // The detection each box came from: a piece of an object has the object's class.
    const sources: Detection[] = [];
    for (const d of input.earlier.detections?.detections ?? []) {
      const box = d.box === undefined ? undefined : clipToFrame(d.box, frame);
      if (box !== undefined) {
        detections.push(box);
        sources.push(d);
      }
    }
    const { maxMisses, maxMissSeconds, minHits, maxDistance, iouThreshold, velocitySmoothing, fragmentInside, reviveSeconds, reviveIou } = this.current;
    const maxMissUs = maxMissSeconds * MICROS_PER_SECOND;
    const reviveUs = reviveSeconds * MICROS_PER_SECOND;
    const tracks = this.tracks;

    // Gate every pair against the track's predicted position, then match greedily, closest first.
    const candidates = this.candidates;
    candidates.length = 0;
    const predictedBoxes = this.predicted;
    predictedBoxes.length = tracks.length;
    for (let t = 0; t < tracks.length; t++) {
      const predicted = (predictedBoxes[t] = predictedBox(tracks[t], now, frame));
      const px = predicted.x + predicted.width / 2;
      const py = predicted.y + predicted.height / 2;
      for (let d = 0; d < detections.length; d++) {
        const box = detections[d];
        const distance = Math.hypot(box.x + box.width / 2 - px, box.y + box.height / 2 - py);
        if (distance <= maxDistance || (iouThreshold > 0 && iou(predicted, box) >= iouThreshold)) candidates.push({ track: t, detection: d, distance });
      }
    }
    candidates.sort((a, b) => a.distance - b.distance);
    const trackMatch = new Int32Array(tracks.length).fill(-1);
    const detectionTaken = new Uint8Array(detections.length);
    for (const c of candidates) {
      if (trackMatch[c.track] >= 0 || detectionTaken[c.detection] === 1) continue;
      trackMatch[c.track] = c.detection;
      detectionTaken[c.detection] = 1;
    }

    // Pieces of a tracked object: a still occluder (a post, a sign) splits a walker into a head and
    // legs, or a body and an arm. An unmatched detection lying mostly inside the predicted box of a
    // track that matched in this frame, of the same class as the detection it matched, is such a
    // piece: its part inside that box joins the track's box, and it starts no track of its own. (A ball
    // at a player's feet or a person before a car is another object, not a piece.)
    const measured = detections.map((box) => box);
    if (fragmentInside > 0) {
      for (let d = 0; d < detections.length; d++) {
        if (detectionTaken[d] === 1) continue;
        const box = detections[d];
        for (let t = 0; t < tracks.length; t++) {
          const m = trackMatch[t];
          if (m < 0 || !sameClass(sources[m], sources[d]) || intersectionArea(predictedBoxes[t], box) < fragmentInside * box.width * box.height) continue;
          // Only the part inside the predicted box: a neighbour walking away must not stretch the box along with it.
          measured[m] = union(measured[m], intersection(predictedBoxes[t], box));
          detectionTaken[d] = 1;
          break;
        }
      }
    }

    const survivors: TrackState[] = [];
    for (let t = 0; t < tracks.length; t++) {
      const track = tracks[t];
      track.ageFrames++;
      const d = trackMatch[t];
      if (d >= 0) {
        const box = measured[d];
        const cx = box.x + box.width / 2;
        const cy = box.y + box.height / 2;
        const baselineUs = now - track.baseUs;
        if (baselineUs >= MIN_VELOCITY_BASELINE_US) {
          const seconds = baselineUs / MICROS_PER_SECOND;
          const keep = track.measured ? velocitySmoothing : 0;
          track.vx = keep * track.vx + (1 - keep) * ((cx - track.baseX) / seconds);
          track.vy = keep * track.vy + (1 - keep) * ((cy - track.baseY) / seconds);
          const speed = Math.hypot(track.vx, track.vy);
          if (speed > maxSpeed) {
            track.vx *= maxSpeed / speed;
            track.vy *= maxSpeed / speed;
          }
          track.measured = true;
          track.baseX = cx;
          track.baseY = cy;
          track.baseUs = now;
        }
        track.box = { ...box };
        track.lastHitUs = now;
        track.hits++;
        track.misses = 0;
        track.label = sources[d].label;
        track.classId = sources[d].classId;
        track.still &&= Math.hypot(cx - track.firstX, cy - track.firstY) <= STILL_SHARE_OF_SIZE * Math.min(box.width, box.height);
        survivors.push(track);
      } else {
        track.misses++;
        const confirmed = track.hits >= minHits;
        // Frames and time both: a frame count alone gives an occluded object 0.2 s at 25 fps and
        // 1 s at 5 fps; time alone gives it no second look after a pause in the source.
        if (confirmed && (track.misses <= maxMisses || now - track.lastHitUs <= maxMissUs)) survivors.push(track);
        else if (confirmed && track.still && reviveUs > 0) this.remember(track);
      }
    }
    // Remembered still tracks found again in their place take their ids back, the best overlap first.
    const lost = this.lost;
    let kept = 0;
    for (const track of lost) if (now - track.lastHitUs <= reviveUs) lost[kept++] = track;
    lost.length = kept;
    for (let d = 0; d < detections.length && lost.length > 0; d++) {
      if (detectionTaken[d] === 1) continue;
      const box = detections[d];
      let best = -1;
      let bestIou = reviveIou;
      for (let l = 0; l < lost.length; l++) {
        const overlap = iou(lost[l].box, box);
        if (overlap >= bestIou && sameClass(lost[l], sources[d])) {
          best = l;
          bestIou = overlap;
        }
      }
      if (best < 0) continue;
      const [track] = lost.splice(best, 1);
      Object.assign(track, motionFrom(box, now));
      track.hits++;
      track.ageFrames += this.frames - track.droppedAtFrame;
      detectionTaken[d] = 1;
      survivors.push(track);
    }
    for (let d = 0; d < detections.length; d++) {
      const box = detections[d];
      if (detectionTaken[d] === 1) continue;
      const motion = motionFrom(box, now);
      survivors.push({
        id: this.takeId(),
        ...motion,
        ageFrames: 0,
        hits: 1,
        label: sources[d].label,
        classId: sources[d].classId,
        firstX: motion.baseX,
        firstY: motion.baseY,
        still: true,
        droppedAtFrame: 0,
      });
    }
    this.tracks = survivors;

    const out: Track[] = [];
    for (const track of survivors) {
      if (track.hits < minHits) continue;
      out.push({
        trackId: track.id,
        box: track.misses === 0 ? { ...track.box } : predictedBox(track, now, frame),
        velocityX: track.vx,
        velocityY: track.vy,
        ageFrames: track.ageFrames,
        hits: track.hits,
        misses: track.misses,
      });
    }
    return { tracks: { tracks: out } };
  }

  /** Keeps a dropped still track for revival (bounded: the one dropped first is forgotten first). */
  private remember(track: TrackState): void {
    if (this.lost.length >= MAX_LOST_TRACKS) this.lost.shift();
    track.droppedAtFrame = this.frames;
    this.lost.push(track);
  }

  private takeId(): number {
    const id = this.nextId;
    // After 2^29 tracks ids wrap rather than overflow keypoint ids; at 100 new tracks a second that is 62 days.
    this.nextId = id >= MAX_TRACK_ID ? 1 : id + 1;
    return id;
  }
}

interface FrameSize {
  width: number;
  height: number;
}

type TrackMotion = Pick<TrackState, 'box' | 'vx' | 'vy' | 'measured' | 'baseX' | 'baseY' | 'baseUs' | 'lastHitUs' | 'misses'>;

/** A track's motion starting afresh at `box`, seen at `now` (a new track, or a remembered one found again). */
function motionFrom(box: Box, now: number): TrackMotion {
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  return { box: { ...box }, vx: 0, vy: 0, measured: false, baseX: cx, baseY: cy, baseUs: now, lastHitUs: now, misses: 0 };
}

/** The last matched box moved by the track's velocity towards time `now` (for at most
 *  MAX_PREDICTION_US), and kept inside the frame: an object coasting out stops at the edge. */
function predictedBox(track: TrackState, now: number, frame: FrameSize): Box {
  const seconds = Math.min(Math.max(0, now - track.lastHitUs), MAX_PREDICTION_US) / MICROS_PER_SECOND;
  const { width, height } = track.box;
  return {
    x: clamp(track.box.x + track.vx * seconds, 0, frame.width - width),
    y: clamp(track.box.y + track.vy * seconds, 0, frame.height - height),
    width,
    height,
  };
}

/** The part of `box` inside the frame, or undefined when none is (or its values are not finite). */
function clipToFrame(box: Box, frame: FrameSize): Box | undefined {
  const x = Math.max(0, box.x);
  const y = Math.max(0, box.y);
  const width = Math.min(frame.width, box.x + box.width) - x;
  const height = Math.min(frame.height, box.y + box.height) - y;
  // NaN fails the comparisons too.
  if (!(width > 0 && height > 0 && Number.isFinite(width) && Number.isFinite(height))) return undefined;
  return x === box.x && y === box.y && width === box.width && height === box.height ? box : { x, y, width, height };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), Math.max(min, max));
}

/** Area of the intersection of two boxes. */
function intersectionArea(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

/** The overlap of two boxes that intersect. */
function intersection(a: Box, b: Box): Box {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  return { x, y, width: Math.min(a.x + a.width, b.x + b.width) - x, height: Math.min(a.y + a.height, b.y + b.height) - y };
}

/** The smallest box holding both. */
function union(a: Box, b: Box): Box {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}

/** Whether two detections, or a track and a detection, are of one class (label and class id). */
function sameClass(a: Pick<Detection, 'label' | 'classId'>, b: Pick<Detection, 'label' | 'classId'>): boolean {
  return a.label === b.label && a.classId === b.classId;
}

/** Intersection over union of two boxes (0 when either is empty). */
export function iou(a: Box, b: Box): number {
  const inter = intersectionArea(a, b);
  return inter === 0 ? 0 : inter / (a.width * a.height + b.width * b.height - inter);
}
