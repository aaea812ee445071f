// Douglas-Peucker simplification of a closed polygon, iterative over a reused stack so that the
// motion analyzer simplifies every contour of every frame without allocating.
import { PointBuffer } from './contour';

export class PolygonSimplifier {
  private keep = new Uint8Array(256);
  private stack = new Int32Array(512);

  /**
   * Writes to `out` (cleared first) the vertices of the closed polygon `points` that Douglas-Peucker
   * keeps with tolerance `epsilon`: every dropped vertex lies within epsilon of the simplified
   * outline. The polygon is split at vertex 0 and the vertex farthest from it, which are always kept.
   * epsilon 0 keeps every vertex that is not exactly on a straight run.
   */
  simplifyClosed(points: PointBuffer, epsilon: number, out: PointBuffer): void {
    out.clear();
    const n = points.length;
    const p = points.data;
    if (n <= 3) {
      for (let i = 0; i < n; i++) out.push(p[2 * i], p[2 * i + 1]);
      return;
    }
    if (this.keep.length < n) this.keep = new Uint8Array(n * 2);
    if (this.stack.length < 2 * n) this.stack = new Int32Array(4 * n);
    const keep = this.keep;
    keep.fill(0, 0, n);
    let far = 0;
    let farDistance = -1;
    for (let i = 1; i < n; i++) {
      const dx = p[2 * i] - p[0];
      const dy = p[2 * i + 1] - p[1];
      const d = dx * dx + dy * dy;
      if (d > farDistance) {
        farDistance = d;
        far = i;
      }
    }
    keep[0] = 1;
    keep[far] = 1;
    const stack = this.stack;
    let top = 0;
    // Segments as index pairs; index n stands for vertex 0 closing the ring.
    stack[top++] = 0;
    stack[top++] = far;
    stack[top++] = far;
    stack[top++] = n;
    const epsilon2 = epsilon * epsilon;
    while (top > 0) {
      const b = stack[--top];
      const a = stack[--top];
      if (b - a < 2) continue;
      const ax = p[2 * a];
      const ay = p[2 * a + 1];
      const bi = b === n ? 0 : b;
      const bx = p[2 * bi];
      const by = p[2 * bi + 1];
      const vx = bx - ax;
      const vy = by - ay;
      const length2 = vx * vx + vy * vy;
      let worst = -1;
      let worstDistance2 = -1;
      for (let i = a + 1; i < b; i++) {
        const wx = p[2 * i] - ax;
        const wy = p[2 * i + 1] - ay;
        let d2: number;
        // Distance to the segment (not the infinite line), so hairpins fold back correctly.
        const t = length2 === 0 ? 0 : (wx * vx + wy * vy) / length2;
        if (t <= 0) d2 = wx * wx + wy * wy;
        else if (t >= 1) d2 = (wx - vx) * (wx - vx) + (wy - vy) * (wy - vy);
        else {
          const cross = wx * vy - wy * vx;
          d2 = (cross * cross) / length2;
        }
        if (d2 > worstDistance2) {
          worstDistance2 = d2;
          worst = i;
        }
      }
      if (worstDistance2 > epsilon2) {
        keep[worst] = 1;
        stack[top++] = a;
        stack[top++] = worst;
        stack[top++] = worst;
        stack[top++] = b;
      }
    }
    for (let i = 0; i < n; i++) if (keep[i] === 1) out.push(p[2 * i], p[2 * i + 1]);
  }
}
