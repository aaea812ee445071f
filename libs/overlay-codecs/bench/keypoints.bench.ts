// KeyPoints codec benchmark: frames/s to encode and decode 17-point skeletons that move like a
// tracked person (master interval 300), bytes per frame against JSON, heap bytes per frame.
// JSON.stringify / JSON.parse (with UTF-8 conversion, as a wire needs bytes) is the speed anchor.
import { resultsTable, runCases, writeSection } from '@framewire/bench';
import { KeyPointsDecoder, KeyPointsEncoder } from '../src';

const POINTS = 17; // COCO skeleton
const FRAMES = 3000; // ten master intervals
const MASTER_INTERVAL = 300;
const WIDTH = 1280;
const HEIGHT = 720;
// A point drops out (occluded) with this chance per frame and stays out a few frames.
const DROPOUT_CHANCE = 0.01;
const DROPOUT_FRAMES = 6;
const ALLOCATION_SAMPLE_FRAMES = 1000;

// Deterministic PRNG (mulberry32): the same data on every run.
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Offsets of the 17 COCO keypoints from the hip centre of a standing person, in pixels.
const SKELETON = [
  [0, -160], [-8, -168], [8, -168], [-18, -164], [18, -164], [-40, -120], [40, -120], [-55, -60],
  [55, -60], [-60, -5], [60, -5], [-22, 0], [22, 0], [-25, 90], [25, 90], [-28, 175], [28, 175],
];

interface Frame {
  count: number;
  ids: Int32Array;
  xs: Int32Array;
  ys: Int32Array;
  confidences: Float64Array;
}

/** A person walking across the image and back, swaying; points jitter by a pixel or two. */
function generateFrames(): Frame[] {
  const rand = random(20);
  const hiddenUntil = new Int32Array(POINTS);
  const confidence = new Float64Array(POINTS).map(() => 0.7 + rand() * 0.29);
  const frames: Frame[] = [];
  for (let k = 0; k < FRAMES; k++) {
    const t = k / 30;
    const cx = WIDTH / 2 + Math.sin(t / 4) * 400;
    const cy = HEIGHT / 2 + Math.sin(t * 2) * 6;
    const frame: Frame = {
      count: 0,
      ids: new Int32Array(POINTS),
      xs: new Int32Array(POINTS),
      ys: new Int32Array(POINTS),
      confidences: new Float64Array(POINTS),
    };
    for (let id = 0; id < POINTS; id++) {
      if (hiddenUntil[id] > k) continue;
      if (rand() < DROPOUT_CHANCE) {
        hiddenUntil[id] = k + DROPOUT_FRAMES;
        continue;
      }
      const limbSwing = id >= 13 ? Math.sin(t * 6 + id) * 12 : 0;
      confidence[id] = Math.min(0.99, Math.max(0.3, confidence[id] + (rand() - 0.5) * 0.02));
      const i = frame.count++;
      frame.ids[i] = id;
      frame.xs[i] = Math.round(cx + SKELETON[id][0] + limbSwing + (rand() - 0.5) * 3);
      frame.ys[i] = Math.round(cy + SKELETON[id][1] + (rand() - 0.5) * 3);
      frame.confidences[i] = confidence[id];
    }
    frames.push(frame);
  }
  return frames;
}

function encodeFrame(encoder: KeyPointsEncoder, k: number, f: Frame): Uint8Array {
  encoder.beginFrame(k);
  for (let i = 0; i < f.count; i++) encoder.add(f.ids[i], f.xs[i], f.ys[i], f.confidences[i]);
  return encoder.finishFrame();
}

function toJsonObject(k: number, f: Frame): object {
  const keypoints = [];
  for (let i = 0; i < f.count; i++) {
    keypoints.push({ id: f.ids[i], x: f.xs[i], y: f.ys[i], confidence: f.confidences[i] });
  }
  return { frameId: k, keypoints };
}

function average(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Heap growth per frame over a sample small enough to stay within the young generation. */
function heapBytesPerFrame(run: (k: number) => unknown): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return NaN;
  const samples: number[] = [];
  for (let repeat = 0; repeat < 3; repeat++) {
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let k = 0; k < ALLOCATION_SAMPLE_FRAMES; k++) run(k);
    samples.push((process.memoryUsage().heapUsed - before) / ALLOCATION_SAMPLE_FRAMES);
  }
  return samples.sort((a, b) => a - b)[1];
}

async function main(): Promise<void> {
  const frames = generateFrames();
  const encoder = new KeyPointsEncoder({ masterInterval: MASTER_INTERVAL });
  const payloads = frames.map((f, k) => encodeFrame(encoder, k, f).slice());
  const jsonObjects = frames.map((f, k) => toJsonObject(k, f));
  const utf8 = new TextEncoder();
  const utf8Decoder = new TextDecoder();
  const jsonPayloads = jsonObjects.map((o) => utf8.encode(JSON.stringify(o)));

  // Sanity: what the benchmark decodes is what it encoded.
  const check = new KeyPointsDecoder();
  payloads.forEach((p, k) => {
    const decoded = check.decode(p);
    if (decoded.keypoints.length !== frames[k].count || decoded.keypoints[0]?.x !== frames[k].xs[0]) {
      throw new Error(`frame ${k} did not round-trip`);
    }
  });

  const masterBytes = payloads.filter((_, k) => k % MASTER_INTERVAL === 0).map((p) => p.length);
  const deltaBytes = payloads.filter((_, k) => k % MASTER_INTERVAL !== 0).map((p) => p.length);
  const allBytes = average(payloads.map((p) => p.length));
  const jsonBytes = average(jsonPayloads.map((p) => p.length));
  const averagePoints = average(frames.map((f) => f.count));

  const benchEncoder = new KeyPointsEncoder({ masterInterval: MASTER_INTERVAL });
  const benchDecoder = new KeyPointsDecoder();
  let sink = 0; // keeps results alive so that no work is optimised away
  const results = await runCases([
    {
      name: 'keypoints encode',
      opsPerCall: FRAMES,
      bytesPerOp: allBytes,
      fn: () => {
        for (let k = 0; k < FRAMES; k++) sink += encodeFrame(benchEncoder, k, frames[k]).length;
      },
    },
    {
      name: 'JSON encode',
      opsPerCall: FRAMES,
      bytesPerOp: jsonBytes,
      fn: () => {
        for (let k = 0; k < FRAMES; k++) sink += utf8.encode(JSON.stringify(jsonObjects[k])).length;
      },
    },
    {
      name: 'keypoints decode',
      opsPerCall: FRAMES,
      bytesPerOp: allBytes,
      fn: () => {
        for (let k = 0; k < FRAMES; k++) sink += benchDecoder.decode(payloads[k]).keypoints.length;
      },
    },
    {
      name: 'JSON decode',
      opsPerCall: FRAMES,
      bytesPerOp: jsonBytes,
      fn: () => {
        for (let k = 0; k < FRAMES; k++) {
          sink += (JSON.parse(utf8Decoder.decode(jsonPayloads[k])) as { keypoints: unknown[] }).keypoints.length;
        }
      },
    },
  ]);
  if (sink < 0) console.log(sink);

  const allocationEncoder = new KeyPointsEncoder({ masterInterval: MASTER_INTERVAL });
  const allocationDecoder = new KeyPointsDecoder();
  const encodeHeap = heapBytesPerFrame((k) => encodeFrame(allocationEncoder, k, frames[k]));
  const decodeHeap = heapBytesPerFrame((k) => allocationDecoder.decode(payloads[k]));
  const heap = (n: number) => (Number.isNaN(n) ? 'n/a (run with --expose-gc)' : `${Math.max(0, n).toFixed(0)} B`);

  const body = [
    `${FRAMES} frames of a ${POINTS}-point skeleton (${averagePoints.toFixed(1)} visible on average: points drop out ` +
      `for ${DROPOUT_FRAMES} frames at a time) walking across a ${WIDTH}x${HEIGHT} image with a pixel or two of ` +
      `jitter; master interval ${MASTER_INTERVAL}. ops/s are frames/s; JSON is JSON.stringify / JSON.parse of the ` +
      'plain frame object plus its UTF-8 conversion.',
    '',
    '### Encode',
    '',
    resultsTable(results.filter((r) => r.name.endsWith('encode')), 'JSON encode'),
    '',
    '### Decode (absolute keypoint objects out)',
    '',
    resultsTable(results.filter((r) => r.name.endsWith('decode')), 'JSON decode'),
    '',
    '### Bytes per frame',
    '',
    '| payload | bytes (mean) |',
    '|---|---:|',
    `| master | ${average(masterBytes).toFixed(1)} |`,
    `| delta | ${average(deltaBytes).toFixed(1)} |`,
    `| all frames | ${allBytes.toFixed(1)} |`,
    `| JSON | ${jsonBytes.toFixed(1)} |`,
    '',
    `### Heap growth per frame (${ALLOCATION_SAMPLE_FRAMES} frames after a GC)`,
    '',
    '| path | bytes/frame |',
    '|---|---:|',
    `| encode (reused buffers, view returned) | ${heap(encodeHeap)} |`,
    `| decode (frame, array and one object per keypoint returned) | ${heap(decodeHeap)} |`,
  ].join('\n');
  writeSection('20-keypoints', 'KeyPoints codec', body);
}

void main();
