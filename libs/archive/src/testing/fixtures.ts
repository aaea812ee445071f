// Test support: temporary directories and payload generators for every archive protocol.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyPointsEncoder, SegmentationEncoder } from '@framewire/overlay-codecs';

/** Runs `body` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(body: (directory: string) => Promise<T>): Promise<T> {
  const directory = await mkdtemp(join(tmpdir(), 'fw-archive-'));
  try {
    return await body(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** Deterministic pseudo-random numbers (mulberry32), so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` keypoints frames with ids firstId.. encoded by the protocol library (masters every
 *  `masterInterval`), each a copy. Keypoints drift and appear/disappear so deltas are exercised. */
export function keypointsPayloads(count: number, options: { masterInterval?: number; firstId?: number; seed?: number } = {}): Uint8Array[] {
  const encoder = new KeyPointsEncoder({ masterInterval: options.masterInterval ?? 10 });
  const random = seededRandom(options.seed ?? 1);
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    encoder.beginFrame(BigInt((options.firstId ?? 0) + i));
    for (let id = 0; id < 5; id++) {
      if (random() < 0.15) continue;
      encoder.add(id, Math.round(100 * id + 3 * i + random() * 4), Math.round(50 + 2 * i), random());
    }
    payloads.push(encoder.finishFrame().slice());
  }
  return payloads;
}

/** One segmentation frame of roughly `pointCount` points. */
export function segmentationPayload(frameId: number | bigint, pointCount = 8, seed = 1): Uint8Array {
  const random = seededRandom(seed);
  const encoder = new SegmentationEncoder();
  const points: number[] = [];
  for (let i = 0; i < pointCount; i++) points.push(Math.floor(random() * 1920), Math.floor(random() * 1080));
  return encoder.encodeFrame({
    frameId: BigInt(frameId),
    width: 1920,
    height: 1080,
    instances: [{ classId: 1, instanceId: 2, confidence: 0.5, points }],
  }).slice();
}

export function segmentationPayloads(count: number, options: { firstId?: number; pointCount?: number } = {}): Uint8Array[] {
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < count; i++) payloads.push(segmentationPayload((options.firstId ?? 0) + i, options.pointCount ?? 8, i + 1));
  return payloads;
}

function varint(value: bigint, out: number[]): void {
  let v = BigInt.asUintN(64, value);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/** A framewire.v1.Result in protobuf wire format: stream_id (1), frame_sequence (2),
 *  capture_time_us (3), worker_id (4) and a stage payload (14) of `stageBytes` bytes. */
export function resultPayload(frameSequence: bigint, captureTimeUs: bigint, stageBytes = 16): Uint8Array {
  const out: number[] = [];
  const text = (field: number, value: string): void => {
    const bytes = Buffer.from(value, 'utf8');
    varint(BigInt((field << 3) | 2), out);
    varint(BigInt(bytes.length), out);
    out.push(...bytes);
  };
  text(1, 'cam-1');
  if (frameSequence !== 0n) {
    varint(BigInt((2 << 3) | 0), out);
    varint(frameSequence, out);
  }
  if (captureTimeUs !== 0n) {
    varint(BigInt((3 << 3) | 0), out);
    varint(captureTimeUs, out);
  }
  text(4, 'worker-a');
  varint(BigInt((14 << 3) | 2), out);
  varint(BigInt(stageBytes), out);
  for (let i = 0; i < stageBytes; i++) out.push(i & 0xff);
  return Uint8Array.from(out);
}
