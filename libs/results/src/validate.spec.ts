import fc from 'fast-check';
import { Result, ResultKind } from '@framewire/proto';
import { asReceived, exampleResult } from './examples';
import {
  DEFAULT_RESULT_LIMITS,
  RESULT_KINDS,
  ResultValidationError,
  decodeResult,
  resultKindOf,
  validateResult,
} from './validate';

function rejection(result: Result): ResultValidationError {
  try {
    validateResult(result);
  } catch (error) {
    if (error instanceof ResultValidationError) return error;
    throw error;
  }
  throw new Error('expected a ResultValidationError');
}

describe('validateResult', () => {
  it.each(RESULT_KINDS)('accepts the example result of kind %s, before and after a protobuf round trip', (kind) => {
    expect(() => validateResult(exampleResult(kind))).not.toThrow();
    expect(() => validateResult(asReceived(exampleResult(kind)))).not.toThrow();
    expect(resultKindOf(exampleResult(kind))).toBe(kind);
  });

  it('names an empty stream id and its value', () => {
    const error = rejection({ ...exampleResult(ResultKind.RESULT_KIND_DETECTIONS), streamId: '' });
    expect(error.field).toBe('result.stream_id');
    expect(error.message).toBe('result.stream_id: must be 1-64 of A-Z a-z 0-9 . _ - (not "." or "..") (got "")');
  });

  it('refuses ids that would name another archive directory', () => {
    expect(rejection({ ...exampleResult(ResultKind.RESULT_KIND_TRACKS), workerId: '..' }).field).toBe('result.worker_id');
    expect(rejection({ ...exampleResult(ResultKind.RESULT_KIND_TRACKS), workerId: 'a/b' }).field).toBe('result.worker_id');
  });

  it('names the instance of an odd-length polygon', () => {
    const result = exampleResult(ResultKind.RESULT_KIND_SEGMENTATION);
    const instances = [0, 1, 2, 3].map(() => ({ classId: 1, instanceId: 1, confidence: 0.5, points: [1, 2] }));
    instances[3].points = [1, 2, 3, 4, 5, 6, 7];
    const error = rejection({ ...result, segmentation: { width: 1, height: 1, instances } });
    expect(error.field).toBe('result.segmentation.instances[3].points');
    expect(error.message).toContain('odd length 7');
  });

  it('refuses a result without a payload and one with two', () => {
    const none = { ...exampleResult(ResultKind.RESULT_KIND_STAGE), stage: undefined };
    expect(rejection(none).message).toContain('no payload');
    const two = { ...exampleResult(ResultKind.RESULT_KIND_TRACKS), detections: { detections: [] } };
    expect(rejection(two).message).toContain('two payloads set (detections and tracks)');
  });

  it('refuses a non-finite or out-of-range confidence, naming the keypoint', () => {
    const result = exampleResult(ResultKind.RESULT_KIND_KEYPOINTS);
    result.keypoints!.points[1].confidence = NaN;
    const error = rejection(result);
    expect(error.field).toBe('result.keypoints.points[1].confidence');
    expect(error.message).toContain('(got NaN)');
    result.keypoints!.points[1].confidence = 1.5;
    expect(rejection(result).field).toBe('result.keypoints.points[1].confidence');
  });

  it('refuses capture_time_us 0 (a worker that did not stamp it)', () => {
    expect(rejection({ ...exampleResult(ResultKind.RESULT_KIND_DETECTIONS), captureTimeUs: 0 }).field).toBe('result.capture_time_us');
  });

  it('refuses more keypoints, instances or points than the limits', () => {
    const kp = exampleResult(ResultKind.RESULT_KIND_KEYPOINTS);
    kp.keypoints!.points = Array.from({ length: DEFAULT_RESULT_LIMITS.maxKeypoints + 1 }, (_, id) => ({ id, x: 0, y: 0, confidence: 0 }));
    expect(rejection(kp).message).toBe(`result.keypoints.points: ${DEFAULT_RESULT_LIMITS.maxKeypoints + 1} entries exceed the limit of ${DEFAULT_RESULT_LIMITS.maxKeypoints}`);
    const seg = exampleResult(ResultKind.RESULT_KIND_SEGMENTATION);
    seg.segmentation!.instances = Array.from({ length: DEFAULT_RESULT_LIMITS.maxInstances + 1 }, () => ({ classId: 0, instanceId: 0, confidence: 0, points: [] }));
    expect(rejection(seg).field).toBe('result.segmentation.instances');
    const big = exampleResult(ResultKind.RESULT_KIND_SEGMENTATION);
    big.segmentation!.instances[0].points = new Array<number>(2 * (DEFAULT_RESULT_LIMITS.maxPointsPerInstance + 1)).fill(0);
    expect(rejection(big).field).toBe('result.segmentation.instances[0].points');
  });

  it('refuses duplicate keypoint ids and segmentation ids the RW format cannot carry', () => {
    const kp = exampleResult(ResultKind.RESULT_KIND_KEYPOINTS);
    kp.keypoints!.points[2].id = 0;
    expect(rejection(kp).field).toBe('result.keypoints.points[2].id');
    const seg = exampleResult(ResultKind.RESULT_KIND_SEGMENTATION);
    seg.segmentation!.instances[0].classId = 256;
    expect(rejection(seg).field).toBe('result.segmentation.instances[0].class_id');
  });

  it('refuses stage bytes that are not a stage message', () => {
    const error = rejection({ ...exampleResult(ResultKind.RESULT_KIND_STAGE), stage: Buffer.from([1, 2, 3]) });
    expect(error.field).toBe('result.stage');
  });
});

describe('decodeResult', () => {
  it('wraps a protobuf decode failure as a ResultValidationError', () => {
    expect(() => decodeResult(Uint8Array.from([0x0a, 0x05, 0x61]))).toThrow(ResultValidationError);
  });

  it('decodes what Result.encode wrote', () => {
    const result = exampleResult(ResultKind.RESULT_KIND_TRACKS);
    expect(decodeResult(Result.encode(result).finish())).toEqual(asReceived(result));
  });
});

// Arbitrary values of every field, well-typed or not: the validator must answer with its typed
// error or accept, never crash.
const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 2 ** 53, -1, 0, 1, 255, 256, 2 ** 32));
const anyValue = fc.oneof(anyNumber, fc.string(), fc.constant(undefined), fc.constant(null), fc.array(anyNumber, { maxLength: 5 }));
const box = fc.record({ x: anyNumber, y: anyNumber, width: anyNumber, height: anyNumber });
const payload = fc.oneof(
  fc.record({
    keypoints: fc.record({
      points: fc.array(fc.record({ id: anyNumber, x: anyNumber, y: anyNumber, confidence: anyNumber }), { maxLength: 5 }),
      pointNames: fc.dictionary(fc.string(), anyNumber, { maxKeys: 3 }),
    }),
  }),
  fc.record({
    segmentation: fc.record({
      width: anyNumber,
      height: anyNumber,
      instances: fc.array(fc.record({ classId: anyNumber, instanceId: anyNumber, confidence: anyNumber, points: fc.array(anyNumber, { maxLength: 9 }) }), { maxLength: 4 }),
    }),
  }),
  fc.record({ detections: fc.record({ detections: fc.array(fc.record({ box, score: anyNumber, classId: anyNumber, label: anyValue }), { maxLength: 3 }) }) }),
  fc.record({
    tracks: fc.record({
      tracks: fc.array(fc.record({ trackId: anyNumber, box, velocityX: anyNumber, velocityY: anyNumber, ageFrames: anyNumber, hits: anyNumber, misses: anyNumber }), { maxLength: 3 }),
    }),
  }),
  fc.record({ stage: fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)) }),
  fc.constant({}),
  fc.record({ detections: fc.constant({ detections: [] }), stage: fc.constant(Buffer.from([0])) }),
);
const arbitraryResult = fc
  .tuple(
    fc.record({
      streamId: fc.oneof(fc.constantFrom('cam-1', '', '.', 'x'.repeat(65)), fc.string()),
      workerId: fc.oneof(fc.constant('w1'), fc.string()),
      frameSequence: anyNumber,
      captureTimeUs: anyNumber,
      processingUs: anyNumber,
      publishedTimeUs: anyNumber,
    }),
    payload,
  )
  .map(([envelope, p]) => ({ ...envelope, ...p }) as unknown as Result);

function onlyTyped(run: () => void): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof ResultValidationError)) throw error;
    expect(error.message.startsWith(`${error.field}: `)).toBe(true);
  }
}

describe('property: only typed errors', () => {
  it('validateResult throws nothing but ResultValidationError for arbitrary results', () => {
    fc.assert(fc.property(arbitraryResult, (result) => onlyTyped(() => validateResult(result))), { numRuns: 2000 });
  });

  it('decodeResult + validateResult throw nothing but ResultValidationError for random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => onlyTyped(() => validateResult(decodeResult(bytes)))),
      { numRuns: 3000 },
    );
  });

  it('decodeResult + validateResult throw nothing but ResultValidationError for mutated valid results', () => {
    const valid = RESULT_KINDS.map((kind) => Result.encode(exampleResult(kind)).finish());
    fc.assert(
      fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), (which, edits) => {
        const bytes = Uint8Array.from(valid[which]);
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        onlyTyped(() => validateResult(decodeResult(bytes)));
      }),
      { numRuns: 3000 },
    );
  });
});
