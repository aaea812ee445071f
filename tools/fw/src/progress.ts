// A progress bar over the bytes of the input file, drawn on stderr only when stderr is a terminal
// (in a pipe or a log it would be noise; stdout stays clean for the data either way), and only once
// the operation has run long enough for a bar to help.
import { SingleBar } from 'cli-progress';

/** Operations that finish sooner never show a bar: it would only flicker. */
export const PROGRESS_DELAY_MS = 1000;
/** Redraws at most this often. */
const PROGRESS_REDRAW_MS = 100;
const BYTES_PER_MIB = 1024 * 1024;

export interface ByteProgress {
  /** Bytes of the input processed so far. */
  update(bytesDone: number): void;
  /** Removes the bar, if one was drawn. */
  stop(): void;
}

const SILENT: ByteProgress = { update: () => undefined, stop: () => undefined };

/** A bar for reading `totalBytes` of `label`, or a silent stand-in when stderr is not a terminal. */
export function startByteProgress(label: string, totalBytes: number): ByteProgress {
  if (!process.stderr.isTTY) return SILENT;
  const startedAt = Date.now();
  const toMib = (bytes: number): number => Math.round(bytes / BYTES_PER_MIB);
  let bar: SingleBar | undefined;
  return {
    update(bytesDone) {
      if (bar === undefined) {
        if (Date.now() - startedAt < PROGRESS_DELAY_MS) return;
        bar = new SingleBar({
          stream: process.stderr,
          format: `${label} [{bar}] {percentage}% | {value}/{total} MiB`,
          fps: 1000 / PROGRESS_REDRAW_MS,
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(toMib(totalBytes), 0);
      }
      bar.update(toMib(bytesDone));
    },
    stop() {
      bar?.stop();
    },
  };
}
