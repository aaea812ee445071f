// The one place where a failure becomes the single stderr line a user sees:
// `fw: <file>: <reason> at offset N`. Errors of the libs are typed, so the line is built from their
// fields rather than from a stack trace.

/** Exit status of a run that failed on its input (bad file, bad option value, bad JSON). */
export const EXIT_FAILURE = 1;
/** Exit status of `fw archive verify` when the file is not sound: distinct from a usage error. */
export const EXIT_UNSOUND = 2;

/** A failure the CLI reports as one line. `file` is empty when no file is concerned; `offset` is
 *  the byte offset in `file` (omitted from the line when undefined). */
export class CliError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly offset?: number,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(formatErrorLine(file, reason, offset));
    this.name = 'CliError';
  }
}

export function formatErrorLine(file: string, reason: string, offset?: number): string {
  const where = file === '' ? '' : `${file}: `;
  const at = offset === undefined ? '' : ` at offset ${offset}`;
  // One line whatever the reason holds: a multi-line message would read like a trace.
  return `fw: ${where}${reason.replace(/\s*\n\s*/g, ' ')}${at}`;
}

interface ErrorWithFields extends Error {
  code?: unknown;
  syscall?: unknown;
  offset?: unknown;
  frameOffset?: unknown;
  kind?: unknown;
  detail?: unknown;
  reason?: unknown;
  path?: unknown;
}

const SYSTEM_ERROR_REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  ENOSPC: 'no space left on the device',
};

/**
 * Turns any error met while working on `file` into a CliError. Recognises the typed errors of
 * @framewire/framing (code, offset), @framewire/overlay-codecs (kind, detail, frameOffset),
 * @framewire/archive (code, path, offset; corruption with its cause) and Node's system errors by
 * their fields, and builds the line from those fields rather than from messages written for logs.
 */
export function toCliError(error: unknown, file: string): CliError {
  if (error instanceof CliError) return error;
  if (!(error instanceof Error)) return new CliError(file, String(error));
  const e = error as ErrorWithFields;
  const path = typeof e.path === 'string' && e.path !== '' ? e.path : file;

  if (typeof e.code === 'string' && typeof e.syscall === 'string') {
    return new CliError(path, SYSTEM_ERROR_REASONS[e.code] ?? e.message.replace(/^[A-Z]+: /, ''));
  }
  if (e.code === 'ARCHIVE_CORRUPT' && typeof e.reason === 'string') {
    // The cause says it best (the framing or decode error); the reason code is its summary.
    const cause = (e as { cause?: unknown }).cause;
    const detail = cause instanceof Error ? toCliError(cause, path).reason : e.reason;
    return new CliError(path, `corrupt archive: ${detail}`, offsetOf(e.offset));
  }
  // A payload that does not decode: the offset a user can act on is the frame's, in the file.
  if (e.name === 'ProtocolDecodeError' && typeof e.detail === 'string') {
    const inPayload = typeof e.offset === 'number' && e.kind !== 'result' ? ` (payload byte ${e.offset})` : '';
    return new CliError(path, `undecodable ${String(e.kind)} payload: ${e.detail}${inPayload}`, offsetOf(e.frameOffset));
  }
  if (e.code === 'INVALID_PAYLOAD' && typeof e.detail === 'string') {
    return new CliError(path, `undecodable ${String((e as { protocol?: unknown }).protocol)} payload: ${e.detail}`, offsetOf(e.offset));
  }
  const offset = offsetOf(e.offset);
  // Messages written for logs name the file and the offset; the line names each once.
  let reason = e.message;
  if (offset !== undefined) reason = reason.replace(new RegExp(` at offset ${offset}(?=$|[:;,)])`), '');
  if (path !== '') {
    if (reason.startsWith(path)) reason = reason.slice(path.length).replace(/^:? /, '');
    reason = reason.split(`${path}: `).join('').split(` of ${path}`).join('');
  }
  return new CliError(path, reason, offset);
}

function offsetOf(value: unknown): number | undefined {
  return typeof value === 'number' && value >= 0 ? value : undefined;
}
