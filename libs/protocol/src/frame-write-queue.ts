// Hands a codec sink's payloads to one FrameSink in commit order, and owns closing it.
import type { FrameSink } from '@framewire/framing';
import { ProtocolStateError } from './errors';

export class FrameWriteQueue {
  private tail: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly frameSink: FrameSink,
    /** Close the FrameSink on close(); otherwise only flush it and leave it to its owner. */
    private readonly closeFrameSink: boolean,
    /** Names the sink in errors. */
    private readonly owner: string,
  ) {}

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Writes `payload` after every frame queued before it; the queue owns `payload` from now on.
   * Once a write fails every later write rejects with the same error: the frames after a lost
   * one would decode against the wrong delta state.
   */
  write(payload: Uint8Array): Promise<void> {
    if (this.closing) return Promise.reject(this.closedError());
    const written = this.tail.then(() => this.frameSink.write(payload));
    this.tail = written;
    return written;
  }

  flush(): Promise<void> {
    if (this.closing) return this.closing;
    return this.tail.then(() => this.frameSink.flush());
  }

  /** Waits for queued frames (a failed one was already reported to its committer), then closes
   *  or flushes the FrameSink. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.tail
      .catch(() => undefined)
      .then(() => (this.closeFrameSink ? this.frameSink.close() : this.frameSink.flush()));
    return this.closing;
  }

  closedError(): ProtocolStateError {
    return new ProtocolStateError('SINK_CLOSED', `${this.owner} is closed`);
  }
}
