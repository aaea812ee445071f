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

/** What a codec sink needs of its encoder. */
export interface FrameEncoder {
  /** The encoded frame; a view of a buffer the encoder reuses for the next frame. */
  finishFrame(): Uint8Array;
  abandonFrame(): void;
}

/**
 * The state a codec sink (keypoints, segmentation, stage) shares with its per-frame writers: the
 * encoder, the write queue, and a generation counter bumped by beginFrame, commit and close — a
 * writer is open while its generation is current, so only the latest writer can commit, once.
 */
export class CodecSinkState<E extends FrameEncoder> {
  private generation = 0;

  constructor(
    readonly encoder: E,
    readonly queue: FrameWriteQueue,
    /** Names the writer in errors: "keypoints", "segmentation", "stage". */
    private readonly kind: string,
  ) {}

  /** Throws when the sink is closed (before a frame is begun). */
  checkNotClosed(): void {
    if (this.queue.closed) throw this.queue.closedError();
  }

  /** The generation of a writer for the frame just begun (abandoning any earlier writer). */
  nextGeneration(): number {
    return ++this.generation;
  }

  checkOpen(writerGeneration: number): void {
    if (writerGeneration !== this.generation) {
      throw new ProtocolStateError('WRITER_CLOSED', `${this.kind} frame writer used after commit, close or a later beginFrame`);
    }
  }

  /** Closes the writer of `writerGeneration` and writes its frame; resolves once the FrameSink
   *  took it. The payload is a copy: the encoder reuses its buffer. */
  commit(writerGeneration: number): Promise<void> {
    this.checkOpen(writerGeneration);
    this.generation++;
    return this.queue.write(this.encoder.finishFrame().slice());
  }

  flush(): Promise<void> {
    return this.queue.flush();
  }

  /** Abandons an uncommitted writer, waits for committed frames, closes (or flushes) the
   *  FrameSink. Idempotent; writes no frame. */
  close(): Promise<void> {
    this.generation++;
    this.encoder.abandonFrame();
    return this.queue.close();
  }
}
