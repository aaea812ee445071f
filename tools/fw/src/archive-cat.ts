// `fw archive cat FILE`: the frames of an archive, decoded, one line each (JSON with --json).
import { ArchiveFile, describeTornTail, forEachFrame, openArchiveFile } from './archive-file';
import { FormatOptions } from './archive-options';
import { CliError, toCliError } from './cli-error';
import { frameIdToJson } from './frame-id';
import { createFrameFormatter } from './frame-json';
import { LineWriter } from './json-lines';
import { startByteProgress } from './progress';

export interface CatOptions extends FormatOptions {
  from?: bigint;
  to?: bigint;
  json?: boolean;
}

export async function runArchiveCat(path: string, options: CatOptions): Promise<number> {
  if (options.from !== undefined && options.to !== undefined && options.from > options.to) {
    throw new CliError('', `--from ${options.from} is above --to ${options.to}: no frame can match`);
  }
  let file: ArchiveFile;
  try {
    file = await openArchiveFile(path, options);
  } catch (error) {
    throw toCliError(error, path);
  }
  await printFrames(file, new LineWriter(process.stdout), options);
  return 0;
}

/**
 * Writes the frames of `file` whose id is within from..to to `out` (shared with convert). Frame
 * ids need not increase through a file, so the range is a filter over every frame, not a seek.
 * A torn tail ends the output with a warning (the frames before it are sound, and the archive
 * keeps them); corruption is an error, after the frames before it.
 */
export async function printFrames(file: ArchiveFile, out: LineWriter, options: CatOptions): Promise<void> {
  const { from, to, json } = options;
  const format = createFrameFormatter(file.protocol);
  const progress = startByteProgress(file.path, file.sizeBytes);
  try {
    const { tornTail } = await forEachFrame(file, async (frame, end) => {
      progress.update(end);
      if ((from !== undefined && frame.frameId < from) || (to !== undefined && frame.frameId > to)) return;
      const printable = format(frame);
      await out.write(
        json ? JSON.stringify(printable.json) : `frame ${frameIdToJson(printable.frameId)} at offset ${frame.offset}: ${printable.summary}`,
      );
    });
    progress.stop();
    if (tornTail !== undefined) {
      process.stderr.write(
        `fw: warning: ${file.path}: torn tail: ${describeTornTail(tornTail)} at offset ${tornTail.offset}; the frames before it are complete\n`,
      );
    }
  } catch (error) {
    progress.stop();
    throw toCliError(error, file.path);
  }
}
