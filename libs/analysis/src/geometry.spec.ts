// Connected components, contour tracing and Douglas-Peucker on known shapes, and properties over
// random masks.
import fc from 'fast-check';
import { ComponentLabeler } from './components';
import { PointBuffer, traceOuterContour } from './contour';
import { PolygonSimplifier } from './simplify';

/** A mask from rows of '#' (set) and '.' (clear). */
function maskOf(rows: string[]): { mask: Uint8Array; width: number; height: number } {
  const width = rows[0].length;
  const height = rows.length;
  const mask = new Uint8Array(width * height);
  rows.forEach((row, y) => [...row].forEach((c, x) => (mask[y * width + x] = c === '#' ? 1 : 0)));
  return { mask, width, height };
}

function points(buffer: PointBuffer): [number, number][] {
  return Array.from({ length: buffer.length }, (_, i) => [buffer.data[2 * i], buffer.data[2 * i + 1]]);
}

function contoursOf(rows: string[]): { labeler: ComponentLabeler; contours: [number, number][][] } {
  const { mask, width, height } = maskOf(rows);
  const labeler = new ComponentLabeler(width, height);
  const count = labeler.label(mask);
  const out = new PointBuffer(2);
  const contours: [number, number][][] = [];
  for (let l = 1; l <= count; l++) {
    traceOuterContour(labeler.labels, width, height, l, labeler.stats.start[l], out);
    contours.push(points(out));
  }
  return { labeler, contours };
}

describe('connected components', () => {
  it('joins diagonal neighbours (8-connectivity) and keeps separate blobs apart', () => {
    const { labeler } = contoursOf(['#...#', '.#..#', '..#..', '.....', '##..#']);
    expect(labeler.count).toBe(4);
    const s = labeler.stats;
    expect([s.area[1], s.minX[1], s.minY[1], s.maxX[1], s.maxY[1]]).toEqual([3, 0, 0, 2, 2]);
    expect([s.area[2], s.minX[2], s.maxY[2]]).toEqual([2, 4, 1]);
    expect([s.area[3], s.minX[3], s.maxX[3], s.minY[3]]).toEqual([2, 0, 1, 4]);
    expect([s.area[4], s.sumX[4], s.sumY[4]]).toEqual([1, 4, 4]);
  });

  it('sums the weight image over each component', () => {
    const { mask, width, height } = maskOf(['##.', '...', '..#']);
    const weight = Uint8Array.from([10, 20, 99, 99, 99, 99, 99, 99, 7]);
    const labeler = new ComponentLabeler(width, height);
    expect(labeler.label(mask, weight)).toBe(2);
    expect([labeler.stats.sumWeight[1], labeler.stats.sumWeight[2]]).toEqual([30, 7]);
  });

  it('labels an empty mask with no components and a full one with one', () => {
    const labeler = new ComponentLabeler(7, 5);
    expect(labeler.label(new Uint8Array(35))).toBe(0);
    expect(labeler.label(new Uint8Array(35).fill(1))).toBe(1);
    expect(labeler.stats.area[1]).toBe(35);
  });
});

describe('contour tracing', () => {
  it('traces a square clockwise from its top-left pixel', () => {
    const { contours } = contoursOf(['.....', '.###.', '.###.', '.###.', '.....']);
    expect(contours[0]).toEqual([[1, 1], [2, 1], [3, 1], [3, 2], [3, 3], [2, 3], [1, 3], [1, 2]]);
  });

  it('traces a single pixel and a two-pixel bar', () => {
    expect(contoursOf(['...', '.#.', '...']).contours[0]).toEqual([[1, 1]]);
    expect(contoursOf(['##']).contours[0]).toEqual([[0, 0], [1, 0]]);
  });

  it('follows pixels that touch only at corners, visiting the middle of a diagonal line from both sides', () => {
    const { contours } = contoursOf(['#..', '.#.', '..#']);
    expect(contours[0]).toEqual([[0, 0], [1, 1], [2, 2], [1, 1]]);
  });

  it('traces a blob touching the image edges and another in a concavity separately', () => {
    const { contours } = contoursOf(['####', '#..#', '#.##', '####']);
    expect(contours).toHaveLength(1);
    expect(new Set(contours[0].map(([x, y]) => `${x},${y}`)).size).toBe(12);
  });

  it('traces only the outer border of a ring', () => {
    const { contours } = contoursOf(['#####', '#...#', '#...#', '#####']);
    expect(contours[0]).toHaveLength(14);
  });
});

const maskArbitrary = fc
  .record({ width: fc.integer({ min: 1, max: 14 }), height: fc.integer({ min: 1, max: 12 }) })
  .chain(({ width, height }) =>
    fc.record({ width: fc.constant(width), height: fc.constant(height), bits: fc.uint8Array({ minLength: width * height, maxLength: width * height, min: 0, max: 1 }) }),
  );

describe('contour tracing properties', () => {
  it('every contour closes through 8-neighbour steps over boundary pixels of its component and reaches its bounding box on all four sides', () => {
    fc.assert(
      fc.property(maskArbitrary, ({ width, height, bits }) => {
        const labeler = new ComponentLabeler(width, height);
        const count = labeler.label(bits);
        const out = new PointBuffer(1);
        const { labels, stats } = labeler;
        for (let l = 1; l <= count; l++) {
          traceOuterContour(labels, width, height, l, stats.start[l], out);
          const p = points(out);
          expect(p.length).toBeGreaterThanOrEqual(1);
          for (let i = 0; i < p.length; i++) {
            const [x, y] = p[i];
            expect(labels[y * width + x]).toBe(l);
            const outside = (nx: number, ny: number) => nx < 0 || ny < 0 || nx >= width || ny >= height || labels[ny * width + nx] !== l;
            // On the border: some 8-neighbour is not in the component (outer border of 8-connected sets).
            const onBorder = [-1, 0, 1].some((dy) => [-1, 0, 1].some((dx) => (dx !== 0 || dy !== 0) && outside(x + dx, y + dy)));
            expect(onBorder).toBe(true);
            const [qx, qy] = p[(i + 1) % p.length];
            expect(Math.max(Math.abs(qx - x), Math.abs(qy - y))).toBeLessThanOrEqual(p.length === 1 ? 0 : 1);
          }
          const xs = p.map(([x]) => x);
          const ys = p.map(([, y]) => y);
          expect([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]).toEqual([stats.minX[l], stats.minY[l], stats.maxX[l], stats.maxY[l]]);
        }
      }),
      { numRuns: 300 },
    );
  });
});

function simplify(pointsIn: [number, number][], epsilon: number): [number, number][] {
  const input = new PointBuffer(1);
  for (const [x, y] of pointsIn) input.push(x, y);
  const out = new PointBuffer(1);
  new PolygonSimplifier().simplifyClosed(input, epsilon, out);
  return points(out);
}

function distanceToSegment([px, py]: [number, number], [ax, ay]: [number, number], [bx, by]: [number, number]): number {
  const vx = bx - ax;
  const vy = by - ay;
  const l2 = vx * vx + vy * vy;
  const t = l2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * vx + (py - ay) * vy) / l2));
  return Math.hypot(px - (ax + t * vx), py - (ay + t * vy));
}

describe('Douglas-Peucker', () => {
  it('reduces the traced border of a square to its four corners', () => {
    const { contours } = contoursOf(['......', '.####.', '.####.', '.####.', '.####.', '......']);
    expect(simplify(contours[0], 0.5)).toEqual([[1, 1], [4, 1], [4, 4], [1, 4]]);
  });

  it('keeps a vertex that sticks out farther than epsilon and drops one within it', () => {
    const square: [number, number][] = [[0, 0], [5, 0], [10, 1], [15, 0], [20, 0], [20, 20], [0, 20]];
    expect(simplify(square, 2)).toEqual([[0, 0], [20, 0], [20, 20], [0, 20]]);
    // (5, 0) and (15, 0) lie 0.5 px from the chords to (10, 1): not farther than epsilon.
    expect(simplify(square, 0.5)).toEqual([[0, 0], [10, 1], [20, 0], [20, 20], [0, 20]]);
    expect(simplify(square, 0.4)).toEqual(square);
  });

  it('leaves polygons of three or fewer points alone', () => {
    expect(simplify([[1, 2], [3, 4]], 10)).toEqual([[1, 2], [3, 4]]);
  });

  it('keeps a subset of the vertices, in order, with every dropped vertex within epsilon of the result', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -50, max: 50 }), fc.integer({ min: -50, max: 50 })), { minLength: 1, maxLength: 40 }),
        fc.double({ min: 0, max: 20, noNaN: true }),
        (pts, epsilon) => {
          const kept = simplify(pts as [number, number][], epsilon);
          // Subsequence of the input.
          let j = 0;
          const keptIndex: number[] = [];
          for (const k of kept) {
            while (j < pts.length && (pts[j][0] !== k[0] || pts[j][1] !== k[1])) j++;
            expect(j).toBeLessThan(pts.length);
            keptIndex.push(j++);
          }
          if (pts.length <= 3) return;
          expect(keptIndex[0]).toBe(0);
          for (let s = 0; s < keptIndex.length; s++) {
            const a = keptIndex[s];
            const b = s + 1 < keptIndex.length ? keptIndex[s + 1] : pts.length;
            for (let i = a + 1; i < b; i++) {
              const d = distanceToSegment(pts[i] as [number, number], pts[a] as [number, number], pts[b % pts.length] as [number, number]);
              expect(d).toBeLessThanOrEqual(epsilon + 1e-9);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
