// The "detect" analyzer: COCO objects found by centernet (MobileNetV3 CenterNet, 80 classes) in the
// analysed image, as detections in frame pixels with their COCO label and score. The model runs on
// its ModelRunner's thread (shared by every stream's analyzer); here only the decoding: its
// already-decoded boxes are mapped back through the letterbox and the analysis scale, cut to the
// frame, and overlapping boxes of one class are merged (non-maximum suppression). A score threshold
// with hysteresis keeps an object seen in the stream's previous frame while its score dips: a still
// object scoring near one threshold otherwise blinks, and every return after a second is a new track.
import { Analyzer, AnalyzerInput, AnalyzerOutputs, applySettings, defaultSettings, iou, SettingsSpec } from '@framewire/analysis';
import { Box, Detection } from '@framewire/proto';
import { COCO_CLASS_NAMES } from './coco';
import { fitLetterbox, inputToImageX, inputToImageY, Letterbox } from './letterbox';
import type { ModelInference } from './model-inference';

export const DETECT_ANALYZER = 'detect';
/** centernet's input: fixed 512×512, float32 pixel values 0..255. */
export const CENTERNET_INPUT_SIZE = 512;
/** Its third output: 100 rows of [x1, y1, x2, y2, score, class] in model-input pixels. */
export const CENTERNET_DETECTIONS_OUTPUT = 'tower_0/detections';
const CENTERNET_ROW = 6;
/** Boxes of one class overlapping more than this are one object (the model repeats some). */
export const DETECTION_NMS_IOU = 0.5;
/** A detection continues an object of the previous frame when it has its class and overlaps it this much. */
export const DETECTION_CONTINUES_IOU = 0.3;

export const DETECT_SETTINGS = {
  minScore: {
    min: 0,
    max: 1,
    integer: false,
    default: 0.42,
    description: 'least score of a new detection (on vtest.avi walking people score 0.35-0.75, still false ones 0.3-0.45, the parked van 0.40-0.43)',
  },
  keepScore: {
    min: 0,
    max: 1,
    integer: false,
    default: 0.25,
    description: 'least score of a detection that continues an object of the previous frame (same class, IoU >= 0.3): an object once found stays while its score dips; above minScore: minScore applies',
  },
  maxDetections: { min: 1, max: 100, integer: true, default: 100, description: 'most detections per frame, highest scores first' },
} as const satisfies SettingsSpec<string>;
export type DetectSettings = Record<keyof typeof DETECT_SETTINGS, number>;

/** A box given by its corners in model-input pixels, in frame pixels and cut to the frame; undefined
 *  when nothing of it is inside the frame (or a value is not finite). */
export function inputBoxToFrame(box: Letterbox, scale: number, frame: { width: number; height: number }, x1: number, y1: number, x2: number, y2: number): Box | undefined {
  const left = Math.max(0, inputToImageX(box, Math.min(x1, x2)) * scale);
  const top = Math.max(0, inputToImageY(box, Math.min(y1, y2)) * scale);
  const right = Math.min(frame.width, inputToImageX(box, Math.max(x1, x2)) * scale);
  const bottom = Math.min(frame.height, inputToImageY(box, Math.max(y1, y2)) * scale);
  // NaN fails the comparison too.
  if (!(right > left && bottom > top)) return undefined;
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/** Highest score first, dropping any detection that overlaps a kept one of its class by more than
 *  `maxIou`; at most `limit` kept. */
export function suppressOverlaps(detections: Detection[], maxIou: number, limit: number): Detection[] {
  const sorted = [...detections].sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const d of sorted) {
    if (kept.length >= limit) break;
    if (kept.some((k) => k.classId === d.classId && iou(k.box as Box, d.box as Box) > maxIou)) continue;
    kept.push(d);
  }
  return kept;
}

export class DetectAnalyzer implements Analyzer {
  readonly name = DETECT_ANALYZER;
  private current: DetectSettings;
  /** This stream's detections of the previous frame (hysteresis). */
  private previous: Detection[] = [];

  /** `runner` runs centernet; it belongs to the caller (shared by every stream, closed by its owner). */
  constructor(
    private readonly runner: ModelInference,
    settings: Record<string, unknown> = {},
  ) {
    if (runner.model !== 'centernet') throw new RangeError(`${DETECT_ANALYZER} needs a centernet runner, got ${runner.model}`);
    this.current = applySettings(DETECT_ANALYZER, DETECT_SETTINGS, defaultSettings(DETECT_SETTINGS), settings);
  }

  settings(): DetectSettings {
    return { ...this.current };
  }

  configure(changes: Record<string, unknown>): void {
    this.current = applySettings(DETECT_ANALYZER, DETECT_SETTINGS, this.current, changes);
  }

  reset(): void {
    this.previous = [];
  }

  async analyze(input: AnalyzerInput): Promise<AnalyzerOutputs> {
    const { image } = input;
    const letterbox = fitLetterbox(image.width, image.height, CENTERNET_INPUT_SIZE, CENTERNET_INPUT_SIZE);
    const { outputs } = await this.runner.run({ pixels: image.data, width: image.width, height: image.height, letterbox, encoding: 'float32', outputs: [CENTERNET_DETECTIONS_OUTPUT] });
    const rows = outputs[0].data;
    const { minScore, keepScore, maxDetections } = this.current;
    const floor = Math.min(minScore, keepScore);
    const frame = { width: input.frameWidth, height: input.frameHeight };
    const found: Detection[] = [];
    for (let at = 0; at + CENTERNET_ROW <= rows.length; at += CENTERNET_ROW) {
      const score = rows[at + 4];
      const classId = rows[at + 5];
      if (!(score >= floor) || !Number.isInteger(classId) || classId < 0 || classId >= COCO_CLASS_NAMES.length) continue;
      const box = inputBoxToFrame(letterbox, input.scale, frame, rows[at], rows[at + 1], rows[at + 2], rows[at + 3]);
      if (box === undefined) continue;
      if (score < minScore && !this.previous.some((p) => p.classId === classId && iou(p.box as Box, box) >= DETECTION_CONTINUES_IOU)) continue;
      found.push({ box, score: Math.min(1, score), classId, label: COCO_CLASS_NAMES[classId] });
    }
    const detections = suppressOverlaps(found, DETECTION_NMS_IOU, maxDetections);
    this.previous = detections;
    return { detections: { detections } };
  }
}
