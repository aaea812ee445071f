// COCO pose skeletons in the page: which KeyPoints results are COCO poses (the pose analyzer's point
// definition names the 17 COCO points with ids 0..16; a point's id is person * 17 + point), their
// points grouped by person, the limbs between points that are present, and the colours of a person
// (stable for its id, the left side lighter than the right). Plain functions; overlays.ts draws.

import { COCO_KEYPOINT_NAMES, COCO_POINTS_PER_PERSON, type CocoKeypointName } from '@framewire/overlay-codecs';

export { COCO_KEYPOINT_NAMES, COCO_POINTS_PER_PERSON, type CocoKeypointName };

/** The COCO skeleton (the dataset's 19 pairs): face, ears to shoulders, torso, arms, legs. */
export const COCO_LIMBS: readonly (readonly [CocoKeypointName, CocoKeypointName])[] = [
  ['nose', 'left_eye'],
  ['nose', 'right_eye'],
  ['left_eye', 'right_eye'],
  ['left_eye', 'left_ear'],
  ['right_eye', 'right_ear'],
  ['left_ear', 'left_shoulder'],
  ['right_ear', 'right_shoulder'],
  ['left_shoulder', 'right_shoulder'],
  ['left_shoulder', 'left_hip'],
  ['right_shoulder', 'right_hip'],
  ['left_hip', 'right_hip'],
  ['left_shoulder', 'left_elbow'],
  ['left_elbow', 'left_wrist'],
  ['right_shoulder', 'right_elbow'],
  ['right_elbow', 'right_wrist'],
  ['left_hip', 'left_knee'],
  ['left_knee', 'left_ankle'],
  ['right_hip', 'right_knee'],
  ['right_knee', 'right_ankle'],
];

/** Which side of the body a point or limb is on; `centre` for the nose and limbs across the body. */
export type BodySide = 'left' | 'right' | 'centre';

export interface PosePoint {
  id: number;
  x: number;
  y: number;
  confidence: number;
}

/** One person's points by COCO index (undefined: below the analyzer's threshold, not sent). */
export interface PosePerson {
  personId: number;
  points: (PosePoint | undefined)[];
}

export interface Limb {
  from: PosePoint;
  to: PosePoint;
  side: BodySide;
}

/** Colours of one person's skeleton, as CSS colours. */
export interface PersonColors {
  left: string;
  right: string;
  centre: string;
}

type Rgb = readonly [number, number, number];
/** Base colours of persons, by id modulo its length: apart from the synthetic scene's red, green and
 *  blue objects and from the other overlays' colours. */
const PERSON_PALETTE: readonly Rgb[] = [
  [255, 90, 200],
  [0, 215, 215],
  [255, 150, 0],
  [160, 110, 255],
  [150, 230, 40],
  [255, 90, 90],
];
/** The left side is the base colour mixed with this much white (the right side is the base). */
const LEFT_TINT = 0.5;
const CENTRE_TINT = 0.25;

/** True when `pointNames` holds the 17 COCO names with their COCO indices as values (the pose
 *  analyzer's definition; other names may be there too). Other KeyPoints results name full ids. */
export function isCocoPose(pointNames: Readonly<Record<string, number>>): boolean {
  return COCO_KEYPOINT_NAMES.every((name, k) => pointNames[name] === k);
}

/** The side of COCO point `k`. */
export function sideOfPoint(k: number): BodySide {
  const name = COCO_KEYPOINT_NAMES[k];
  return name.startsWith('left_') ? 'left' : name.startsWith('right_') ? 'right' : 'centre';
}

const LIMB_INDICES = COCO_LIMBS.map(([a, b]) => {
  const from = COCO_KEYPOINT_NAMES.indexOf(a);
  const to = COCO_KEYPOINT_NAMES.indexOf(b);
  const sides = new Set([sideOfPoint(from), sideOfPoint(to)]);
  sides.delete('centre');
  // A limb is on a side when its ends are on that side or the nose; else it crosses the body.
  const side: BodySide = sides.size === 1 ? [...sides][0] : 'centre';
  return { from, to, side };
});

/** Points grouped by person (floor(id / 17)), in ascending person id; of two points with one id,
 *  the more confident. */
export function groupByPerson(points: readonly PosePoint[]): PosePerson[] {
  const persons = new Map<number, PosePerson>();
  for (const p of points) {
    const personId = Math.floor(p.id / COCO_POINTS_PER_PERSON);
    const k = p.id % COCO_POINTS_PER_PERSON;
    let person = persons.get(personId);
    if (person === undefined) {
      person = { personId, points: new Array<PosePoint | undefined>(COCO_POINTS_PER_PERSON).fill(undefined) };
      persons.set(personId, person);
    }
    const held = person.points[k];
    if (held === undefined || p.confidence > held.confidence) person.points[k] = p;
  }
  return [...persons.values()].sort((a, b) => a.personId - b.personId);
}

/** The limbs of `person` whose two ends are both present, in COCO_LIMBS order. */
export function limbsOf(person: PosePerson): Limb[] {
  const limbs: Limb[] = [];
  for (const { from, to, side } of LIMB_INDICES) {
    const a = person.points[from];
    const b = person.points[to];
    if (a !== undefined && b !== undefined) limbs.push({ from: a, to: b, side });
  }
  return limbs;
}

const css = ([r, g, b]: Rgb): string => `rgb(${r},${g},${b})`;
const tint = (c: Rgb, amount: number): Rgb => c.map((v) => Math.round(v + (255 - v) * amount)) as unknown as Rgb;

/** The colours of person `personId`: the same for the same id on every frame. */
export function personColors(personId: number): PersonColors {
  const base = PERSON_PALETTE[personId % PERSON_PALETTE.length];
  return { left: css(tint(base, LEFT_TINT)), right: css(base), centre: css(tint(base, CENTRE_TINT)) };
}

/** What hovering over a pose point shows: `person 2 left_wrist 0.83`. */
export function posePointText(personId: number, k: number, confidence: number): string {
  return `person ${personId} ${COCO_KEYPOINT_NAMES[k]} ${confidence.toFixed(2)}`;
}
