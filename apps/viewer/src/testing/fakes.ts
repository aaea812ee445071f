// Fakes for the viewer's unit tests: a WebSocket that the test opens, closes and feeds, sessionStorage
// in memory, a picture that records whether it was closed, and fetch answering canned JSON.
import type { PageSocket } from '../connection';
import type { TokenStorage } from '../gateway-access';

export class FakeSocket implements PageSocket {
  onopen: PageSocket['onopen'] = null;
  onmessage: PageSocket['onmessage'] = null;
  onclose: PageSocket['onclose'] = null;
  onerror: PageSocket['onerror'] = null;
  closed = false;

  constructor(readonly path: string) {}

  close(): void {
    this.closed = true;
  }

  opened(): void {
    this.onopen?.({} as Event);
  }

  receive(data: unknown): void {
    this.onmessage?.({ data } as MessageEvent);
  }

  /** The connection ends (the gateway closed it or it failed). */
  ends(): void {
    this.onclose?.({} as CloseEvent);
  }
}

export function memoryStorage(initial: Record<string, string> = {}): TokenStorage & { items: Map<string, string> } {
  const items = new Map(Object.entries(initial));
  return { items, getItem: (key) => items.get(key) ?? null, setItem: (key, value) => void items.set(key, value) };
}

export class FakePicture {
  closed = false;
  constructor(readonly name: string) {}
  close(): void {
    this.closed = true;
  }
}

export interface FetchCall {
  path: string;
  init: RequestInit;
}

/** fetch answering `status` and `body` (or failing with `error`), recording each call. */
export function fakeFetch(answer: { status: number; body: unknown } | { error: Error }) {
  const calls: FetchCall[] = [];
  const fetch = async (path: string, init: RequestInit) => {
    calls.push({ path, init });
    if ('error' in answer) throw answer.error;
    return { status: answer.status, json: async () => answer.body };
  };
  return { fetch, calls };
}
