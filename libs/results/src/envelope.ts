// Splits a keypoints or segmentation Result into what the RW payload carries (ids, coordinates,
// sizes) and the envelope that it cannot (stream, worker, times, and the exact float32
// confidences the RW uint16 would round), and joins them back bit for bit on replay.
import { KeyPoint, KeyPointsFrame, SegmentationFrame } from '@framewire/protocol';
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

/** The envelope of a keypoints result: every field but the payload's, plus one KeyPoint per
 *  keypoint holding only its confidence (an empty message when it is 0). */
export function keypointsEnvelope(result: Result): Result {
  const points = result.keypoints?.points ?? [];
  return {
    ...envelopeFields(result),
    keypoints: { points: points.map((p) => ({ id: 0, x: 0, y: 0, confidence: p.confidence })), pointNames: {} },
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

/** Joins a decoded envelope with its RW keypoints frame (and the segment's point names). */
export function joinKeypoints(envelope: Result, frame: KeyPointsFrame, pointNames: Record<string, number>, segment: string): Result {
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
      pointNames: { ...pointNames },
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
