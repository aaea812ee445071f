// Cutting a torn tail off a .bin before a writer appends to it: appended frames must never follow
// torn bytes, or every reader would see corruption in the middle of the file.
import { open, stat } from 'node:fs/promises';
import { ProtocolDecodeError } from '@framewire/overlay-codecs';
import { InvalidPayloadError } from './errors';
import { loadIndex } from './index-file';
import { segmentFiles } from './naming';
import { createPayloadDecoder } from './payload-decoder';
import { inspectPayload } from './protocols';
import { ScanOutcome, ScannedFrame, TornTail, scanFrames } from './scan';
import { LayoutOptions, SegmentLayout, resolveLayout } from './layout';

/**
 * Finds where the complete frames of `binPath` end and truncates the file there (then fsyncs it).
 * Returns the torn tail that was cut off, or undefined when the file ended cleanly. Scans from the
 * index's last checkpoint when there is a usable one (those bytes were synced before the checkpoint
 * was written), else from the start. Throws ArchiveCorruptError for corruption before the tail:
 * that is not a crash artefact, and cutting it off would lose good frames.
 */
export async function repairSegment(binPath: string, layout: SegmentLayout): Promise<TornTail | undefined> {
  const size = (await stat(binPath)).size;
  const load = await loadIndex(segmentFiles(binPath).index);
  const startOffset = load.status === 'loaded' && load.index.framing === layout.framing && load.index.covered.bytes <= size
    ? load.index.covered.bytes
    : 0;

  const outcome: ScanOutcome = { end: startOffset, tornTail: undefined };
  let last: ScannedFrame | undefined;
  const scan = scanFrames(binPath, { framing: layout.framing, maxFrameBytes: layout.maxFrameBytes, startOffset }, outcome);
  for await (const frame of scan) last = frame;

  let tornTail = outcome.tornTail;
  if (tornTail === undefined && last !== undefined && !decodes(layout, last)) {
    const frameBytes = last.end - last.offset;
    tornTail = { reason: 'undecodable-tail', offset: last.offset, expected: frameBytes, available: frameBytes };
  }
  if (tornTail === undefined) return undefined;

  const file = await open(binPath, 'r+');
  try {
    await file.truncate(tornTail.offset);
    await file.sync();
  } finally {
    await file.close();
  }
  return tornTail;
}

/** Whether the payload of the last frame decodes; a keypoints delta decodes against an empty state
 *  (formats.md §2), which is enough to tell a payload from garbage. */
function decodes(layout: SegmentLayout, frame: ScannedFrame): boolean {
  try {
    inspectPayload(layout.protocol, frame.payload);
    createPayloadDecoder(layout.protocol).decode(frame.payload, frame.offset);
    return true;
  } catch (error) {
    if (error instanceof InvalidPayloadError || error instanceof ProtocolDecodeError) return false;
    throw error;
  }
}

/** Public form of repairSegment: reads the layout from the .fw.json (or `options`). For a writer's
 *  own use after a crash, and for `fw archive repair`. */
export async function repairTornTail(binPath: string, options: LayoutOptions = {}): Promise<TornTail | undefined> {
  const { layout } = await resolveLayout(binPath, options);
  return repairSegment(binPath, layout);
}
