// One pass over an archive file that decodes every frame and says what is there and how the file
// ends: the ground for `fw archive info` and `fw archive verify`. (@framewire/archive's
// verifyArchive makes the same pass; fw makes its own to draw a progress bar and to decode Result
// payloads with their schema, which the archive checks only for wire format.)
import { ArchiveError, TornTail, loadIndex, segmentFiles } from '@framewire/archive';
import { ArchiveFile, forEachFrame } from './archive-file';
import { toCliError } from './cli-error';
import { loadResultCodec } from './frame-json';
import { startByteProgress } from './progress';

const MICROS_PER_MILLI = 1000;

export interface ArchiveSummary {
  file: ArchiveFile;
  /** Complete, decodable frames before any torn tail or corruption. */
  frames: number;
  /** Keypoints master frames; undefined for other protocols. */
  masters: number | undefined;
  firstFrameId: bigint | undefined;
  lastFrameId: bigint | undefined;
  /** Unix ms of the first and last frame: a Result's capture time, else the time the writer put in
   *  the index for that very frame; undefined when neither exists (a plain RW file). */
  firstTimeMs: number | undefined;
  lastTimeMs: number | undefined;
  /** End of the last sound frame. */
  validBytes: number;
  tornTail: TornTail | undefined;
  /** The first frame that is neither sound nor a torn tail; `reason` is the one-line text. */
  corruption: { offset: number; reason: string } | undefined;
}

/** Reads all of `file`. Corruption is reported in the summary, not thrown; a file that cannot be
 *  read at all (missing, unreadable sidecar) throws. */
export async function summariseArchive(file: ArchiveFile): Promise<ArchiveSummary> {
  const isResult = file.protocol === 'result';
  const decodeResult = isResult ? loadResultCodec().decodeResult : undefined;
  const summary: ArchiveSummary = {
    file,
    frames: 0,
    masters: file.protocol === 'keypoints' ? 0 : undefined,
    firstFrameId: undefined,
    lastFrameId: undefined,
    firstTimeMs: undefined,
    lastTimeMs: undefined,
    validBytes: 0,
    tornTail: undefined,
    corruption: undefined,
  };
  const progress = startByteProgress(file.path, file.sizeBytes);
  try {
    const end = await forEachFrame(file, (frame, frameEnd) => {
      let frameId = frame.frameId;
      if (decodeResult !== undefined) {
        const message = decodeResult(frame.payload, frame.offset);
        frameId = message.frameId;
        if (message.captureTimeUs !== 0) {
          summary.firstTimeMs ??= message.captureTimeUs / MICROS_PER_MILLI;
          summary.lastTimeMs = message.captureTimeUs / MICROS_PER_MILLI;
        }
      }
      summary.frames++;
      if (summary.masters !== undefined && frame.seekPoint) summary.masters++;
      summary.firstFrameId ??= frameId;
      summary.lastFrameId = frameId;
      summary.validBytes = frameEnd;
      progress.update(frameEnd);
    });
    summary.tornTail = end.tornTail;
  } catch (error) {
    const failure = toCliError(error, file.path);
    const isCorruption = error instanceof ArchiveError ? error.code === 'ARCHIVE_CORRUPT' : failure.offset !== undefined;
    if (!isCorruption || failure.offset === undefined) throw error;
    summary.corruption = { offset: failure.offset, reason: failure.reason };
  } finally {
    progress.stop();
  }
  if (!isResult) await addIndexTimes(summary);
  return summary;
}

/** Times of the first and last frame from the index, when the writer indexed exactly those frames
 *  (it indexes frame 0 and, on a clean close, the last frame). */
async function addIndexTimes(summary: ArchiveSummary): Promise<void> {
  if (summary.frames === 0) return;
  const load = await loadIndex(segmentFiles(summary.file.path).index);
  if (load.status !== 'loaded' || load.index.protocol !== summary.file.protocol) return;
  const lastFrameNumber = summary.frames - 1;
  for (const entry of load.index.entries) {
    if (entry.timestampMs === null || entry.offset >= summary.validBytes) continue;
    if (entry.frameNumber === 0) summary.firstTimeMs = entry.timestampMs;
    if (entry.frameNumber === lastFrameNumber) summary.lastTimeMs = entry.timestampMs;
  }
}
