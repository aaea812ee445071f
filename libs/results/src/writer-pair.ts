// The writers of one recorded archive as a pair: for keypoints and segmentation the RW archive and
// its envelope archive, opened with the same segment sequence number, rotated and closed together;
// for the other kinds the protobuf archive alone.
import { ArchiveWriter, DurabilityPolicy, RotationPolicy, parseSegmentFileName } from '@framewire/archive';
import { encodedFrameLength } from '@framewire/framing';
import { KeyPointsEncoder, SegmentationEncoder } from '@framewire/overlay-codecs';
import { Result, ResultKind } from '@framewire/proto';
import { PointNameBook } from './envelope';
import { isRwKind, resultArchiveBaseName, rwArchiveBaseName } from './layout';

/** Keypoints master interval of the RW archives (formats.md §2 default). */
export const RECORDER_KEYPOINTS_MASTER_INTERVAL = 300;
/** Empty segments opened to bring an RW archive and its envelope to the same sequence number. */
const MAX_SEQ_ALIGN_STEPS = 1000;

/** The open writers of one archive: the protobuf one, and the RW one for keypoints and segmentation.
 *  They rotate together and always hold the same segment sequence number and frame count. */
export interface WriterPair {
  results: ArchiveWriter;
  rw: ArchiveWriter | undefined;
  keypoints: KeyPointsEncoder | undefined;
  segmentation: SegmentationEncoder | undefined;
  createdAtMs: number;
  /** Keypoints: the point names of this segment's RW sidecar. */
  book: PointNameBook;
}

/** Where a pair is written: one (stream, worker, kind) archive. */
export interface PairTarget {
  /** `<stream>/<worker>/<archive>`, for messages. */
  key: string;
  streamId: string;
  workerId: string;
  kind: ResultKind;
  directory: string;
}

/** Opens the writers of a new segment; for RW kinds both archives get the same sequence number. */
export async function openWriterPair(target: PairTarget, durability: DurabilityPolicy, clock: () => number): Promise<WriterPair> {
  const { kind, directory, streamId, workerId } = target;
  const openResults = (): Promise<ArchiveWriter> =>
    ArchiveWriter.open({ directory, baseName: resultArchiveBaseName(kind), streamId, protocol: 'result', durability, clock });
  const openRw = (): Promise<ArchiveWriter> =>
    ArchiveWriter.open({
      directory,
      baseName: rwArchiveBaseName(kind),
      streamId,
      protocol: kind === ResultKind.RESULT_KIND_KEYPOINTS ? 'keypoints' : 'segmentation',
      durability,
      clock,
      computeModuleName: kind === ResultKind.RESULT_KIND_KEYPOINTS ? workerId : undefined,
    });
  let results = await openResults();
  let rw: ArchiveWriter | undefined;
  if (isRwKind(kind)) {
    try {
      rw = await openRw();
      // A crash between opening the two may have left one archive a segment ahead: open empty
      // segments on the other until both have the same number, which is how replay pairs them.
      for (let step = 0; seqOf(rw) !== seqOf(results); step++) {
        if (step === MAX_SEQ_ALIGN_STEPS) throw new Error(`cannot align segment numbers of ${target.key}: ${rw.segmentPath} vs ${results.segmentPath}`);
        if (seqOf(rw) < seqOf(results)) {
          await rw.close();
          rw = await openRw();
        } else {
          await results.close();
          results = await openResults();
        }
      }
    } catch (error) {
      await results.close().catch(() => undefined);
      await rw?.close().catch(() => undefined);
      throw error;
    }
  }
  return {
    results,
    rw,
    keypoints: kind === ResultKind.RESULT_KIND_KEYPOINTS ? new KeyPointsEncoder({ masterInterval: RECORDER_KEYPOINTS_MASTER_INTERVAL }) : undefined,
    segmentation: kind === ResultKind.RESULT_KIND_SEGMENTATION ? new SegmentationEncoder() : undefined,
    createdAtMs: clock(),
    book: new PointNameBook(),
  };
}

/** Closes both writers (syncing them); rejects with the first failure after both are closed. */
export async function closeWriterPair(pair: WriterPair): Promise<void> {
  const results = await Promise.allSettled([pair.rw?.close(), pair.results.close()]);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** Whether the next frame (`resultBytes` for the protobuf archive, `rwBytes` for the RW one) starts
 *  a new segment of both: the segment is old enough, or either archive would cross the size limit. */
export function pairRotationDue(pair: WriterPair, rotation: RotationPolicy, now: number, resultBytes: number, rwBytes: number): boolean {
  if (pair.results.segmentFrames === 0) return false;
  const { maxSegmentBytes, maxSegmentAgeMs } = rotation;
  if (maxSegmentAgeMs !== undefined && now - pair.createdAtMs >= maxSegmentAgeMs) return true;
  if (maxSegmentBytes === undefined) return false;
  if (pair.results.bytesWritten + encodedFrameLength(resultBytes, 'varint') > maxSegmentBytes) return true;
  return pair.rw !== undefined && pair.rw.bytesWritten + encodedFrameLength(rwBytes, 'varint') > maxSegmentBytes;
}

/** The RW payload of a keypoints or segmentation result, from the pair's encoder. */
export function encodeRw(pair: WriterPair, result: Result, kind: ResultKind): Uint8Array {
  if (kind === ResultKind.RESULT_KIND_KEYPOINTS) {
    const encoder = pair.keypoints as KeyPointsEncoder;
    encoder.beginFrame(result.frameSequence);
    for (const p of result.keypoints?.points ?? []) encoder.add(p.id, p.x, p.y, p.confidence);
    return encoder.finishFrame();
  }
  const encoder = pair.segmentation as SegmentationEncoder;
  const s = result.segmentation;
  encoder.beginFrame(result.frameSequence, s?.width ?? 0, s?.height ?? 0);
  for (const i of s?.instances ?? []) encoder.addInstance(i.classId, i.instanceId, i.confidence, i.points);
  return encoder.finishFrame();
}

function seqOf(writer: ArchiveWriter): number {
  return parseSegmentFileName(writer.segmentPath)?.seq ?? -1;
}
