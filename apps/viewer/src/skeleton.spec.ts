// COCO pose skeletons without a browser: which results are poses, points grouped by person, which
// limbs are drawn when points are missing, and the colours and hover text of a person.
import { COCO_KEYPOINT_NAMES, COCO_LIMBS, groupByPerson, isCocoPose, limbsOf, personColors, PosePoint, posePointText, sideOfPoint } from './skeleton';

/** The pose analyzer's point definition: each COCO name with its index. */
const COCO_NAMES: Record<string, number> = Object.fromEntries(COCO_KEYPOINT_NAMES.map((name, k) => [name, k]));
const k = (name: (typeof COCO_KEYPOINT_NAMES)[number]) => COCO_KEYPOINT_NAMES.indexOf(name);
/** Point `name` of person `personId`, at a position that tells it apart. */
const point = (personId: number, name: (typeof COCO_KEYPOINT_NAMES)[number], confidence = 0.9): PosePoint => ({
  id: personId * 17 + k(name),
  x: 100 * personId + k(name),
  y: 10 * k(name),
  confidence,
});
const everyPoint = (personId: number) => COCO_KEYPOINT_NAMES.map((name) => point(personId, name));
const limbNames = (points: PosePoint[]) => limbsOf(groupByPerson(points)[0]).map((l) => `${COCO_KEYPOINT_NAMES[l.from.id % 17]}-${COCO_KEYPOINT_NAMES[l.to.id % 17]}`);

describe('isCocoPose', () => {
  it('is true for the 17 COCO names with values 0..16, other names besides', () => {
    expect(isCocoPose(COCO_NAMES)).toBe(true);
    expect(isCocoPose({ ...COCO_NAMES, 'person.centre': 99 })).toBe(true);
  });

  it('is false for the keypoints analyzer\'s names, a missing name, a shifted index or no names', () => {
    expect(isCocoPose({ 't3.centroid': 24, 't3.top': 25 })).toBe(false);
    const { right_ankle: _dropped, ...sixteen } = COCO_NAMES;
    expect(isCocoPose(sixteen)).toBe(false);
    expect(isCocoPose({ ...COCO_NAMES, nose: 17 })).toBe(false); // a full id, not the COCO index
    expect(isCocoPose({ ...COCO_NAMES, left_eye: 2, right_eye: 1 })).toBe(false);
    expect(isCocoPose({})).toBe(false);
  });
});

describe('groupByPerson', () => {
  it('groups points by floor(id / 17) in ascending person id, each at its COCO index', () => {
    const persons = groupByPerson([point(3, 'left_shoulder'), point(0, 'nose'), point(3, 'right_ankle'), point(1, 'right_ankle')]);
    expect(persons.map((p) => p.personId)).toEqual([0, 1, 3]);
    expect(persons[2].points[k('left_shoulder')]).toEqual(point(3, 'left_shoulder'));
    expect(persons[2].points[k('right_ankle')]).toEqual(point(3, 'right_ankle'));
    expect(persons[2].points.filter((p) => p !== undefined)).toHaveLength(2);
    expect(persons[0].points).toHaveLength(17);
  });

  it('keeps the more confident of two points with one id', () => {
    const [person] = groupByPerson([point(0, 'nose', 0.4), point(0, 'nose', 0.8), point(0, 'nose', 0.6)]);
    expect(person.points[k('nose')]?.confidence).toBe(0.8);
  });
});

describe('limbsOf', () => {
  it('draws the 19 COCO limbs of a person with every point, each between its two ends', () => {
    const limbs = limbsOf(groupByPerson(everyPoint(2))[0]);
    expect(limbs).toHaveLength(COCO_LIMBS.length);
    expect(COCO_LIMBS).toHaveLength(19);
    expect(limbs[0]).toEqual({ from: point(2, 'nose'), to: point(2, 'left_eye'), side: 'left' });
  });

  it('leaves out exactly the limbs with a missing end', () => {
    const withoutLeftElbow = everyPoint(0).filter((p) => p.id !== k('left_elbow'));
    const names = limbNames(withoutLeftElbow);
    expect(names).toHaveLength(17);
    expect(names).not.toContain('left_shoulder-left_elbow');
    expect(names).not.toContain('left_elbow-left_wrist');
    expect(names).toContain('right_elbow-right_wrist');
    // An arm only: shoulder, elbow, wrist.
    expect(limbNames([point(0, 'right_wrist'), point(0, 'right_shoulder'), point(0, 'right_elbow')])).toEqual(['right_shoulder-right_elbow', 'right_elbow-right_wrist']);
    // Points with no partner present: no limb.
    expect(limbNames([point(0, 'nose'), point(0, 'left_ankle'), point(0, 'right_hip')])).toEqual([]);
  });

  it('never joins points of two persons', () => {
    const persons = groupByPerson([point(0, 'left_shoulder'), point(1, 'left_elbow'), point(1, 'left_wrist')]);
    expect(persons.map((p) => limbsOf(p).length)).toEqual([0, 1]);
  });

  it('puts limbs on the left, the right or across the body', () => {
    const sides = Object.fromEntries(limbsOf(groupByPerson(everyPoint(0))[0]).map((l) => [`${COCO_KEYPOINT_NAMES[l.from.id]}-${COCO_KEYPOINT_NAMES[l.to.id]}`, l.side]));
    expect(sides).toMatchObject({
      'nose-left_eye': 'left',
      'nose-right_eye': 'right',
      'left_eye-right_eye': 'centre',
      'left_shoulder-right_shoulder': 'centre',
      'left_hip-right_hip': 'centre',
      'left_knee-left_ankle': 'left',
      'right_elbow-right_wrist': 'right',
    });
    expect([sideOfPoint(k('nose')), sideOfPoint(k('left_wrist')), sideOfPoint(k('right_hip'))]).toEqual(['centre', 'left', 'right']);
  });
});

describe('personColors', () => {
  it('is the same for the same id, and tells the left side from the right', () => {
    expect(personColors(4)).toEqual(personColors(4));
    const c = personColors(0);
    expect(new Set([c.left, c.right, c.centre]).size).toBe(3);
    expect(c).toEqual({ left: 'rgb(255,173,228)', right: 'rgb(255,90,200)', centre: 'rgb(255,131,214)' });
  });

  it('gives the persons of one frame (up to 6) distinct colours', () => {
    const rights = [0, 1, 2, 3, 4, 5].map((id) => personColors(id).right);
    expect(new Set(rights).size).toBe(6);
  });
});

it('says which person and point a pose point is, with its confidence', () => {
  expect(posePointText(2, k('left_wrist'), 0.8349)).toBe('person 2 left_wrist 0.83');
});
