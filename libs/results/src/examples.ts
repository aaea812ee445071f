// Example results of every kind, valid by construction: for tests, benchmarks and documentation.
import { Result, ResultKind } from '@framewire/proto';

/** A stage message of formats.md §4: frame id, one master layer with one rectangle, end marker. */
const EXAMPLE_STAGE = Buffer.from([
  7, 0, 0, 0, 0, 0, 0, 0, // frame id 7
  1, // one layer
  0, 0x00, // layer 0, master
  1, // one op
  0x04, 20, 40, 30, 40, // rect x=10 y=20 (zz), width 30, height 40
  0xff, 0xff,
]);

export interface ExampleResultOptions {
  streamId?: string;
  workerId?: string;
  frameSequence?: number;
  captureTimeUs?: number;
}

/** A valid result of `kind` whose values vary with the frame sequence. Confidences are float32
 *  values, as a subscriber decodes them. */
export function exampleResult(kind: ResultKind, options: ExampleResultOptions = {}): Result {
  const seq = options.frameSequence ?? 1;
  const captureTimeUs = options.captureTimeUs ?? 1_700_000_000_000_000 + seq * 33_333;
  const base: Result = {
    streamId: options.streamId ?? 'cam-1',
    frameSequence: seq,
    captureTimeUs,
    workerId: options.workerId ?? 'worker-1',
    processingUs: 1000 + (seq % 7),
    publishedTimeUs: captureTimeUs + 5_000,
    keypoints: undefined,
    segmentation: undefined,
    detections: undefined,
    tracks: undefined,
    stage: undefined,
  };
  const c = (x: number): number => Math.fround(x);
  switch (kind) {
    case ResultKind.RESULT_KIND_KEYPOINTS:
      return {
        ...base,
        keypoints: {
          points: [
            { id: 0, x: 100 + seq, y: 200 - seq, confidence: c(0.9 - (seq % 10) / 100) },
            { id: 1, x: 90 + seq, y: 180, confidence: c(0.123456) },
            { id: 7, x: -5, y: 2 ** 31 - 1, confidence: c(1) },
          ],
          pointNames: { centroid: 0, top: 1, extra: 7 },
        },
      };
    case ResultKind.RESULT_KIND_SEGMENTATION:
      return {
        ...base,
        segmentation: {
          width: 640,
          height: 480,
          instances: [
            { classId: 1, instanceId: seq % 256, confidence: c(0.77), points: [10, 10, 50 + seq, 10, 50, 60, -3, 4] },
            { classId: 255, instanceId: 0, confidence: c(0.000123), points: [] },
          ],
        },
      };
    case ResultKind.RESULT_KIND_DETECTIONS:
      return {
        ...base,
        detections: { detections: [{ box: { x: 1.5, y: 2, width: 30, height: 40 }, score: c(0.8), classId: 3, label: 'blob' }] },
      };
    case ResultKind.RESULT_KIND_TRACKS:
      return {
        ...base,
        tracks: {
          tracks: [{ trackId: 42, box: { x: 10, y: 20, width: 5, height: 6 }, velocityX: c(1.25), velocityY: c(-3.5), ageFrames: seq, hits: seq, misses: 0 }],
        },
      };
    case ResultKind.RESULT_KIND_STAGE:
      return { ...base, stage: Buffer.from(EXAMPLE_STAGE) };
    default:
      throw new Error(`no example for result kind ${String(kind)}`);
  }
}

/** What a subscriber receives for `result`: Result.decode(Result.encode(result)). */
export function asReceived(result: Result): Result {
  return Result.decode(Result.encode(result).finish());
}
