// `fw archive info FILE…`: what each archive holds, as aligned text or one JSON object per file.
import { describeTornTail, openArchiveFile } from './archive-file';
import { FormatOptions } from './archive-options';
import { ArchiveSummary, summariseArchive } from './archive-summary';
import { EXIT_FAILURE, toCliError } from './cli-error';
import { frameIdToJson } from './frame-id';
import { LineWriter } from './json-lines';

export interface InfoOptions extends FormatOptions {
  json?: boolean;
}

/** Bytes per frame are shown with this many decimals. */
const BYTES_PER_FRAME_DECIMALS = 1;
const LABEL_WIDTH = 14;

/** Reports every file, also after one fails (its error goes to stderr); resolves to a failure
 *  status when any file could not be read or is not sound. */
export async function runArchiveInfo(paths: string[], options: InfoOptions): Promise<number> {
  const out = new LineWriter(process.stdout);
  let status = 0;
  for (const path of paths) {
    let summary: ArchiveSummary;
    try {
      summary = await summariseArchive(await openArchiveFile(path, options));
    } catch (error) {
      process.stderr.write(`${toCliError(error, path).message}\n`);
      status = EXIT_FAILURE;
      continue;
    }
    if (summary.corruption !== undefined) status = EXIT_FAILURE;
    if (options.json) await out.write(JSON.stringify(infoJson(summary)));
    else for (const line of infoText(summary, paths.length > 1)) await out.write(line);
  }
  return status;
}

/** The machine-readable form: stable field names, null where a value is unknown. */
export function infoJson(s: ArchiveSummary): Record<string, unknown> {
  const { file } = s;
  return {
    file: file.path,
    protocol: file.protocol,
    framing: file.framing,
    formatSource: file.formatSource,
    streamId: file.metadata?.streamId ?? null,
    frames: s.frames,
    masters: s.masters ?? null,
    firstFrameId: s.firstFrameId === undefined ? null : frameIdToJson(s.firstFrameId),
    lastFrameId: s.lastFrameId === undefined ? null : frameIdToJson(s.lastFrameId),
    firstTimeMs: s.firstTimeMs ?? null,
    lastTimeMs: s.lastTimeMs ?? null,
    sizeBytes: file.sizeBytes,
    validBytes: s.validBytes,
    bytesPerFrame: bytesPerFrame(s),
    tornTail: s.tornTail === undefined ? null : { reason: s.tornTail.reason, offset: s.tornTail.offset },
    corruption: s.corruption ?? null,
  };
}

function infoText(s: ArchiveSummary, withHeading: boolean): string[] {
  const { file } = s;
  const rows: Array<[string, string]> = [
    ['protocol', `${file.protocol} (${file.formatSource === 'sidecar' ? 'from the .fw.json sidecar' : 'from --protocol'})`],
    ['framing', file.framing],
  ];
  if (file.metadata !== undefined) rows.push(['stream', file.metadata.streamId]);
  rows.push(['frames', String(s.frames)]);
  if (s.masters !== undefined) rows.push(['masters', String(s.masters)]);
  rows.push(['first frame', frameText(s.firstFrameId, s.firstTimeMs)]);
  rows.push(['last frame', frameText(s.lastFrameId, s.lastTimeMs)]);
  rows.push(['size', `${file.sizeBytes} bytes`]);
  const perFrame = bytesPerFrame(s);
  rows.push(['bytes/frame', perFrame === null ? '-' : perFrame.toFixed(BYTES_PER_FRAME_DECIMALS)]);
  if (s.tornTail !== undefined) rows.push(['torn tail', `${describeTornTail(s.tornTail)} at offset ${s.tornTail.offset}`]);
  if (s.corruption !== undefined) rows.push(['corruption', `${s.corruption.reason} at offset ${s.corruption.offset}`]);
  const lines = rows.map(([label, value]) => `${withHeading ? '  ' : ''}${label.padEnd(LABEL_WIDTH)}${value}`);
  return withHeading ? [`${file.path}:`, ...lines] : lines;
}

function frameText(frameId: bigint | undefined, timeMs: number | undefined): string {
  if (frameId === undefined) return '-';
  return timeMs === undefined ? `id ${frameId}` : `id ${frameId}, ${new Date(timeMs).toISOString()}`;
}

/** Average bytes on disk per sound frame, prefixes included; null for an empty file. */
function bytesPerFrame(s: ArchiveSummary): number | null {
  if (s.frames === 0) return null;
  const scale = 10 ** BYTES_PER_FRAME_DECIMALS;
  return Math.round((s.validBytes / s.frames) * scale) / scale;
}
