// `fw archive info PATH…`: what each archive holds, as aligned text or one JSON object per file; a
// folder stands for every archive file under it (the gateway records into <archive>/<stream>/<worker>/).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describeTornTail, openArchiveFile } from './archive-file';
import { FormatOptions } from './archive-options';
import { ArchiveSummary, summariseArchive } from './archive-summary';
import { CliError, EXIT_FAILURE, toCliError } from './cli-error';
import { frameIdToJson } from './frame-id';
import { LineWriter } from './json-lines';

export interface InfoOptions extends FormatOptions {
  json?: boolean;
}

/** Bytes per frame are shown with this many decimals. */
const BYTES_PER_FRAME_DECIMALS = 1;
const LABEL_WIDTH = 14;
/** What the archive files a folder holds are called (beside them: .idx indexes, .json sidecars). */
const ARCHIVE_FILE_EXTENSION = '.bin';

/** The archive files `path` stands for: itself, or for a folder every `.bin` file anywhere under it,
 *  in path order (symbolic links to folders are not followed). A path that does not exist is given
 *  back as it is, for the reader to report. */
export async function archiveFilesUnder(path: string): Promise<string[]> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isDirectory()) return [path];
  const names = await readdir(path, { recursive: true });
  const files = names.filter((name) => name.endsWith(ARCHIVE_FILE_EXTENSION)).map((name) => join(path, name));
  if (files.length === 0) throw new CliError(path, `a folder with no ${ARCHIVE_FILE_EXTENSION} archive files under it`);
  return files.sort();
}

/** Reports every file, also after one fails (its error goes to stderr); resolves to a failure
 *  status when any file could not be read or is not sound. */
export async function runArchiveInfo(given: string[], options: InfoOptions): Promise<number> {
  const out = new LineWriter(process.stdout);
  let status = 0;
  const paths: string[] = [];
  // Each file gets a heading when there are several, or when a folder chose them.
  let headings = given.length > 1;
  for (const path of given) {
    try {
      const files = await archiveFilesUnder(path);
      headings ||= files.length > 1 || files[0] !== path;
      paths.push(...files);
    } catch (error) {
      process.stderr.write(`${toCliError(error, path).message}\n`);
      status = EXIT_FAILURE;
    }
  }
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
    else for (const line of infoText(summary, headings)) await out.write(line);
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
