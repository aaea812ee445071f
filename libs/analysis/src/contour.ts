// Outer contour of one connected component by Moore-neighbour tracing (8-connectivity, clockwise
// in image coordinates), stopped by the criterion of Suzuki & Abe: back at the start pixel about to
// take the first step again. Works on a label image so touching components stay apart.

/** Clockwise neighbour directions with y pointing down: E, SE, S, SW, W, NW, N, NE. */
const DX = [1, 1, 0, -1, -1, -1, 0, 1] as const;
const DY = [0, 1, 1, 1, 0, -1, -1, -1] as const;
/** After stepping in direction d, where the last outside pixel scanned lies, seen from the new pixel. */
const BACKTRACK_AFTER = [6, 6, 0, 0, 2, 2, 4, 4] as const;
/** The start pixel is the component's top-left-most, so its west neighbour is outside. */
const START_BACKTRACK = 4;

/** A growable buffer of interleaved x, y points, reused across calls. */
export class PointBuffer {
  data: Int32Array;
  /** Number of points (pairs). */
  length = 0;
  constructor(initialPoints = 256) {
    this.data = new Int32Array(initialPoints * 2);
  }
  clear(): void {
    this.length = 0;
  }
  push(x: number, y: number): void {
    if (this.length * 2 + 2 > this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length * 2] = x;
    this.data[this.length * 2 + 1] = y;
    this.length++;
  }
}

/**
 * Traces the outer border of the component `label` starting at `start` (index y * width + x of its
 * first pixel in raster order) into `out` (cleared first): the boundary pixels in clockwise order,
 * each step to an 8-neighbour. A one-pixel component gives one point. A pixel on a one-pixel-wide
 * part is visited once on each side, as in every border follower.
 */
export function traceOuterContour(labels: Int32Array, width: number, height: number, label: number, start: number, out: PointBuffer): void {
  out.clear();
  const sx = start % width;
  const sy = (start - sx) / width;
  out.push(sx, sy);
  let x = sx;
  let y = sy;
  let backtrack = START_BACKTRACK;
  let firstDirection = -1;
  // Each boundary pixel is entered at most from 4 sides; the bound only guards against a bad label image.
  const maxSteps = 4 * width * height + 8;
  for (let step = 0; step < maxSteps; step++) {
    let d = -1;
    for (let k = 1; k <= 8; k++) {
      const c = (backtrack + k) & 7;
      const nx = x + DX[c];
      const ny = y + DY[c];
      if (nx >= 0 && nx < width && ny >= 0 && ny < height && labels[ny * width + nx] === label) {
        d = c;
        break;
      }
    }
    if (d < 0) return; // isolated pixel
    if (firstDirection < 0) firstDirection = d;
    else if (x === sx && y === sy && d === firstDirection) {
      out.length--; // the start pixel was pushed again on arrival
      return;
    }
    x += DX[d];
    y += DY[d];
    backtrack = BACKTRACK_AFTER[d];
    out.push(x, y);
  }
  throw new Error(`contour of label ${label} did not close within ${maxSteps} steps`);
}
