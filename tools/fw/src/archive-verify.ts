// `fw archive verify FILE`: every frame complete and decodable, or the first place where not.
import { describeTornTail, openArchiveFile } from './archive-file';
import { FormatOptions } from './archive-options';
import { summariseArchive } from './archive-summary';
import { CliError, EXIT_UNSOUND, toCliError } from './cli-error';

/** Prints `ok: N frames` and resolves to 0 for a sound file. Otherwise throws a CliError naming
 *  the offset and the reason, with exit status EXIT_UNSOUND (a missing file or a bad option is a
 *  plain failure instead). */
export async function runArchiveVerify(path: string, options: FormatOptions): Promise<number> {
  let summary;
  try {
    summary = await summariseArchive(await openArchiveFile(path, options));
  } catch (error) {
    throw toCliError(error, path);
  }
  const { corruption, tornTail, frames } = summary;
  if (corruption !== undefined) {
    throw new CliError(path, corruption.reason, corruption.offset, EXIT_UNSOUND);
  }
  if (tornTail !== undefined) {
    throw new CliError(path, `torn tail: ${describeTornTail(tornTail)}`, tornTail.offset, EXIT_UNSOUND);
  }
  process.stdout.write(`ok: ${frames} frames\n`);
  return 0;
}
