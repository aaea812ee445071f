// Where the recorder puts each archive and how replay finds it again (docs/results.md, "Archive
// layout"): one folder per stream and worker, one archive per kind, and for the RW kinds an envelope
// archive beside the RW one.
import { join } from 'node:path';
import { ResultKind } from '@framewire/proto';
import { resultKindName } from './validate';

/** Suffix of the base name of the envelope archive that goes with an RW archive. */
export const ENVELOPE_SUFFIX = '.envelope';

/** Kinds recorded in an RW binary format (with an envelope archive beside it). */
export function isRwKind(kind: ResultKind): kind is ResultKind.RESULT_KIND_KEYPOINTS | ResultKind.RESULT_KIND_SEGMENTATION {
  return kind === ResultKind.RESULT_KIND_KEYPOINTS || kind === ResultKind.RESULT_KIND_SEGMENTATION;
}

/** `<directory>/<stream>/<worker>`: ids are validated ([A-Za-z0-9._-], never "." or ".."). */
export function workerDirectory(directory: string, streamId: string, workerId: string): string {
  return join(directory, streamId, workerId);
}

/** Base name of the archive that holds `kind` as protobuf Results: the kind's name for detections,
 *  tracks and stage (whole Results), `<kind>.envelope` for keypoints and segmentation. */
export function resultArchiveBaseName(kind: ResultKind): string {
  return isRwKind(kind) ? `${resultKindName(kind)}${ENVELOPE_SUFFIX}` : resultKindName(kind);
}

/** Base name of the RW archive of keypoints or segmentation: the kind's name. */
export function rwArchiveBaseName(kind: ResultKind): string {
  return resultKindName(kind);
}
