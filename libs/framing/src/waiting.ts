// Bounded waits on event emitters and promises: every wait in this lib ends on its event, on a
// failure event, on a timeout or on an abort signal, and removes its listeners whichever comes first.
import { EventEmitter } from 'node:events';

export interface WaitOptions {
  /** Events that end the wait with a rejection ('error' rejects with the emitted error). */
  failOn?: readonly string[];
  /** Rejects with an ETIMEDOUT error after this many milliseconds (no timeout when undefined). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** An Error with Node's `code` convention, for I/O failures that are not framing errors. */
export function ioError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Resolves with the arguments of the next `event`, or rejects as `options` say. */
export function waitForEvent(emitter: EventEmitter, event: string, options: WaitOptions = {}): Promise<unknown[]> {
  const { failOn = [], timeoutMs, signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<unknown[]>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const listeners = new Map<string, (...args: unknown[]) => void>();
    const settle = (outcome: () => void): void => {
      for (const [name, listener] of listeners) emitter.off(name, listener);
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = (): void => settle(() => reject(signal?.reason));
    listeners.set(event, (...args) => settle(() => resolve(args)));
    for (const name of failOn) {
      if (name === event) continue;
      listeners.set(name, (...args) =>
        settle(() =>
          reject(name === 'error' ? args[0] : ioError('ERR_STREAM_PREMATURE_CLOSE', `'${name}' before '${event}'`)),
        ),
      );
    }
    for (const [name, listener] of listeners) emitter.on(name, listener);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) {
      const timedOut = (): Error => ioError('ETIMEDOUT', `timed out after ${timeoutMs} ms waiting for '${event}'`);
      timer = setTimeout(() => settle(() => reject(timedOut())), timeoutMs);
    }
  });
}

/** `promise`, unless `signal` aborts first (then rejects with the abort reason). */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
