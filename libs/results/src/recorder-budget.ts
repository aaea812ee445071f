// What the results recorder lets wait for the disk: results per archive (count and bytes) and bytes
// over all archives together, so a stalled disk drops new results instead of growing memory.
import type { RecorderSettings } from './recorder-options';

/** What waits for one archive. */
export interface PendingWrites {
  pending: number;
  pendingBytes: number;
}

export class PendingBudget {
  /** Bytes waiting for all archives together. */
  pendingBytes = 0;

  constructor(private readonly limits: Pick<RecorderSettings, 'maxPendingPerArchive' | 'maxPendingBytesPerArchive' | 'maxPendingBytes'>) {}

  /** Whether a result of `bytes` may wait for `archive`. A result larger than a byte bound is still
   *  taken when nothing waits, so that it can be recorded. */
  admits(archive: PendingWrites, bytes: number): boolean {
    return !(
      archive.pending >= this.limits.maxPendingPerArchive ||
      (archive.pending > 0 && archive.pendingBytes + bytes > this.limits.maxPendingBytesPerArchive) ||
      (this.pendingBytes > 0 && this.pendingBytes + bytes > this.limits.maxPendingBytes)
    );
  }

  take(archive: PendingWrites, bytes: number): void {
    archive.pending++;
    archive.pendingBytes += bytes;
    this.pendingBytes += bytes;
  }

  release(archive: PendingWrites, bytes: number): void {
    archive.pending--;
    archive.pendingBytes -= bytes;
    this.pendingBytes -= bytes;
  }
}
