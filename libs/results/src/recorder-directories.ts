// The results archive's directory tree, `<directory>/<stream>/<worker>/`: the (stream, worker)
// directories already on disk (they count toward the recorder's cap), and retention over the tree,
// which deletes an RW segment together with its envelope segment.
import { readdirSync } from 'node:fs';
import { join, sep } from 'node:path';
import { RetentionPolicy, SegmentRetention } from '@framewire/archive';
import { ENVELOPE_SUFFIX } from './layout';
import { ID_PATTERN } from './validate';

/** `<stream>/<worker>/`: the directory levels between the recorder's directory and its segments. */
const RECORDER_DIRECTORY_DEPTH = 2;

/** `<stream>/<worker>`, the key of a directory in the cap. */
export const directoryKey = (streamId: string, workerId: string): string => `${streamId}/${workerId}`;

/** The key of a directory that retention reports by its path relative to the recorder's directory. */
export const directoryKeyOfPath = (relativePath: string): string => relativePath.split(sep).join('/');

/** Retention of every archive under `directory`. */
export function recorderRetention(directory: string, policy: RetentionPolicy, clock: () => number): SegmentRetention {
  return new SegmentRetention({
    directory,
    depth: RECORDER_DIRECTORY_DEPTH,
    policy,
    // The segment of an envelope archive goes with the RW segment of the same number.
    unitKey: (segment) => `${kindArchiveName(segment.baseName)}\n${segment.seq}`,
    clock,
  });
}

/** The RW archive's base name for an envelope archive's, any other unchanged. */
function kindArchiveName(baseName: string): string {
  return baseName.endsWith(ENVELOPE_SUFFIX) ? baseName.slice(0, -ENVELOPE_SUFFIX.length) : baseName;
}

/** The `<stream>/<worker>` directories under `directory` whose names are ids (as the recorder
 *  makes them). Read once at start-up, synchronously: at most maxDirectories entries matter. */
export function existingDirectories(directory: string): Set<string> {
  const found = new Set<string>();
  const subdirectories = (path: string): string[] => {
    try {
      return readdirSync(path, { withFileTypes: true })
        .filter((e) => e.isDirectory() && ID_PATTERN.test(e.name) && e.name !== '.' && e.name !== '..')
        .map((e) => e.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  };
  for (const streamId of subdirectories(directory)) {
    for (const workerId of subdirectories(join(directory, streamId))) found.add(directoryKey(streamId, workerId));
  }
  return found;
}
