// Records published results to archives (libs/archive): one track per (stream, worker, kind)
// archive, each with its queue of writes run in order, at most MAX_OPEN_ARCHIVES open (the least
// recently used is closed) and idle ones closed; the next writers of an archive open only after its
// previous ones closed and after retention removed emptied directories. Options: recorder-options.ts;
// the RW/envelope writer pair: writer-pair.ts; point names: recorder-point-names.ts; what may wait for
// the disk: recorder-budget.ts; directories and retention: recorder-directories.ts.
import { ArchiveWriter, SegmentRetention } from '@framewire/archive';
import { Result, ResultKind } from '@framewire/proto';
import { keypointsEnvelope, segmentationEnvelope } from './envelope';
import type { PublishedResult } from './hub';
import { isRwKind, resultArchiveBaseName, rwArchiveBaseName, workerDirectory } from './layout';
import { PendingBudget } from './recorder-budget';
import { directoryKey, directoryKeyOfPath, existingDirectories, recorderRetention } from './recorder-directories';
import { IDLE_ARCHIVE_CLOSE_MS, MAX_OPEN_ARCHIVES, RecorderSettings, ResultRecorderOptions, ResultRecorderStats, resolveRecorderSettings } from './recorder-options';
import { notePointNames } from './recorder-point-names';
import { WriterPair, closeWriterPair, encodeRw, openWriterPair, pairRotationDue } from './writer-pair';

const MAX_LOGGED_CAUSES = 32;
const MICROS_PER_MILLI = 1000;

/** One (stream, worker, kind) archive: its writers when open, and the writes queued for it. */
interface ArchiveTrack {
  key: string;
  streamId: string;
  workerId: string;
  kind: ResultKind;
  directory: string;
  pair: WriterPair | undefined;
  chain: Promise<void>;
  pending: number;
  pendingBytes: number;
  lastUsedMs: number;
}

/**
 * Records every result given to `record` (typically a ResultHub tap). `record` is synchronous and
 * never throws: writes are queued per archive and run in order; failures are counted and logged
 * once per cause.
 */
export class ResultRecorder {
  private readonly settings: RecorderSettings;
  private readonly retention: SegmentRetention;
  private readonly budget: PendingBudget;
  private readonly tracks = new Map<string, ArchiveTrack>();
  /** Closings of evicted or idle archives still running: close() waits for them. */
  private readonly closings = new Set<Promise<void>>();
  /** The closing of each archive key still running: the key's next writers open after it, so two
   *  writers never share a directory and base name, and segment numbers continue. */
  private readonly closingArchives = new Map<string, Promise<void>>();
  /** (stream, worker) directories holding archives, for the cap. */
  private readonly directories: Set<string>;
  /** Segments of retired archives whose writers are still closing: retention keeps them. */
  private readonly closingSegments = new Set<string>();
  private readonly loggedCauses = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private sweeping: Promise<void> | undefined;
  private closed: Promise<void> | undefined;
  private counters = { recorded: 0, dropped: 0, directoryCapDrops: 0, errors: 0, segmentsDeleted: 0, bytesDeleted: 0 };

  constructor(options: ResultRecorderOptions) {
    this.settings = resolveRecorderSettings(options);
    this.retention = recorderRetention(this.settings.directory, this.settings.retention, this.settings.clock);
    this.budget = new PendingBudget(this.settings);
    // Once, at start: the directories already there count toward the cap.
    this.directories = existingDirectories(this.settings.directory);
    // unref: a forgotten recorder must not keep the process alive; close() clears it.
    this.timer = setInterval(() => void this.sweep(), this.settings.sweepIntervalMs).unref();
  }

  /** Queues `p` for its archive. Never throws and never waits. */
  record(p: PublishedResult): void {
    if (this.closed !== undefined) {
      this.counters.dropped++;
      return;
    }
    const directory = directoryKey(p.streamId, p.workerId);
    if (!this.directories.has(directory)) {
      if (this.directories.size >= this.settings.maxDirectories) {
        this.counters.directoryCapDrops++;
        this.logOnce(
          'directory-cap',
          `the archive holds ${this.directories.size} stream/worker directories, the limit (maxDirectories): results of new ones, first ${directory}, are not recorded (still delivered live)`,
        );
        return;
      }
      this.directories.add(directory);
    }
    const track = this.trackFor(p);
    const bytes = p.retainedBytes;
    if (!this.budget.admits(track, bytes)) {
      this.counters.dropped++;
      this.logOnce(
        `queue-full:${track.key}`,
        `recorder queue of ${track.key} is full (${track.pending} results, ${track.pendingBytes} bytes; ${this.budget.pendingBytes} bytes for all archives): dropping results until the disk catches up`,
      );
      return;
    }
    this.budget.take(track, bytes);
    track.lastUsedMs = this.settings.clock();
    track.chain = track.chain
      .then(() => this.write(track, p))
      .then(
        () => {
          this.counters.recorded++;
        },
        (error: unknown) => this.writeFailed(track, error),
      )
      .finally(() => this.budget.release(track, bytes));
  }

  /** Resolves when every result recorded so far has been written (not necessarily synced). */
  async flush(): Promise<void> {
    await Promise.all([...this.tracks.values()].map((t) => t.chain));
    await Promise.all([...this.closings]);
  }

  /** Waits for queued writes, closes every archive (syncing it), stops the sweep timer. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.timer);
      await this.sweeping;
      const tracks = [...this.tracks.values()];
      this.tracks.clear();
      await Promise.all(tracks.map((t) => this.closeTrack(t)));
      await Promise.all([...this.closings]);
    })();
    return this.closed;
  }

  stats(): ResultRecorderStats {
    let pending = 0;
    let open = 0;
    for (const t of this.tracks.values()) {
      pending += t.pending;
      if (t.pair) open++;
    }
    return { ...this.counters, openArchives: open, pending, pendingBytes: this.budget.pendingBytes, directories: this.directories.size };
  }

  /** Runs retention and closes idle archives now (the timer does it every sweepIntervalMs). */
  sweep(): Promise<void> {
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private trackFor(p: PublishedResult): ArchiveTrack {
    const key = `${p.streamId}/${p.workerId}/${rwOrResultName(p.kind)}`;
    let track = this.tracks.get(key);
    if (track === undefined) {
      if (this.tracks.size >= MAX_OPEN_ARCHIVES) this.evictLeastRecentlyUsed();
      track = {
        key,
        streamId: p.streamId,
        workerId: p.workerId,
        kind: p.kind,
        directory: workerDirectory(this.settings.directory, p.streamId, p.workerId),
        pair: undefined,
        // The key's previous writers finish closing, and emptied directories are removed, before
        // this archive opens (ArchiveWriter.open numbers the new segment after the last one).
        chain: Promise.all([this.closingArchives.get(key), this.retention.directoryRemoval]).then(() => undefined),
        pending: 0,
        pendingBytes: 0,
        lastUsedMs: this.settings.clock(),
      };
      this.tracks.set(key, track);
    }
    return track;
  }

  private evictLeastRecentlyUsed(): void {
    let oldest: ArchiveTrack | undefined;
    for (const t of this.tracks.values()) if (oldest === undefined || t.lastUsedMs < oldest.lastUsedMs) oldest = t;
    if (oldest) this.retire(oldest);
  }

  /** Forgets `track` and closes its writers after its queued writes. */
  private retire(track: ArchiveTrack): void {
    this.tracks.delete(track.key);
    const paths = track.pair ? [track.pair.results.segmentPath, track.pair.rw?.segmentPath ?? ''] : [];
    for (const path of paths) this.closingSegments.add(path);
    const closing = this.closeTrack(track).finally(() => {
      this.closings.delete(closing);
      if (this.closingArchives.get(track.key) === closing) this.closingArchives.delete(track.key);
      for (const path of paths) this.closingSegments.delete(path);
    });
    this.closings.add(closing);
    this.closingArchives.set(track.key, closing);
  }

  private async closeTrack(track: ArchiveTrack): Promise<void> {
    await track.chain;
    const pair = track.pair;
    track.pair = undefined;
    if (pair) await closeWriterPair(pair).catch((error: unknown) => this.logFailure(track, 'close', error));
  }

  private async write(track: ArchiveTrack, p: PublishedResult): Promise<void> {
    const kind = p.kind;
    const timestampMs = Math.floor(p.captureTimeUs / MICROS_PER_MILLI);
    track.pair ??= await this.openPair(track);

    if (!isRwKind(kind)) {
      // The very bytes subscribers received.
      const bytes = p.encoded();
      if (pairRotationDue(track.pair, this.settings.rotation, this.settings.clock(), bytes.length, 0)) {
        await this.rotate(track);
      }
      await (track.pair as WriterPair).results.append(bytes, { timestampMs });
      return;
    }
    // The hub keeps only the bytes of a waiting result: decode it once, here.
    const result = p.result;
    const envelopeOf = async (): Promise<Uint8Array> =>
      Result.encode(
        kind === ResultKind.RESULT_KIND_KEYPOINTS
          ? keypointsEnvelope(result, await notePointNames(result, () => track.pair as WriterPair, () => this.rotate(track)))
          : segmentationEnvelope(result),
      ).finish();
    let envelope = await envelopeOf();
    let rw = encodeRw(track.pair as WriterPair, result, kind);
    if (pairRotationDue(track.pair as WriterPair, this.settings.rotation, this.settings.clock(), envelope.length, rw.length)) {
      await this.rotate(track);
      // A new segment has a new keypoints encoder (its first frame is a master) and a new book.
      envelope = await envelopeOf();
      rw = encodeRw(track.pair as WriterPair, result, kind);
    }
    const pair = track.pair as WriterPair;
    // RW first: after a crash between the two, the RW archive has the extra frame, and replay
    // stops at the shorter of the two.
    await (pair.rw as ArchiveWriter).append(rw, { timestampMs });
    await pair.results.append(envelope, { timestampMs });
  }

  private async rotate(track: ArchiveTrack): Promise<void> {
    const pair = track.pair;
    track.pair = undefined;
    if (pair) await closeWriterPair(pair);
    track.pair = await this.openPair(track);
  }

  private openPair(track: ArchiveTrack): Promise<WriterPair> {
    return openWriterPair(track, this.settings.durability, this.settings.clock);
  }

  private async writeFailed(track: ArchiveTrack, error: unknown): Promise<void> {
    this.counters.errors++;
    this.logFailure(track, 'write', error);
    // A failed writer refuses every later call: start a fresh segment with the next result.
    const pair = track.pair;
    track.pair = undefined;
    if (pair) await closeWriterPair(pair).catch(() => undefined);
  }

  private logFailure(track: ArchiveTrack, what: string, error: unknown): void {
    const e = error as { name?: string; code?: string; message?: string };
    this.logOnce(`${track.key}:${what}:${e?.name}:${e?.code}`, `recording ${track.key} failed to ${what} (logged once per cause): ${e?.message ?? String(error)}`);
  }

  private logOnce(cause: string, message: string): void {
    if (this.loggedCauses.has(cause) || this.loggedCauses.size >= MAX_LOGGED_CAUSES) return;
    this.loggedCauses.add(cause);
    this.settings.logger?.warn(message);
  }

  private async runSweep(): Promise<void> {
    const now = this.settings.clock();
    for (const track of [...this.tracks.values()]) {
      if (track.pending === 0 && now - track.lastUsedMs >= IDLE_ARCHIVE_CLOSE_MS) this.retire(track);
    }
    const open = new Set<string>();
    for (const t of this.tracks.values()) {
      if (t.pair) {
        open.add(t.pair.results.segmentPath);
        if (t.pair.rw) open.add(t.pair.rw.segmentPath);
      }
    }
    const hasTrack = (key: string): boolean => [...this.tracks.values()].some((t) => directoryKey(t.streamId, t.workerId) === key);
    try {
      // Deletes whole segments (the RW .bin and its envelope with every sidecar), oldest last write
      // first, never one open or closing; then removes the stream and worker directories it emptied
      // (no archive of theirs open or closing), so that they no longer count toward maxDirectories.
      // Archives opened meanwhile wait for the removal, and recreate their directory.
      const outcome = await this.retention.sweep({
        isOpen: (bin) => open.has(bin) || this.closingSegments.has(bin),
        directoryInUse: (path) => {
          const key = directoryKeyOfPath(path);
          return hasTrack(key) || [...this.closingArchives.keys()].some((archive) => archive.slice(0, archive.lastIndexOf('/')) === key);
        },
      });
      this.counters.segmentsDeleted += outcome.segmentsDeleted;
      this.counters.bytesDeleted += outcome.bytesDeleted;
      for (const path of outcome.removedDirectories) {
        const key = directoryKeyOfPath(path);
        // An archive of this directory queued while it was removed recreates it: it still counts.
        if (!hasTrack(key)) this.directories.delete(key);
      }
    } catch (error) {
      this.logOnce(`retention:${(error as Error).name}`, `retention sweep failed: ${(error as Error).message}`);
    }
  }
}

function rwOrResultName(kind: ResultKind): string {
  return isRwKind(kind) ? rwArchiveBaseName(kind) : resultArchiveBaseName(kind);
}
