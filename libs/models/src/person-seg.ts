// The "person-seg" analyzer: person masks from the selfie segmentation model, traced into polygons
// with the motion analyzer's contour code. Where earlier analyzers found people (`detect` or `pose`
// detections labelled "person"), each person's box is segmented on its own crop: the model was
// trained on people filling the picture, and on a street scene's whole frame it misses people 80 px
// tall. Without person boxes the whole frame is segmented. Polygons are in frame pixels.
import { Analyzer, AnalyzerInput, AnalyzerOutputs, applySettings, ComponentLabeler, defaultSettings, iou, PointBuffer, PolygonSimplifier, RgbImage, SettingsSpec, traceOuterContour } from '@framewire/analysis';
import { Box, SegmentationInstance } from '@framewire/proto';
import { fitLetterbox, inputToImageX, inputToImageY, Letterbox } from './letterbox';
import { COCO_PERSON_CLASS_ID, COCO_PERSON_LABEL } from './coco';
import type { ModelInference } from './model-inference';
import type { ModelName } from './model-files';

export const PERSON_SEG_ANALYZER = 'person-seg';
export const PERSON_SEG_MODEL: ModelName = 'selfie';
/** The selfie model's input: 256 × 256, RGB scaled to 0..1. */
const SELFIE_INPUT_PX = 256;
/** A person's instance takes the id of the track whose box overlaps its box at least this much. */
const TRACK_MATCH_IOU = 0.3;
/** Mask probabilities become component weights on this scale (ComponentLabeler sums bytes). */
const PROBABILITY_SCALE = 255;

export const PERSON_SEG_SETTINGS = {
  threshold: { min: 0.05, max: 0.95, integer: false, default: 0.5, description: 'mask probability above which a pixel belongs to a person' },
  maxPersons: { min: 0, max: 32, integer: true, default: 6, description: 'person boxes of earlier analyzers segmented, one crop each, highest score first; 0: always the whole frame' },
  cropMargin: { min: 0, max: 1, integer: false, default: 0.2, description: 'context around a person box in its crop, as a fraction of the box size on each side' },
  minArea: { min: 1, max: 1e8, integer: false, default: 100, description: 'smallest region kept, frame pixels' },
  simplifyEpsilon: { min: 0, max: 100, integer: false, default: 2, description: 'Douglas-Peucker tolerance of the polygons, frame pixels' },
} as const satisfies SettingsSpec<string>;
export type PersonSegSettings = Record<keyof typeof PERSON_SEG_SETTINGS, number>;

/** A rectangle of the analysed image, whole pixels. */
interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
  /** The person box (frame pixels) the region was cut around, if any. */
  person?: Box;
}

export class PersonSegAnalyzer implements Analyzer {
  readonly name = PERSON_SEG_ANALYZER;
  private current: PersonSegSettings;
  // Reused from frame to frame: the model's input is always 256 × 256.
  private readonly mask = new Uint8Array(SELFIE_INPUT_PX * SELFIE_INPUT_PX);
  private readonly weight = new Uint8Array(SELFIE_INPUT_PX * SELFIE_INPUT_PX);
  private readonly labeler = new ComponentLabeler(SELFIE_INPUT_PX, SELFIE_INPUT_PX);
  private readonly contour = new PointBuffer(1024);
  private readonly polygon = new PointBuffer(256);
  private readonly simplifier = new PolygonSimplifier();
  private crop = new Uint8Array(0);

  constructor(
    private readonly runner: ModelInference,
    settings: Record<string, unknown> = {},
  ) {
    this.current = applySettings(PERSON_SEG_ANALYZER, PERSON_SEG_SETTINGS, defaultSettings(PERSON_SEG_SETTINGS), settings);
  }

  settings(): PersonSegSettings {
    return { ...this.current };
  }

  configure(changes: Record<string, unknown>): void {
    this.current = applySettings(PERSON_SEG_ANALYZER, PERSON_SEG_SETTINGS, this.current, changes);
  }

  async analyze(input: AnalyzerInput): Promise<AnalyzerOutputs> {
    const { image, frameWidth, frameHeight } = input;
    const instances: SegmentationInstance[] = [];
    for (const region of this.regions(input)) {
      const pixels = region.person === undefined ? image.data : this.cut(image, region);
      const box = fitLetterbox(region.width, region.height, SELFIE_INPUT_PX, SELFIE_INPUT_PX);
      const { outputs } = await this.runner.run({ pixels, width: region.width, height: region.height, letterbox: box, encoding: 'float32-unit' });
      this.traceRegions(outputs[0].data, box, region, input, instances);
    }
    // A person that is no earlier track gets an id above every track id of this frame.
    let next = instances.reduce((most, inst) => Math.max(most, inst.instanceId), 0);
    for (const inst of instances) if (inst.instanceId === 0) inst.instanceId = ++next;
    return { segmentation: { width: frameWidth, height: frameHeight, instances } };
  }

  /** Crops around the frame's person boxes (highest score first), or the whole image. */
  private regions(input: AnalyzerInput): Region[] {
    const { image, scale } = input;
    const { maxPersons, cropMargin } = this.current;
    const persons = (input.earlier.detections?.detections ?? []).filter((d) => d.box !== undefined && (d.label === COCO_PERSON_LABEL || (d.label === '' && d.classId === COCO_PERSON_CLASS_ID)));
    if (maxPersons === 0 || persons.length === 0) return [{ x: 0, y: 0, width: image.width, height: image.height }];
    persons.sort((a, b) => b.score - a.score);
    return persons.slice(0, maxPersons).map((d) => {
      const b = d.box as Box;
      const x0 = Math.max(0, Math.floor((b.x - b.width * cropMargin) / scale));
      const y0 = Math.max(0, Math.floor((b.y - b.height * cropMargin) / scale));
      const x1 = Math.min(image.width, Math.ceil((b.x + b.width * (1 + cropMargin)) / scale));
      const y1 = Math.min(image.height, Math.ceil((b.y + b.height * (1 + cropMargin)) / scale));
      return { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0), person: b };
    }).filter((r) => r.x < image.width && r.y < image.height);
  }

  /** The region's pixels, packed, in a buffer reused across crops. */
  private cut(image: RgbImage, region: Region): Uint8Array {
    const bytes = region.width * region.height * 3;
    if (this.crop.length < bytes) this.crop = new Uint8Array(bytes);
    const row = region.width * 3;
    for (let y = 0; y < region.height; y++) {
      const from = ((region.y + y) * image.width + region.x) * 3;
      this.crop.set(image.data.subarray(from, from + row), y * row);
    }
    return this.crop.subarray(0, bytes);
  }

  /** Polygons of the mask's regions (a crop: the largest only, the person it was cut for). */
  private traceRegions(probabilities: Float32Array, box: Letterbox, region: Region, input: AnalyzerInput, out: SegmentationInstance[]): void {
    const { threshold, minArea, simplifyEpsilon } = this.current;
    const { scale, frameWidth, frameHeight } = input;
    const { mask, weight, labeler } = this;
    mask.fill(0);
    // Only the content of the letterbox: the padding is not the image.
    for (let y = box.offsetY; y < box.offsetY + box.contentHeight; y++) {
      for (let x = box.offsetX, i = y * SELFIE_INPUT_PX + x; x < box.offsetX + box.contentWidth; x++, i++) {
        const p = probabilities[i];
        mask[i] = p > threshold ? 1 : 0;
        weight[i] = Math.round(p * PROBABILITY_SCALE);
      }
    }
    const count = labeler.label(mask, weight);
    const { area, sumWeight, start } = labeler.stats;
    // Frame pixels per model-input pixel (the letterbox scale, then the analysis scale).
    const framePerInput = (region.width / box.contentWidth) * scale;
    const minPixels = minArea / (framePerInput * framePerInput);
    const kept: number[] = [];
    for (let l = 1; l <= count; l++) if (area[l] >= minPixels) kept.push(l);
    kept.sort((a, b) => area[b] - area[a]);
    const labels = region.person === undefined ? kept : kept.slice(0, 1);
    for (const l of labels) {
      traceOuterContour(labeler.labels, SELFIE_INPUT_PX, SELFIE_INPUT_PX, l, start[l], this.contour);
      this.simplifier.simplifyClosed(this.contour, simplifyEpsilon / framePerInput, this.polygon);
      const points = new Array<number>(this.polygon.length * 2);
      const pd = this.polygon.data;
      // Vertices are the centres of mask pixels, mapped to image pixels, then to frame pixels.
      for (let i = 0; i < this.polygon.length; i++) {
        const ix = region.x + inputToImageX(box, pd[2 * i] + 0.5);
        const iy = region.y + inputToImageY(box, pd[2 * i + 1] + 0.5);
        points[2 * i] = Math.min(frameWidth - 1, Math.max(0, Math.floor(ix * scale)));
        points[2 * i + 1] = Math.min(frameHeight - 1, Math.max(0, Math.floor(iy * scale)));
      }
      out.push({ classId: COCO_PERSON_CLASS_ID, instanceId: this.trackIdOf(region.person, input), confidence: sumWeight[l] / area[l] / PROBABILITY_SCALE, points });
    }
  }

  /** The id of the earlier track that is this person (0: none; numbered by position instead). */
  private trackIdOf(person: Box | undefined, input: AnalyzerInput): number {
    if (person === undefined) return 0;
    let best = 0;
    let bestIou = TRACK_MATCH_IOU;
    for (const t of input.earlier.tracks?.tracks ?? []) {
      if (t.box === undefined) continue;
      const overlap = iou(t.box, person);
      if (overlap >= bestIou) {
        bestIou = overlap;
        best = t.trackId;
      }
    }
    return best;
  }
}
