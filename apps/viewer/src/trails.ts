// Short trails of tracks: the last positions of each track's box centre, by frame sequence, so a
// frame shows the path up to itself (never positions from frames after it).

/** Positions kept per track. */
export const TRAIL_LENGTH = 24;
/** Tracks not seen for this many sequences are forgotten. */
const FORGET_AFTER_SEQUENCES = 150;

export interface TrailPoint {
  sequence: number;
  x: number;
  y: number;
}

/** Track ids are a worker's own: trails are kept per worker and track. */
const trailKey = (workerId: string, trackId: number): string => `${workerId}\n${trackId}`;

export class TrackTrails {
  private readonly trails = new Map<string, TrailPoint[]>();

  add(workerId: string, sequence: number, tracks: readonly { trackId: number; box?: { x: number; y: number; width: number; height: number } }[]): void {
    for (const t of tracks) {
      if (t.box === undefined) continue;
      const key = trailKey(workerId, t.trackId);
      let trail = this.trails.get(key);
      if (trail === undefined) {
        trail = [];
        this.trails.set(key, trail);
      }
      if (trail.length > 0 && trail[trail.length - 1].sequence >= sequence) continue;
      trail.push({ sequence, x: t.box.x + t.box.width / 2, y: t.box.y + t.box.height / 2 });
      // Keep enough for a frame a little behind the newest result.
      if (trail.length > TRAIL_LENGTH * 2) trail.splice(0, trail.length - TRAIL_LENGTH * 2);
    }
    for (const [id, trail] of this.trails) if (sequence - trail[trail.length - 1].sequence > FORGET_AFTER_SEQUENCES) this.trails.delete(id);
  }

  /** The trail of `workerId`'s track `trackId` up to and including `sequence`, oldest first. */
  upTo(workerId: string, trackId: number, sequence: number): TrailPoint[] {
    const trail = this.trails.get(trailKey(workerId, trackId)) ?? [];
    const upto = trail.filter((p) => p.sequence <= sequence);
    return upto.slice(-TRAIL_LENGTH);
  }

  clear(): void {
    this.trails.clear();
  }
}
