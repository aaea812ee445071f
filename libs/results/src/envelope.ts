// Splits a keypoints or segmentation Result into what the RW payload carries (ids, coordinates,
// sizes) and the envelope that it cannot (stream, worker, times, and the exact float32
// confidences the RW uint16 would round), and joins them back bit for bit on replay.
import { KeyPoint, KeyPointsFrame, SegmentationFrame } from '@framewire/overlay-codecs';
import { Result } from '@framewire/proto';

/** Thrown when an RW frame and its envelope do not belong together (different counts or ids). */
export class EnvelopeMismatchError extends Error {
  readonly code = 'ENVELOPE_MISMATCH';
  constructor(
    message: string,
    readonly segment: string,
  ) {
    super(message);
    this.name = 'EnvelopeMismatchError';
  }
}

/**
 * The point names of one keypoints segment, as its RW sidecar holds them: every name seen in the
 * segment, each with its one id. Names only ever join, so the sidecar stays true of every earlier
 * frame, and a track appearing does not start a new segment. A frame recorded against the book
 * gets back, on replay, the book's names of the ids it holds (namesOf); a frame whose own names are
 * not exactly that carries them in its envelope.
 */
export class PointNameBook {
  readonly names: Record<string, number> = {};
  private readonly nameOfId = new Map<number, string>();
  /** Ids that frames recorded against the book held without a name: naming one later would give
   *  those frames a name on replay that they did not have. */
  private readonly unnamedIds = new Set<number>();

  constructor(names: Readonly<Record<string, number>> = {}) {
    for (const [name, id] of Object.entries(names)) {
      // A sidecar written by another program may name one id twice: the first name wins.
      if (!this.nameOfId.has(id)) this.nameOfId.set(id, name);
      this.names[name] = id;
    }
  }

  /** Adds `names`. Returns undefined, changing nothing, when one of them contradicts the book (a
   *  name with another id, an id with another name or left unnamed by an earlier frame, or two
   *  names for one id); else whether the book grew. */
  add(names: Readonly<Record<string, number>>): boolean | undefined {
    const fresh: [string, number][] = [];
    const claimed = new Map<number, string>();
    for (const [name, id] of Object.entries(names)) {
      const known = this.names[name];
      const owner = this.nameOfId.get(id) ?? claimed.get(id);
      if (known !== undefined && known !== id) return undefined;
      if (owner !== undefined && owner !== name) return undefined;
      if (known === undefined && owner === undefined) {
        if (this.unnamedIds.has(id)) return undefined;
        fresh.push([name, id]);
        claimed.set(id, name);
      }
    }
    for (const [name, id] of fresh) {
      this.names[name] = id;
      this.nameOfId.set(id, name);
    }
    return fresh.length > 0;
  }

  nameOf(id: number): string | undefined {
    return this.nameOfId.get(id);
  }

  /** The book's names of the points of `points`. */
  namesOf(points: readonly { id: number }[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const p of points) {
      const name = this.nameOfId.get(p.id);
      if (name !== undefined) out[name] = p.id;
    }
    return out;
  }

  /** Records that a frame whose names replay derives from the book holds `points`: those the
   *  book does not name must stay unnamed. */
  noteRecorded(points: readonly { id: number }[]): void {
    for (const p of points) if (!this.nameOfId.has(p.id)) this.unnamedIds.add(p.id);
  }

}

/** Whether two point-name maps hold the same names with the same ids. */
export function samePointNames(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => b[k] === a[k]);
}

/** The envelope of a keypoints result: every field but the payload's, plus one KeyPoint per
 *  keypoint holding only its confidence (an empty message when it is 0). `ownNames`: the frame's
 *  point names are not those the segment's book gives it, so the envelope carries them. */
export function keypointsEnvelope(result: Result, ownNames = false): Result {
  const points = result.keypoints?.points ?? [];
  return {
    ...envelopeFields(result),
    keypoints: { points: points.map((p) => ({ id: 0, x: 0, y: 0, confidence: p.confidence })), pointNames: ownNames ? { ...result.keypoints?.pointNames } : {} },
  };
}

/** The envelope of a segmentation result: one instance per instance, holding only its confidence. */
export function segmentationEnvelope(result: Result): Result {
  const instances = result.segmentation?.instances ?? [];
  return {
    ...envelopeFields(result),
    segmentation: {
      width: 0,
      height: 0,
      instances: instances.map((i) => ({ classId: 0, instanceId: 0, confidence: i.confidence, points: [] })),
    },
  };
}

function envelopeFields(result: Result): Result {
  return {
    streamId: result.streamId,
    frameSequence: result.frameSequence,
    captureTimeUs: result.captureTimeUs,
    workerId: result.workerId,
    processingUs: result.processingUs,
    publishedTimeUs: result.publishedTimeUs,
    keypoints: undefined,
    segmentation: undefined,
    detections: undefined,
    tracks: undefined,
    stage: undefined,
  };
}

/** Joins a decoded envelope with its RW keypoints frame and the segment's point names: the
 *  envelope's own names when it has them, else the book's names of the frame's ids. */
export function joinKeypoints(envelope: Result, frame: KeyPointsFrame, book: PointNameBook | undefined, segment: string): Result {
  const confidences = envelope.keypoints?.points ?? [];
  if (confidences.length !== frame.keypoints.length || BigInt(envelope.frameSequence) !== frame.frameId) {
    throw new EnvelopeMismatchError(
      `keypoints frame ${frame.frameId} with ${frame.keypoints.length} points does not match envelope of frame ${envelope.frameSequence} with ${confidences.length}`,
      segment,
    );
  }
  return {
    ...envelope,
    keypoints: {
      points: frame.keypoints.map((k: KeyPoint, i) => ({ id: k.id, x: k.x, y: k.y, confidence: confidences[i].confidence })),
      pointNames: Object.keys(envelope.keypoints?.pointNames ?? {}).length > 0 ? { ...envelope.keypoints?.pointNames } : (book?.namesOf(frame.keypoints) ?? {}),
    },
  };
}

/** Joins a decoded envelope with its RW segmentation frame. */
export function joinSegmentation(envelope: Result, frame: SegmentationFrame, segment: string): Result {
  const confidences = envelope.segmentation?.instances ?? [];
  if (confidences.length !== frame.instances.length || BigInt(envelope.frameSequence) !== frame.frameId) {
    throw new EnvelopeMismatchError(
      `segmentation frame ${frame.frameId} with ${frame.instances.length} instances does not match envelope of frame ${envelope.frameSequence} with ${confidences.length}`,
      segment,
    );
  }
  return {
    ...envelope,
    segmentation: {
      width: frame.width,
      height: frame.height,
      instances: frame.instances.map((instance, i) => ({
        classId: instance.classId,
        instanceId: instance.instanceId,
        confidence: confidences[i].confidence,
        points: Array.from(instance.points),
      })),
    },
  };
}
