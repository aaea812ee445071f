// Applies a message stream's effects in the order the messages came, although some of them (a frame's
// JPEG decode) finish later than the messages behind them. A replay sends frame n, then the results
// for n, then frame n+1, …; as fast as the socket goes, the results would otherwise reach the frame
// matcher long before the frames they belong to are decoded, and push those frames' results out of
// the matcher's per-source window. Nothing is buffered beyond what arrives while a decode is in
// flight (the page bounds decodes in flight; a frame beyond them is dropped, not queued here).

export class InOrder {
  private tail: Promise<void> = Promise.resolve();
  /** Effects queued and not yet applied (for the side panel and tests). */
  pending = 0;

  constructor(private readonly onError: (error: unknown) => void = () => undefined) {}

  /** Applies `apply(value)` after every effect pushed before it; `value` may still be on its way
   *  (a decode). A rejected value or a throwing `apply` is given to onError and skipped; the
   *  effects behind it go on. */
  push<T>(value: T | PromiseLike<T>, apply: (value: T) => void): void {
    this.pending++;
    const waiting = Promise.resolve(value);
    // Handled here already, so a decode failing before its turn is not reported as unhandled.
    waiting.catch(() => undefined);
    this.tail = this.tail
      .then(() => waiting)
      .then(apply)
      .catch(this.onError)
      .finally(() => {
        this.pending--;
      });
  }

  /** Resolves when everything pushed so far has been applied (or skipped). */
  idle(): Promise<void> {
    return this.tail;
  }
}
