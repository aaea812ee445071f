// Point names of recorded keypoints: each RW segment's sidecar names its points once (a book), so a
// frame's names are entered in its segment's book, the sidecar is rewritten as the book grows, and
// a frame whose names contradict the book starts a new segment.
import type { ArchiveWriter } from '@framewire/archive';
import { Result } from '@framewire/proto';
import { samePointNames } from './envelope';
import type { WriterPair } from './writer-pair';

/**
 * Enters a keypoints frame's point names in its segment's book, rewriting the RW sidecar when the
 * book grows, and starting a new segment (`rotate`, after which `currentPair` is the new one) when
 * the names contradict the book (a name with another id) or when the frame has no names for points
 * the book names (replay would give it names). Returns whether the frame's names must travel in its
 * envelope (they are not the book's names of its points, e.g. names of points absent from the frame).
 */
export async function notePointNames(result: Result, currentPair: () => WriterPair, rotate: () => Promise<void>): Promise<boolean> {
  const points = result.keypoints?.points ?? [];
  const names = result.keypoints?.pointNames ?? {};
  const hasNames = Object.keys(names).length > 0;
  let pair = currentPair();
  let grew = pair.book.add(names);
  if (grew === undefined || (!hasNames && Object.keys(pair.book.namesOf(points)).length > 0)) {
    await rotate();
    pair = currentPair();
    // A fresh book refuses only names that contradict themselves (two names for one id).
    grew = pair.book.add(names);
  }
  if (grew === true) await (pair.rw as ArchiveWriter).setPointNames(pair.book.names);
  const ownNames = hasNames && !samePointNames(pair.book.namesOf(points), names);
  if (!ownNames) pair.book.noteRecorded(points);
  return ownNames;
}
