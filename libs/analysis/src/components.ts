// Connected components of a binary mask (8-connectivity) with per-component statistics, by flood
// fill over a reused stack: no allocation per frame once sized to the image.

/** Per-component statistics, indexed by label (1..count); index 0 is unused. */
export interface ComponentStats {
  area: Int32Array;
  minX: Int32Array;
  minY: Int32Array;
  maxX: Int32Array;
  maxY: Int32Array;
  sumX: Float64Array;
  sumY: Float64Array;
  /** Sum of the weight image over the component (e.g. the per-pixel difference). */
  sumWeight: Float64Array;
  /** Index (y * width + x) of the component's first pixel in raster order: its top-left-most. */
  start: Int32Array;
}

export class ComponentLabeler {
  /** 0 for background, 1..count for the pixels of each component. */
  readonly labels: Int32Array;
  readonly stats: ComponentStats;
  count = 0;
  private readonly stack: Int32Array;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    const pixels = width * height;
    this.labels = new Int32Array(pixels);
    this.stack = new Int32Array(pixels);
    // Isolated pixels are the densest case: at most one per 2x2 block under 8-connectivity.
    const most = Math.ceil(width / 2) * Math.ceil(height / 2) + 1;
    this.stats = {
      area: new Int32Array(most),
      minX: new Int32Array(most),
      minY: new Int32Array(most),
      maxX: new Int32Array(most),
      maxY: new Int32Array(most),
      sumX: new Float64Array(most),
      sumY: new Float64Array(most),
      sumWeight: new Float64Array(most),
      start: new Int32Array(most),
    };
  }

  /** Labels the non-zero pixels of `mask` (width * height bytes); returns the component count. */
  label(mask: Uint8Array, weight?: Uint8Array): number {
    const { width, height, labels, stack } = this;
    const { area, minX, minY, maxX, maxY, sumX, sumY, sumWeight, start } = this.stats;
    labels.fill(0);
    let count = 0;
    const pixels = width * height;
    for (let seed = 0; seed < pixels; seed++) {
      if (mask[seed] === 0 || labels[seed] !== 0) continue;
      const l = ++count;
      let top = 0;
      stack[top++] = seed;
      labels[seed] = l;
      let n = 0;
      let x0 = width;
      let y0 = height;
      let x1 = -1;
      let y1 = -1;
      let sx = 0;
      let sy = 0;
      let sw = 0;
      while (top > 0) {
        const i = stack[--top];
        const y = (i / width) | 0;
        const x = i - y * width;
        n++;
        sx += x;
        sy += y;
        if (weight !== undefined) sw += weight[i];
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        const left = x > 0;
        const right = x < width - 1;
        if (y > 0) {
          const r = i - width;
          if (left && mask[r - 1] !== 0 && labels[r - 1] === 0) {
            labels[r - 1] = l;
            stack[top++] = r - 1;
          }
          if (mask[r] !== 0 && labels[r] === 0) {
            labels[r] = l;
            stack[top++] = r;
          }
          if (right && mask[r + 1] !== 0 && labels[r + 1] === 0) {
            labels[r + 1] = l;
            stack[top++] = r + 1;
          }
        }
        if (left && mask[i - 1] !== 0 && labels[i - 1] === 0) {
          labels[i - 1] = l;
          stack[top++] = i - 1;
        }
        if (right && mask[i + 1] !== 0 && labels[i + 1] === 0) {
          labels[i + 1] = l;
          stack[top++] = i + 1;
        }
        if (y < height - 1) {
          const r = i + width;
          if (left && mask[r - 1] !== 0 && labels[r - 1] === 0) {
            labels[r - 1] = l;
            stack[top++] = r - 1;
          }
          if (mask[r] !== 0 && labels[r] === 0) {
            labels[r] = l;
            stack[top++] = r;
          }
          if (right && mask[r + 1] !== 0 && labels[r + 1] === 0) {
            labels[r + 1] = l;
            stack[top++] = r + 1;
          }
        }
      }
      area[l] = n;
      minX[l] = x0;
      minY[l] = y0;
      maxX[l] = x1;
      maxY[l] = y1;
      sumX[l] = sx;
      sumY[l] = sy;
      sumWeight[l] = sw;
      start[l] = seed;
    }
    this.count = count;
    return count;
  }
}
