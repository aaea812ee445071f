// The page's WebSockets: every socket belongs to a generation (live view of one stream, or one
// replay); closing them all starts a new generation, so a late message or close of an old socket
// changes nothing. A live socket that closes is reopened with exponential backoff while its
// generation is current and the page wants it (is live). The socket and the timer are passed in.

/** Reconnect backoff of the live sockets. */
export const RECONNECT_MS = { initial: 250, max: 5_000 };

/** What the page uses of a browser WebSocket (a WebSocket is one; unit tests pass a fake). */
export interface PageSocket {
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
  close(): void;
}

/** The delay before reopening after `attempt` failed attempts in a row (0 for the first). */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(RECONNECT_MS.max, RECONNECT_MS.initial * 2 ** attempt);
}

export class PageSockets {
  /** Increases whenever every socket is closed; a socket acts only while its generation is current. */
  generation = 0;
  private sockets: PageSocket[] = [];

  constructor(
    private readonly deps: {
      open: (path: string) => PageSocket;
      /** Whether a closed socket should be reopened (the page is live, not replaying). */
      reconnects: () => boolean;
      schedule: (run: () => void, delayMs: number) => void;
    },
  ) {}

  /** Sockets open now (for tests). */
  get openCount(): number {
    return this.sockets.length;
  }

  /** Opens `path` and reopens it with backoff while `generation` is current. */
  connect(path: string, onMessage: (data: Uint8Array) => void, generation: number, attempt = 0): void {
    if (generation !== this.generation) return;
    const ws = this.add(path);
    ws.onopen = () => {
      attempt = 0;
    };
    ws.onmessage = (e) => {
      if (generation === this.generation && e.data instanceof ArrayBuffer) onMessage(new Uint8Array(e.data));
    };
    ws.onclose = () => {
      this.forget(ws);
      if (generation !== this.generation || !this.deps.reconnects()) return;
      this.deps.schedule(() => this.connect(path, onMessage, generation, attempt + 1), reconnectDelayMs(attempt));
    };
  }

  /** Opens `path` once (no reconnect); the caller sets its handlers. It is closed with the others. */
  openOnce(path: string): PageSocket {
    return this.add(path);
  }

  closeAll(): void {
    this.generation++;
    for (const ws of this.sockets) ws.close();
    this.sockets = [];
  }

  private add(path: string): PageSocket {
    const ws = this.deps.open(path);
    this.sockets.push(ws);
    return ws;
  }

  private forget(ws: PageSocket): void {
    this.sockets = this.sockets.filter((s) => s !== ws);
  }
}
