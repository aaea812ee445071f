// Turning one frame's analyzer outputs into framewire.v1.Result messages: one per output kind, each
// with the same envelope (stream, frame, capture time, worker, processing and publishing times).
import { AnalyzerOutputs } from '@framewire/analysis';
import { Result } from '@framewire/proto';

export interface ResultEnvelope {
  streamId: string;
  frameSequence: number;
  /** Microseconds since the Unix epoch. */
  captureTimeUs: number;
  workerId: string;
  /** Decode + analysis time of the frame, microseconds. */
  processingUs: number;
  /** Microseconds since the Unix epoch. */
  publishedTimeUs: number;
}

/** Largest processing_us (a uint32 on the wire). */
const UINT32_MAX = 0xffff_ffff;

/** One Result per present output, in the order segmentation, detections, tracks, keypoints, stage. */
export function resultsOf(outputs: AnalyzerOutputs, envelope: ResultEnvelope): Result[] {
  const base: Result = {
    streamId: envelope.streamId,
    frameSequence: envelope.frameSequence,
    captureTimeUs: envelope.captureTimeUs,
    workerId: envelope.workerId,
    // The gateway checks these are integers in range; timers give fractions.
    processingUs: Math.min(UINT32_MAX, Math.max(0, Math.round(envelope.processingUs))),
    publishedTimeUs: Math.round(envelope.publishedTimeUs),
  };
  const results: Result[] = [];
  if (outputs.segmentation !== undefined) results.push({ ...base, segmentation: outputs.segmentation });
  if (outputs.detections !== undefined) results.push({ ...base, detections: outputs.detections });
  if (outputs.tracks !== undefined) results.push({ ...base, tracks: outputs.tracks });
  if (outputs.keypoints !== undefined) results.push({ ...base, keypoints: outputs.keypoints });
  if (outputs.stage !== undefined) {
    const stage = outputs.stage;
    results.push({ ...base, stage: Buffer.isBuffer(stage) ? stage : Buffer.from(stage.buffer, stage.byteOffset, stage.byteLength) });
  }
  return results;
}
