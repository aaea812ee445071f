// The JSON shapes of `fw archive cat` and `convert`, one per protocol, in both directions: decoded
// payloads to plain JSON values, and JSON values into the protocol sinks. The codecs themselves are
// @framewire/overlay-codecs's and @framewire/proto's; this module only maps shapes.
import type { FrameSink } from '@framewire/framing';
import type { ArchiveFrame } from '@framewire/archive';
import {
  CONFIDENCE_RAW_MAX,
  KeyPointsFrame,
  KeyPointsSink,
  SegmentationFrame,
  SegmentationSink,
  StageMessage,
  StageOp,
  confidenceFromRaw,
} from '@framewire/overlay-codecs';
import type { ProtocolName } from './archive-options';
import { frameIdFromJson, frameIdToJson } from './frame-id';
import { JsonShapeError, expectArray, expectNumber, expectObject } from './json-shape';
import { StageJsonSink } from './stage-json';

/** One frame ready to print: its id (for --from/--to), its value as plain JSON (no bigint, no typed
 *  array: JSON.stringify writes it as is), and a short text for humans. */
export interface PrintableFrame {
  frameId: bigint;
  json: unknown;
  summary: string;
}

/** Maps frames read by @framewire/archive (decoded by @framewire/overlay-codecs) to the JSON shapes.
 *  `result` payloads, which the archive leaves undecoded, are decoded here with
 *  framewire.v1.Result; one that does not decode throws UndecodableResultError naming its offset. */
export function createFrameFormatter(protocol: ProtocolName): (frame: ArchiveFrame) => PrintableFrame {
  switch (protocol) {
    case 'keypoints':
      return (frame) => {
        const { frameId, type, keypoints } = frame.decoded as KeyPointsFrame;
        return {
          frameId,
          json: { frameId: frameIdToJson(frameId), type, keypoints },
          summary: `${type}, ${keypoints.length} keypoints`,
        };
      };
    case 'segmentation':
      return (frame) => {
        const { frameId, width, height, instances } = frame.decoded as SegmentationFrame;
        const jsonInstances = instances.map((instance) => ({
          classId: instance.classId,
          instanceId: instance.instanceId,
          confidence: instance.confidence,
          confidenceRaw: instance.confidenceRaw,
          points: toPointPairs(instance.points),
        }));
        return {
          frameId,
          json: { frameId: frameIdToJson(frameId), width, height, instances: jsonInstances },
          summary: `${width}x${height}, ${instances.length} instances`,
        };
      };
    case 'stage':
      return (frame) => {
        const { frameId, layers } = frame.decoded as StageMessage;
        // The decoder's plain data with its binary parts in JSON form: polygon points as an array,
        // JPEG bytes as base64; the stream offset is left out (a property of the file, not the frame).
        const jsonLayers = layers.map((layer) => (layer.type === 'master' ? { ...layer, ops: layer.ops.map(stageOpToJson) } : layer));
        return { frameId, json: { frameId: frameIdToJson(frameId), layers: jsonLayers }, summary: `${layers.length} layers` };
      };
    case 'result':
      return (frame) => loadResultCodec().decodeResult(frame.payload, frame.offset);
  }
}

/** The Result codec, loaded on first use (see result-json.ts for why). */
export function loadResultCodec(): typeof import('./result-json') {
  // A relative require: it needs no path-alias rewriting in the build, and resolves in dist/.
  return require('./result-json');
}

function stageOpToJson(op: StageOp): unknown {
  if (op.op === 'polygon') return { ...op, points: Array.from(op.points) };
  if (op.op === 'jpeg') return { ...op, data: Buffer.from(op.data.buffer, op.data.byteOffset, op.data.byteLength).toString('base64') };
  return op;
}

function toPointPairs(flat: Int32Array): Array<[number, number]> {
  const pairs = new Array<[number, number]>(flat.length >> 1);
  for (let i = 0; i < pairs.length; i++) pairs[i] = [flat[2 * i], flat[2 * i + 1]];
  return pairs;
}

/** Writes frames given as JSON values through a protocol sink; returns each frame's id. */
export interface JsonFrameWriter {
  write(value: unknown): Promise<bigint>;
  /** Flushes and closes the sink and its FrameSink. */
  close(): Promise<void>;
}

export interface JsonFrameWriterOptions {
  masterInterval: number;
}

export function createJsonFrameWriter(protocol: ProtocolName, frameSink: FrameSink, options: JsonFrameWriterOptions): JsonFrameWriter {
  switch (protocol) {
    case 'keypoints': {
      const sink = new KeyPointsSink(frameSink, { masterInterval: options.masterInterval });
      return {
        async write(value) {
          const frame = expectObject(value, 'a keypoints frame');
          const frameId = readFrameId(frame);
          const keypoints = expectArray(frame.keypoints, 'keypoints');
          // Master or delta is the sink's decision (its frame counter); a "type" in the input is
          // what an earlier writer decided and is not carried over.
          const writer = sink.beginFrame(frameId);
          keypoints.forEach((item, i) => {
            const kp = expectObject(item, `keypoints[${i}]`);
            writer.add(
              expectNumber(kp.id, `keypoints[${i}].id`),
              expectNumber(kp.x, `keypoints[${i}].x`),
              expectNumber(kp.y, `keypoints[${i}].y`),
              readConfidence(kp, `keypoints[${i}]`),
            );
          });
          await writer.commit();
          return frameId;
        },
        close: () => sink.close(),
      };
    }
    case 'segmentation': {
      const sink = new SegmentationSink(frameSink);
      return {
        async write(value) {
          const frame = expectObject(value, 'a segmentation frame');
          const frameId = readFrameId(frame);
          const writer = sink.beginFrame(frameId, expectNumber(frame.width, 'width'), expectNumber(frame.height, 'height'));
          expectArray(frame.instances, 'instances').forEach((item, i) => {
            const instance = expectObject(item, `instances[${i}]`);
            writer.addInstance(
              expectNumber(instance.classId, `instances[${i}].classId`),
              expectNumber(instance.instanceId, `instances[${i}].instanceId`),
              readConfidence(instance, `instances[${i}]`),
              readPointPairs(instance.points, `instances[${i}].points`),
            );
          });
          await writer.commit();
          return frameId;
        },
        close: () => sink.close(),
      };
    }
    case 'stage': {
      const sink = new StageJsonSink(frameSink);
      return {
        async write(value) {
          const frame = expectObject(value, 'a stage message');
          const frameId = readFrameId(frame);
          await sink.write(frameId, frame);
          return frameId;
        },
        close: () => sink.close(),
      };
    }
    case 'result': {
      const codec = loadResultCodec();
      return {
        async write(value) {
          const { payload, frameId } = codec.encodeResultJson(expectObject(value, 'a framewire.v1.Result'));
          await frameSink.write(payload);
          return frameId;
        },
        close: () => frameSink.close(),
      };
    }
  }
}

function readFrameId(frame: Record<string, unknown>): bigint {
  const frameId = frameIdFromJson(frame.frameId);
  if (typeof frameId === 'string') throw new JsonShapeError(frameId);
  return frameId;
}

/** confidenceRaw, when present, wins: raw / 65535 encodes back to exactly raw, so a file read and
 *  written again keeps its bytes even where a rounded `confidence` would not. */
function readConfidence(item: Record<string, unknown>, where: string): number {
  if (item.confidenceRaw !== undefined) {
    const raw = item.confidenceRaw;
    if (!(Number.isInteger(raw) && (raw as number) >= 0 && (raw as number) <= CONFIDENCE_RAW_MAX)) {
      throw new JsonShapeError(`${where}.confidenceRaw ${JSON.stringify(raw)} is not an integer from 0 to ${CONFIDENCE_RAW_MAX}`);
    }
    return confidenceFromRaw(raw as number);
  }
  return expectNumber(item.confidence, `${where}.confidence`);
}

function readPointPairs(value: unknown, where: string): number[] {
  const pairs = expectArray(value, where);
  const flat = new Array<number>(pairs.length * 2);
  pairs.forEach((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'number' || typeof pair[1] !== 'number') {
      throw new JsonShapeError(`${where}[${i}] must be a pair [x, y] of numbers`);
    }
    flat[2 * i] = pair[0];
    flat[2 * i + 1] = pair[1];
  });
  return flat;
}
