// The audit of the commands a service applied: one info line per batch of applied commands, written
// off the acknowledgement's path. A line per command was the largest item of the worker's CPU per
// command (Nest's JSON formatting and a synchronous write to its stdout pipe): docs/commands.md
// "Audit" and "Latency".

/** A batch is written this long after its first command at the latest. */
export const AUDIT_FLUSH_MS = 100;
/** A batch is written at the end of the event-loop turn in which it reached this many commands or
 *  bytes of strings: a line stays well under the 16 KiB at which Docker's log drivers split lines. */
export const MAX_AUDIT_BATCH = 64;
export const MAX_AUDIT_BATCH_BYTES = 8 * 1024;

/** One applied (or refused by its handler) command, as the audit line lists it. */
export interface AppliedCommand {
  requestId: string;
  type: string;
  /** The ack's status name: ACK_STATUS_SUCCESS, ACK_STATUS_ERROR, ... */
  status: string;
  /** The ack's message. */
  detail: string;
}

/** Writes `{ message: 'commands applied', count, commands }` lines through `write`. */
export class CommandAuditLog {
  private batch: AppliedCommand[] = [];
  private batchBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;

  constructor(
    private readonly write: (entry: { message: string; count: number; commands: AppliedCommand[] }) => void,
    private readonly flushMs: number = AUDIT_FLUSH_MS,
  ) {}

  record(applied: AppliedCommand): void {
    this.batch.push(applied);
    this.batchBytes += applied.requestId.length + applied.type.length + applied.status.length + applied.detail.length;
    // Never now: the ack recorded with it is written to the socket after this turn's JavaScript,
    // and a full batch's line takes about 0.3 ms to format and write. Unref'd: the owner flushes at
    // close, and a pending line alone must not keep a process alive.
    if (this.batch.length >= MAX_AUDIT_BATCH || this.batchBytes >= MAX_AUDIT_BATCH_BYTES) this.immediate ??= setImmediate(() => this.flush()).unref();
    else this.timer ??= setTimeout(() => this.flush(), this.flushMs).unref();
  }

  /** Writes what is batched now (nothing when the batch is empty). */
  flush(): void {
    clearTimeout(this.timer);
    clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (this.batch.length === 0) return;
    const commands = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    this.write({ message: 'commands applied', count: commands.length, commands });
  }
}
