// Bridges a push-style producer (socket 'data', WebSocket 'message', accepted connections) to one
// pull-style async consumer, pausing the producer while the consumer lags so nothing piles up.

export interface InboundQueueOptions<T> {
  /** Buffered items at which the producer is paused; it resumes at half of this. */
  highWaterMark: number;
  /** Buffered bytes (by `sizeOf`) at which the producer is paused too; it resumes at half. */
  highWaterBytes?: number;
  sizeOf?: (item: T) => number;
  pause?: () => void;
  resume?: () => void;
}

export class InboundQueue<T> {
  private readonly items: T[] = [];
  private head = 0;
  private bytes = 0;
  private paused = false;
  /** No more items will be pushed (end or failure). */
  private ended = false;
  private failure: { error: unknown } | undefined = undefined;
  private wakeConsumer: (() => void) | undefined = undefined;

  constructor(private readonly options: InboundQueueOptions<T>) {}

  /** Items pushed and not yet taken. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Bytes (by `sizeOf`) of the items pushed and not yet taken. */
  get sizeBytes(): number {
    return this.bytes;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.bytes += this.options.sizeOf?.(item) ?? 0;
    const { highWaterMark, highWaterBytes = Infinity } = this.options;
    if (!this.paused && (this.size >= highWaterMark || this.bytes >= highWaterBytes) && this.options.pause !== undefined) {
      this.paused = true;
      this.options.pause();
    }
    this.wake();
  }

  /** Clean end: the consumer gets the buffered items, then the end. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
  }

  /** Failed end: the consumer gets the buffered items, then `error`. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = { error };
    this.wake();
  }

  /** Drops buffered items (the consumer went away) and ends the queue. */
  discard(): void {
    this.items.length = 0;
    this.head = 0;
    this.bytes = 0;
    this.end();
  }

  /** The next item; undefined after a clean end; throws the failure (after the items before it)
   *  or the abort reason. Only one consumer may wait at a time. */
  async take(signal?: AbortSignal): Promise<T | undefined> {
    for (;;) {
      signal?.throwIfAborted();
      if (this.head < this.items.length) return this.shift();
      if (this.failure !== undefined) throw this.failure.error;
      if (this.ended) return undefined;
      await this.arrival(signal);
    }
  }

  private shift(): T {
    const item = this.items[this.head];
    this.items[this.head] = undefined as T; // let the consumer own the only reference
    this.head++;
    this.bytes -= this.options.sizeOf?.(item) ?? 0;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    const { highWaterMark, highWaterBytes = Infinity } = this.options;
    if (this.paused && this.size <= highWaterMark >> 1 && this.bytes <= highWaterBytes / 2) {
      this.paused = false;
      this.options.resume?.();
    }
    return item;
  }

  private arrival(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal === undefined) {
        this.wakeConsumer = resolve;
        return;
      }
      const onAbort = (): void => {
        this.wakeConsumer = undefined;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.wakeConsumer = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
    });
  }

  private wake(): void {
    const wake = this.wakeConsumer;
    this.wakeConsumer = undefined;
    wake?.();
  }
}
