// The COCO body skeleton's point definition, as keypoints of several people carry it: the 17 COCO
// keypoints in COCO order, point k of person p has id p * 17 + k, and the RW sidecar's `points`
// (name → k) names them. Shared by the pose analyzer that writes it and the viewer that draws it.

/** The COCO keypoints in COCO order (MoveNet's output order): point k is COCO_KEYPOINT_NAMES[k]. */
export const COCO_KEYPOINT_NAMES = [
  'nose',
  'left_eye',
  'right_eye',
  'left_ear',
  'right_ear',
  'left_shoulder',
  'right_shoulder',
  'left_elbow',
  'right_elbow',
  'left_wrist',
  'right_wrist',
  'left_hip',
  'right_hip',
  'left_knee',
  'right_knee',
  'left_ankle',
  'right_ankle',
] as const;
export type CocoKeypointName = (typeof COCO_KEYPOINT_NAMES)[number];
/** Point ids per person: id = person * COCO_POINTS_PER_PERSON + k. */
export const COCO_POINTS_PER_PERSON = COCO_KEYPOINT_NAMES.length;

/** The RW sidecar's point definition of a COCO skeleton: name → k (a point with id i is named by i % 17). */
export const COCO_POINT_NAMES: Readonly<Record<CocoKeypointName, number>> = Object.freeze(
  Object.fromEntries(COCO_KEYPOINT_NAMES.map((name, k) => [name, k])) as Record<CocoKeypointName, number>,
);
