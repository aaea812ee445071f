// The counters of one capture session, shared by the capture loop (captured, restarts) and the
// publisher (published, drops, reconnects).

export interface CaptureStats {
  /** Frames the source delivered. */
  framesCaptured: number;
  /** Frames handed to the Publish call. */
  framesPublished: number;
  /** Frames replaced by a newer one before they could be written (never queued). */
  localDrops: number;
  /** Publish calls opened after the first one. */
  reconnects: number;
  /** Times the source was restarted after it failed or stalled (watchdog). */
  sourceRestarts: number;
  /** Frames published as bytes because the shared-memory ring refused them (larger than a slot). */
  ringFallbacks: number;
  /** Frames captured while paused (capture.pause), discarded instead of published. */
  framesDiscardedPaused: number;
}

export function createCaptureStats(): CaptureStats {
  return { framesCaptured: 0, framesPublished: 0, localDrops: 0, reconnects: 0, sourceRestarts: 0, ringFallbacks: 0, framesDiscardedPaused: 0 };
}
