// The "pose" analyzer: people and their 17 COCO keypoints from MoveNet MultiPose (up to 6 people),
// in frame pixels. A person's points keep their ids while the person is tracked: an internal
// TrackAnalyzer (one per stream, like every per-stream analyzer) follows the person boxes, and a
// person is published under its track's id once the track is confirmed. The person boxes are
// also published as detections (label "person") when no earlier analyzer published detections.
import { Analyzer, AnalyzerInput, AnalyzerOutputs, AnalyzerSettingsError, applySettings, defaultSettings, iou, SettingsSpec, TrackAnalyzer } from '@framewire/analysis';
import { Box, Detection, KeyPoint } from '@framewire/proto';
import { COCO_KEYPOINT_COUNT, COCO_PERSON_CLASS_ID, COCO_PERSON_LABEL, COCO_POINT_NAMES } from './coco';
import { DETECTION_NMS_IOU, inputBoxToFrame, suppressOverlaps } from './detect';
import { dynamicInputSize, fitLetterbox, inputToImageX, inputToImageY } from './letterbox';
import type { ModelInference } from './model-inference';

export const POSE_ANALYZER = 'pose';
/** MoveNet MultiPose takes any input size in steps of 32 pixels (int32 pixel values 0..255). */
export const MOVENET_INPUT_STEP = 32;
/** Its output, 1×6×56: per person 17 × [y, x, score] normalised to the input (padding included),
 *  then [ymin, xmin, ymax, xmax, score]. */
const MOVENET_ROW = 56;
const MOVENET_BOX_AT = COCO_KEYPOINT_COUNT * 3;
/** Largest person id whose keypoint ids (personId * 17 + k) fit a uint32; track ids beyond it wrap. */
export const MAX_POSE_PERSON_ID = Math.floor((2 ** 32 - COCO_KEYPOINT_COUNT) / COCO_KEYPOINT_COUNT);
/** Frames a person must be seen in (tracked) before it is published: a person seen once, a false
 *  one, never shows, and an id that appears lasts. */
export const POSE_CONFIRM_FRAMES = 3;
/** A track's box and a person's box of this frame are the same person from this IoU on (a matched
 *  track carries its detection's box: 1 unless the tracker smooths boxes). */
const SAME_PERSON_IOU = 0.5;

export const POSE_SETTINGS = {
  minPersonScore: {
    min: 0,
    max: 1,
    integer: false,
    default: 0.1,
    description: 'least score of a person kept (vtest.avi at inputSize 256: its small people score 0.1-0.36, empty places below 0.01)',
  },
  minKeypointScore: {
    min: 0,
    max: 1,
    integer: false,
    default: 0.3,
    description: 'least score of a keypoint published, the others left out (vtest.avi: 70 % of its people’s points score 0.3 or more, 22 % 0.4)',
  },
  inputSize: {
    min: 128,
    max: 512,
    integer: true,
    default: 256,
    description: 'long side of the model input, a multiple of 32: larger finds smaller people, slower (≈80 ms at 256, ≈550 ms at 512 here)',
  },
} as const satisfies SettingsSpec<string>;
export type PoseSettings = Record<keyof typeof POSE_SETTINGS, number>;

/** The id of keypoint k (COCO order) of person `personId`. */
export function poseKeypointId(personId: number, k: number): number {
  return personId * COCO_KEYPOINT_COUNT + k;
}

/** The person id of a track: its id, wrapped into 1..MAX_POSE_PERSON_ID. */
export function personIdOf(trackId: number): number {
  return ((trackId - 1) % MAX_POSE_PERSON_ID) + 1;
}

interface Person {
  detection: Detection;
  /** Where its row starts in the model output. */
  at: number;
}

export class PoseAnalyzer implements Analyzer {
  readonly name = POSE_ANALYZER;
  private current: PoseSettings;
  /** Follows this stream's person boxes; its confirmed tracks give the person ids. The model reports
   *  whole people, never pieces of one: a person mostly in front of another is a person (no fragments). */
  private readonly tracker = new TrackAnalyzer({ minHits: POSE_CONFIRM_FRAMES, fragmentInside: 0 });

  /** `runner` runs movenet-multipose; it belongs to the caller (shared by every stream, closed by its owner). */
  constructor(
    private readonly runner: ModelInference,
    settings: Record<string, unknown> = {},
  ) {
    if (runner.model !== 'movenet-multipose') throw new RangeError(`${POSE_ANALYZER} needs a movenet-multipose runner, got ${runner.model}`);
    this.current = checkedSettings(defaultSettings(POSE_SETTINGS), settings);
  }

  settings(): PoseSettings {
    return { ...this.current };
  }

  configure(changes: Record<string, unknown>): void {
    this.current = checkedSettings(this.current, changes);
  }

  /** Forgets the tracked people (ids keep counting up, never given twice). */
  reset(): void {
    this.tracker.reset();
  }

  async analyze(input: AnalyzerInput): Promise<AnalyzerOutputs> {
    const { image } = input;
    const { minPersonScore, minKeypointScore, inputSize } = this.current;
    const size = dynamicInputSize(image.width, image.height, inputSize, MOVENET_INPUT_STEP);
    const letterbox = fitLetterbox(image.width, image.height, size.width, size.height);
    const { outputs } = await this.runner.run({ pixels: image.data, width: image.width, height: image.height, letterbox, encoding: 'int32' });
    const rows = outputs[0].data;
    const frame = { width: input.frameWidth, height: input.frameHeight };

    const found: Person[] = [];
    for (let at = 0; at + MOVENET_ROW <= rows.length; at += MOVENET_ROW) {
      const score = rows[at + MOVENET_BOX_AT + 4];
      if (!(score >= minPersonScore)) continue;
      const [ymin, xmin, ymax, xmax] = rows.subarray(at + MOVENET_BOX_AT, at + MOVENET_BOX_AT + 4);
      const box = inputBoxToFrame(letterbox, input.scale, frame, xmin * size.width, ymin * size.height, xmax * size.width, ymax * size.height);
      if (box !== undefined) found.push({ detection: { box, score: Math.min(1, score), classId: COCO_PERSON_CLASS_ID, label: COCO_PERSON_LABEL }, at });
    }
    const rowOf = new Map(found.map((p) => [p.detection, p.at]));
    const detections = suppressOverlaps(
      found.map((p) => p.detection),
      DETECTION_NMS_IOU,
      found.length,
    );
    const people: Person[] = detections.map((detection) => ({ detection, at: rowOf.get(detection) as number }));

    const tracks = this.tracker.analyze({ ...input, earlier: { detections: { detections } } }).tracks?.tracks ?? [];
    const points: KeyPoint[] = [];
    const taken = new Set<Person>();
    for (const track of tracks) {
      // A coasting track has no person in this frame.
      if (track.misses > 0 || track.box === undefined) continue;
      const person = samePerson(track.box, people, taken);
      if (person === undefined) continue;
      taken.add(person);
      const personId = personIdOf(track.trackId);
      for (let k = 0; k < COCO_KEYPOINT_COUNT; k++) {
        const confidence = rows[person.at + k * 3 + 2];
        if (!(confidence >= minKeypointScore)) continue;
        points.push({
          id: poseKeypointId(personId, k),
          x: pixelOf(inputToImageX(letterbox, rows[person.at + k * 3 + 1] * size.width) * input.scale, frame.width),
          y: pixelOf(inputToImageY(letterbox, rows[person.at + k * 3] * size.height) * input.scale, frame.height),
          confidence: Math.min(1, confidence),
        });
      }
    }
    const keypoints = { points, pointNames: { ...COCO_POINT_NAMES } };
    // The pipeline's merge keeps the last detections: an earlier detector's (detect) must survive.
    return input.earlier.detections === undefined ? { keypoints, detections: { detections } } : { keypoints };
  }
}

/** The person of this frame whose box is the track's, if any not taken yet. */
function samePerson(box: Box, people: readonly Person[], taken: ReadonlySet<Person>): Person | undefined {
  let best: Person | undefined;
  let bestIou = SAME_PERSON_IOU;
  for (const person of people) {
    if (taken.has(person)) continue;
    const overlap = iou(box, person.detection.box as Box);
    if (overlap >= bestIou) {
      bestIou = overlap;
      best = person;
    }
  }
  return best;
}

/** The frame pixel holding continuous coordinate `c`, kept inside 0..size-1. */
function pixelOf(c: number, size: number): number {
  return Math.min(size - 1, Math.max(0, Math.floor(c)));
}

function checkedSettings(current: PoseSettings, changes: Record<string, unknown>): PoseSettings {
  const next = applySettings(POSE_ANALYZER, POSE_SETTINGS, current, changes);
  if (next.inputSize % MOVENET_INPUT_STEP !== 0) throw new AnalyzerSettingsError(POSE_ANALYZER, 'inputSize', `must be a multiple of ${MOVENET_INPUT_STEP}, got ${next.inputSize}`);
  return next;
}
