// Test support: frames in the JSON shapes of `fw archive cat --json`, written so that a round trip
// through the binary formats must give them back unchanged.

const CONFIDENCE_RAW_MAX = 0xffff;
/** Above Number.MAX_SAFE_INTEGER: JSON carries it as a decimal string. */
export const LARGE_FRAME_ID = '18446744073709551615';

export interface KeyPointJson {
  id: number;
  x: number;
  y: number;
  confidence: number;
  confidenceRaw: number;
}

export interface KeyPointsFrameJson {
  frameId: number | string;
  type: 'master' | 'delta';
  keypoints: KeyPointJson[];
}

function keypoint(id: number, x: number, y: number, confidenceRaw: number): KeyPointJson {
  return { id, x, y, confidence: confidenceRaw / CONFIDENCE_RAW_MAX, confidenceRaw };
}

/**
 * `count` keypoints frames as a sink with master interval `masterInterval` writes them: frame k is
 * a master when k % interval == 0. Point 1 disappears on every 4th frame and comes back after (a
 * reappearing point is written absolute in a delta), coordinates go negative, and the last frame
 * id is above 2^53.
 */
export function keypointsFrames(count: number, masterInterval: number): KeyPointsFrameJson[] {
  const frames: KeyPointsFrameJson[] = [];
  for (let k = 0; k < count; k++) {
    const keypoints = [keypoint(0, 100 + k * 7, 50 - k * 13, (k * 4099) % (CONFIDENCE_RAW_MAX + 1))];
    if (k % 4 !== 3) keypoints.push(keypoint(1, -2_000_000 + k, 2_000_000 - k, CONFIDENCE_RAW_MAX - k));
    keypoints.push(keypoint(17 + (k % 2), k * k, 1 - k, k === 0 ? 0 : 1));
    frames.push({
      frameId: k === count - 1 ? LARGE_FRAME_ID : 1000 + k * 2,
      type: k % masterInterval === 0 ? 'master' : 'delta',
      keypoints,
    });
  }
  return frames;
}

export const SEGMENTATION_FRAMES = [
  {
    frameId: 1,
    width: 1920,
    height: 1080,
    instances: [
      { classId: 3, instanceId: 0, confidence: 32768 / CONFIDENCE_RAW_MAX, confidenceRaw: 32768, points: [[10, 20], [-30, 40], [2_000_000_000, -2_000_000_000]] },
      { classId: 255, instanceId: 255, confidence: 1, confidenceRaw: CONFIDENCE_RAW_MAX, points: [] },
    ],
  },
  { frameId: 2, width: 640, height: 480, instances: [] },
  {
    frameId: LARGE_FRAME_ID,
    width: 1,
    height: 1,
    instances: [{ classId: 0, instanceId: 1, confidence: 0, confidenceRaw: 0, points: [[0, 0]] }],
  },
];

export const STAGE_FRAMES = [
  {
    frameId: 7,
    layers: [
      {
        layerId: 2,
        type: 'master',
        ops: [
          {
            op: 'setContext',
            properties: [
              { property: 'stroke', color: { r: 255, g: 0, b: 0, a: 255 } },
              { property: 'thickness', value: 3 },
              { property: 'rotation', degrees: 45 },
            ],
          },
          { op: 'polygon', points: [0, 0, 10, 0, 10, -10] },
          { op: 'text', x: 5, y: 6, text: 'person 0.93' },
          { op: 'circle', cx: 1, cy: 2, radius: 3 },
          { op: 'jpeg', x: 1, y: 2, width: 3, height: 4, data: '/9j/2wBDAA==' },
          { op: 'save' },
          { op: 'restore' },
        ],
      },
      { layerId: 0, type: 'remain' },
      { layerId: 1, type: 'clear' },
    ],
  },
  { frameId: 8, layers: [] },
];

export const RESULT_FRAMES = [
  {
    streamId: 'cam-1',
    frameSequence: 1,
    captureTimeUs: 1_700_000_000_000_000,
    workerId: 'pose-1',
    processingUs: 1200,
    keypoints: { points: [{ id: 1, x: 2, y: 3, confidence: 0.5 }], pointNames: { nose: 1 } },
  },
  {
    streamId: 'cam-1',
    frameSequence: 2,
    captureTimeUs: 1_700_000_000_033_000,
    workerId: 'seg-1',
    segmentation: { width: 640, height: 480, instances: [{ classId: 1, instanceId: 2, confidence: 0.25, points: [1, 2, 3, 4] }] },
  },
];
