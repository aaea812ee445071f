// The guard where results enter the gateway: a Result from a worker becomes trusted only after every
// field has been checked against the contract and the limits below; anything else is a typed error
// that names the field and the value.
import { Result, ResultKind } from '@framewire/proto';
import { ProtocolDecodeError, decodeStage } from '@framewire/overlay-codecs';

/** Stream and worker ids: also directory names in the archive, so a safe character set. */
export const ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const MAX_ID_LENGTH = 64;
/** Keypoints per result. */
export const DEFAULT_MAX_KEYPOINTS = 10_000;
/** Named points per result (the RW sidecar's "points"). */
export const DEFAULT_MAX_POINT_NAMES = 1_000;
export const MAX_POINT_NAME_LENGTH = 128;
/** Segmentation instances per result; the RW format carries class and instance ids as uint8. */
export const DEFAULT_MAX_INSTANCES = 1_000;
/** Vertices (x, y pairs) per instance and per result. */
export const DEFAULT_MAX_POINTS_PER_INSTANCE = 100_000;
export const DEFAULT_MAX_POINTS_PER_RESULT = 1_000_000;
export const DEFAULT_MAX_DETECTIONS = 10_000;
export const DEFAULT_MAX_TRACKS = 10_000;
export const MAX_LABEL_LENGTH = 256;
/** Stage messages carry JPEG patches, so they may be larger than the rest. */
export const DEFAULT_MAX_STAGE_BYTES = 4 * 1024 * 1024;
/** Segmentation class and instance ids are uint8 in the RW format the archive writes. */
export const MAX_SEGMENTATION_ID = 0xff;
const UINT32_MAX = 0xffff_ffff;
const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;

export interface ResultLimits {
  maxKeypoints: number;
  maxPointNames: number;
  maxInstances: number;
  maxPointsPerInstance: number;
  maxPointsPerResult: number;
  maxDetections: number;
  maxTracks: number;
  maxStageBytes: number;
}

export const DEFAULT_RESULT_LIMITS: Readonly<ResultLimits> = Object.freeze({
  maxKeypoints: DEFAULT_MAX_KEYPOINTS,
  maxPointNames: DEFAULT_MAX_POINT_NAMES,
  maxInstances: DEFAULT_MAX_INSTANCES,
  maxPointsPerInstance: DEFAULT_MAX_POINTS_PER_INSTANCE,
  maxPointsPerResult: DEFAULT_MAX_POINTS_PER_RESULT,
  maxDetections: DEFAULT_MAX_DETECTIONS,
  maxTracks: DEFAULT_MAX_TRACKS,
  maxStageBytes: DEFAULT_MAX_STAGE_BYTES,
});

/** A result that breaks the contract. `field` is the path of the offending field
 *  (`result.segmentation.instances[3].points`); the message names it and the value. */
export class ResultValidationError extends Error {
  readonly code = 'RESULT_INVALID';
  constructor(
    readonly field: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${detail}`, options);
    this.name = 'ResultValidationError';
  }
}

/** The payload kinds in the order of the oneof's fields. */
const PAYLOAD_FIELDS = [
  ['keypoints', ResultKind.RESULT_KIND_KEYPOINTS],
  ['segmentation', ResultKind.RESULT_KIND_SEGMENTATION],
  ['detections', ResultKind.RESULT_KIND_DETECTIONS],
  ['tracks', ResultKind.RESULT_KIND_TRACKS],
  ['stage', ResultKind.RESULT_KIND_STAGE],
] as const;

/** The kinds a result can have (every ResultKind but UNSPECIFIED). */
export const RESULT_KINDS: readonly ResultKind[] = PAYLOAD_FIELDS.map(([, kind]) => kind);

/** Lower-case name of a kind (`keypoints`), as used in archive names and docs. */
export function resultKindName(kind: ResultKind): string {
  const entry = PAYLOAD_FIELDS.find(([, k]) => k === kind);
  if (entry === undefined) throw new ResultValidationError('kind', `unknown result kind ${String(kind)}`);
  return entry[0];
}

/** Which payload `result` carries. Throws ResultValidationError unless exactly one is set. */
export function resultKindOf(result: Result): ResultKind {
  let found: ResultKind | undefined;
  let foundName = '';
  for (const [name, kind] of PAYLOAD_FIELDS) {
    if (result[name] === undefined || result[name] === null) continue;
    if (found !== undefined) throw new ResultValidationError('result.payload', `two payloads set (${foundName} and ${name}); exactly one is allowed`);
    found = kind;
    foundName = name;
  }
  if (found === undefined) throw new ResultValidationError('result.payload', 'no payload set (one of keypoints, segmentation, detections, tracks, stage)');
  return found;
}

/** Decodes protobuf bytes of a Result; malformed bytes throw ResultValidationError (field `result`). */
export function decodeResult(bytes: Uint8Array): Result {
  try {
    return Result.decode(bytes);
  } catch (error) {
    throw new ResultValidationError('result', `malformed protobuf (${(error as Error).message}) in ${bytes.length} bytes`, { cause: error });
  }
}

function fail(field: string, detail: string, value: unknown): never {
  throw new ResultValidationError(field, `${detail} (got ${describe(value)})`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === undefined || value === null) return String(value);
  return typeof value;
}

function checkId(value: unknown, field: string): void {
  // '.' and '..' match the character set but would name other directories of the archive.
  if (typeof value !== 'string' || !ID_PATTERN.test(value) || value === '.' || value === '..') {
    fail(field, `must be 1-${MAX_ID_LENGTH} of A-Z a-z 0-9 . _ - (not "." or "..")`, value);
  }
}

function checkInteger(value: unknown, min: number, max: number, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(field, `must be an integer ${min}..${max}`, value);
  }
}

function checkUnit(value: unknown, field: string): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) fail(field, 'must be a finite number 0..1', value);
}

function checkFinite(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(field, 'must be a finite number', value);
}

function checkCount(length: number, max: number, field: string): void {
  if (length > max) throw new ResultValidationError(field, `${length} entries exceed the limit of ${max}`);
}

function checkArray(value: unknown, field: string): asserts value is unknown[] {
  if (!Array.isArray(value)) fail(field, 'must be a list', value);
}

function checkBox(box: unknown, field: string): void {
  if (box === undefined || box === null || typeof box !== 'object') fail(field, 'missing box', box);
  const b = box as Record<string, unknown>;
  checkFinite(b.x, `${field}.x`);
  checkFinite(b.y, `${field}.y`);
  for (const side of ['width', 'height'] as const) {
    const v = b[side];
    if (typeof v !== 'number' || !(v >= 0 && Number.isFinite(v))) fail(`${field}.${side}`, 'must be a finite number >= 0', v);
  }
}

/**
 * Checks a whole result: envelope (ids, sequence, times), exactly one payload, and the payload's
 * values and sizes. Throws ResultValidationError; returns nothing (the result is then trusted).
 */
export function validateResult(result: Result, limits: ResultLimits = DEFAULT_RESULT_LIMITS): void {
  if (result === null || typeof result !== 'object') fail('result', 'must be a Result message', result);
  checkId(result.streamId, 'result.stream_id');
  checkId(result.workerId, 'result.worker_id');
  checkInteger(result.frameSequence, 0, Number.MAX_SAFE_INTEGER, 'result.frame_sequence');
  // 0 is what an unset field decodes to: a worker that forgot to stamp the capture time.
  checkInteger(result.captureTimeUs, 1, Number.MAX_SAFE_INTEGER, 'result.capture_time_us');
  checkInteger(result.publishedTimeUs, 0, Number.MAX_SAFE_INTEGER, 'result.published_time_us');
  checkInteger(result.processingUs, 0, UINT32_MAX, 'result.processing_us');
  switch (resultKindOf(result)) {
    case ResultKind.RESULT_KIND_KEYPOINTS:
      return validateKeypoints(result.keypoints as unknown as Record<string, unknown>, limits);
    case ResultKind.RESULT_KIND_SEGMENTATION:
      return validateSegmentation(result.segmentation as unknown as Record<string, unknown>, limits);
    case ResultKind.RESULT_KIND_DETECTIONS:
      return validateDetections(result.detections as unknown as Record<string, unknown>, limits);
    case ResultKind.RESULT_KIND_TRACKS:
      return validateTracks(result.tracks as unknown as Record<string, unknown>, limits);
    case ResultKind.RESULT_KIND_STAGE:
      return validateStage(result.stage as unknown, limits);
  }
}

function validateKeypoints(keypoints: Record<string, unknown>, limits: ResultLimits): void {
  const field = 'result.keypoints';
  const points = keypoints.points;
  checkArray(points, `${field}.points`);
  checkCount(points.length, limits.maxKeypoints, `${field}.points`);
  // The RW format keys a frame's keypoints by id: a second one with the same id would be lost.
  const seen = new Set<number>();
  for (let i = 0; i < points.length; i++) {
    const at = `${field}.points[${i}]`;
    const p = points[i] as Record<string, unknown> | null;
    if (p === null || typeof p !== 'object') fail(at, 'must be a KeyPoint', p);
    checkInteger(p.id, 0, UINT32_MAX, `${at}.id`);
    if (seen.has(p.id as number)) fail(`${at}.id`, 'duplicate keypoint id in one result', p.id);
    seen.add(p.id as number);
    checkInteger(p.x, INT32_MIN, INT32_MAX, `${at}.x`);
    checkInteger(p.y, INT32_MIN, INT32_MAX, `${at}.y`);
    checkUnit(p.confidence, `${at}.confidence`);
  }
  const names = keypoints.pointNames;
  if (names === null || typeof names !== 'object') fail(`${field}.point_names`, 'must be a map', names);
  const entries = Object.entries(names);
  checkCount(entries.length, limits.maxPointNames, `${field}.point_names`);
  for (const [name, id] of entries) {
    if (name.length === 0 || name.length > MAX_POINT_NAME_LENGTH) {
      fail(`${field}.point_names`, `names must be 1-${MAX_POINT_NAME_LENGTH} characters`, name);
    }
    checkInteger(id, 0, UINT32_MAX, `${field}.point_names[${JSON.stringify(name)}]`);
  }
}

function validateSegmentation(segmentation: Record<string, unknown>, limits: ResultLimits): void {
  const field = 'result.segmentation';
  checkInteger(segmentation.width, 0, UINT32_MAX, `${field}.width`);
  checkInteger(segmentation.height, 0, UINT32_MAX, `${field}.height`);
  const instances = segmentation.instances;
  checkArray(instances, `${field}.instances`);
  checkCount(instances.length, limits.maxInstances, `${field}.instances`);
  let total = 0;
  for (let i = 0; i < instances.length; i++) {
    const at = `${field}.instances[${i}]`;
    const instance = instances[i] as Record<string, unknown> | null;
    if (instance === null || typeof instance !== 'object') fail(at, 'must be a SegmentationInstance', instance);
    checkInteger(instance.classId, 0, MAX_SEGMENTATION_ID, `${at}.class_id`);
    checkInteger(instance.instanceId, 0, MAX_SEGMENTATION_ID, `${at}.instance_id`);
    checkUnit(instance.confidence, `${at}.confidence`);
    const points = instance.points;
    checkArray(points, `${at}.points`);
    if (points.length % 2 !== 0) throw new ResultValidationError(`${at}.points`, `odd length ${points.length}: points are x, y pairs`);
    const vertices = points.length / 2;
    if (vertices > limits.maxPointsPerInstance) {
      throw new ResultValidationError(`${at}.points`, `${vertices} points exceed the limit of ${limits.maxPointsPerInstance} per instance`);
    }
    total += vertices;
    if (total > limits.maxPointsPerResult) {
      throw new ResultValidationError(`${at}.points`, `${total} points so far exceed the limit of ${limits.maxPointsPerResult} per result`);
    }
    for (let j = 0; j < points.length; j++) {
      const v = points[j];
      if (typeof v !== 'number' || (v | 0) !== v) fail(`${at}.points[${j}]`, 'must be an int32', v);
    }
  }
}

function validateDetections(detections: Record<string, unknown>, limits: ResultLimits): void {
  const field = 'result.detections.detections';
  const list = detections.detections;
  checkArray(list, field);
  checkCount(list.length, limits.maxDetections, field);
  for (let i = 0; i < list.length; i++) {
    const at = `${field}[${i}]`;
    const d = list[i] as Record<string, unknown> | null;
    if (d === null || typeof d !== 'object') fail(at, 'must be a Detection', d);
    checkBox(d.box, `${at}.box`);
    checkUnit(d.score, `${at}.score`);
    checkInteger(d.classId, 0, UINT32_MAX, `${at}.class_id`);
    if (typeof d.label !== 'string' || d.label.length > MAX_LABEL_LENGTH) fail(`${at}.label`, `must be at most ${MAX_LABEL_LENGTH} characters`, d.label);
  }
}

function validateTracks(tracks: Record<string, unknown>, limits: ResultLimits): void {
  const field = 'result.tracks.tracks';
  const list = tracks.tracks;
  checkArray(list, field);
  checkCount(list.length, limits.maxTracks, field);
  for (let i = 0; i < list.length; i++) {
    const at = `${field}[${i}]`;
    const t = list[i] as Record<string, unknown> | null;
    if (t === null || typeof t !== 'object') fail(at, 'must be a Track', t);
    checkInteger(t.trackId, 0, UINT32_MAX, `${at}.track_id`);
    checkBox(t.box, `${at}.box`);
    checkFinite(t.velocityX, `${at}.velocity_x`);
    checkFinite(t.velocityY, `${at}.velocity_y`);
    checkInteger(t.ageFrames, 0, UINT32_MAX, `${at}.age_frames`);
    checkInteger(t.hits, 0, UINT32_MAX, `${at}.hits`);
    checkInteger(t.misses, 0, UINT32_MAX, `${at}.misses`);
  }
}

function validateStage(stage: unknown, limits: ResultLimits): void {
  const field = 'result.stage';
  if (!(stage instanceof Uint8Array)) fail(field, 'must be bytes', stage);
  if (stage.length === 0) throw new ResultValidationError(field, 'empty stage message (formats.md §4 needs at least a frame id and FF FF)');
  if (stage.length > limits.maxStageBytes) {
    throw new ResultValidationError(field, `${stage.length} bytes exceed the limit of ${limits.maxStageBytes}`);
  }
  try {
    decodeStage(stage);
  } catch (error) {
    if (!(error instanceof ProtocolDecodeError)) throw error;
    throw new ResultValidationError(field, `not a stage message: ${error.message}`, { cause: error });
  }
}
