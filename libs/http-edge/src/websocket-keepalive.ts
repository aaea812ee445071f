// Keepalive of the gateway's WebSockets (/ws, /ws/video, /ws/replay): after the upgrade a socket
// leaves the HTTP server's bounds, so each is pinged every FW_KEEPALIVE_MS and terminated when, by
// the next ping, it has neither answered nor taken anything sent to it (a dead peer, a frozen tab).
// Browsers and the ws library answer pings by themselves; a pong waits behind what the socket
// holds, so a message the client took counts as an answer too.
import type WebSocket from 'ws';

export interface WebSocketKeepaliveStats {
  /** Sockets watched now. */
  sockets: number;
  pingsSent: number;
  /** Sockets terminated because they did not answer a ping in time. */
  terminated: number;
}

export class WebSocketKeepalive {
  /** Per socket: whether it answered (or took something) since the last ping. */
  private readonly answered = new Map<WebSocket, boolean>();
  private readonly timer: NodeJS.Timeout;
  private pingsSent = 0;
  private terminated = 0;

  constructor(readonly intervalMs: number) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.timer.unref();
  }

  /** Watches an accepted socket until it closes. */
  watch(ws: WebSocket): void {
    this.answered.set(ws, true);
    ws.on('pong', () => this.alive(ws));
    ws.once('close', () => this.answered.delete(ws));
  }

  /** The client took something sent to it (a write completed): it is alive. */
  alive(ws: WebSocket): void {
    if (this.answered.has(ws)) this.answered.set(ws, true);
  }

  stats(): WebSocketKeepaliveStats {
    return { sockets: this.answered.size, pingsSent: this.pingsSent, terminated: this.terminated };
  }

  close(): void {
    clearInterval(this.timer);
    this.answered.clear();
  }

  private tick(): void {
    for (const [ws, answered] of this.answered) {
      if (!answered) {
        this.terminated++;
        this.answered.delete(ws);
        ws.terminate();
        continue;
      }
      this.answered.set(ws, false);
      this.pingsSent++;
      ws.ping();
    }
  }
}
