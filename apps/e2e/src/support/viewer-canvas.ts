// What the viewer's browser tests share: the browsers that can run here, a page per browser, and the
// video canvas sampled in one step (its data attributes, which say what is drawn, and its pixels).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { BrowserKind, BrowserPage, CHROMIUM, FIREFOX } from './browser';

export type Rgb = readonly [number, number, number];

/** A drawn pixel matches its colour within this distance per channel (antialiasing, JPEG below it). */
export const COLOR_TOLERANCE = 40;
/** Bound on opening and closing a browser (generous: the machine is shared). */
const BROWSER_HOOK_TIMEOUT_MS = 120_000;

/** The page's elements as the page.evaluate callbacks use them (the e2e program has no DOM typings;
 *  the callbacks run in the browser). */
export interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  hidden: boolean;
  width: number;
  height: number;
  title: string;
  options: { value: string }[];
  toDataURL(type: string): string;
  getBoundingClientRect(): { width: number; height: number };
}
declare const document: { getElementById(id: string): PageElement | null };

/** The browsers to test in. A browser missing outside CI is left out with the reason on stderr;
 *  never under CI (.ci/run installs both). */
export function viewerBrowsers(): BrowserKind[] {
  const browsers = [CHROMIUM, FIREFOX].map((kind) => ({ kind, problem: process.env.CI ? undefined : kind.problem() }));
  for (const b of browsers) if (b.problem) process.stderr.write(`skipped: the viewer tests in ${b.kind.name}: ${b.problem}\n`);
  return browsers.filter((b) => !b.problem).map((b) => b.kind);
}

export interface CanvasSample {
  sequence: number;
  captureUs: number;
  /** The overlay kinds drawn from results of exactly this frame. */
  exact: string[];
  framesShown: number;
  /** Skeleton limbs drawn, and the labels' texts (render.ts). */
  limbs: number;
  labels: string[];
  width: number;
  height: number;
  /** Packed RGB. */
  pixels: Buffer;
}

/** What the canvas shows now, in one step: the frame's sequence and time, what is drawn, its pixels. */
export async function sampleCanvas(page: BrowserPage): Promise<CanvasSample> {
  const raw = await page.evaluate(() => {
    const c = document.getElementById('video')!;
    return { dataset: { ...c.dataset }, png: c.toDataURL('image/png'), width: c.width, height: c.height };
  }, undefined);
  const png = Buffer.from(String(raw.png).split(',')[1], 'base64');
  const pixels = await sharp(png).removeAlpha().raw().toBuffer();
  return {
    sequence: Number(raw.dataset.frameSequence ?? -1),
    captureUs: Number(raw.dataset.frameCaptureUs ?? 0),
    exact: String(raw.dataset.overlayExact ?? '').split(',').filter(Boolean),
    framesShown: Number(raw.dataset.framesShown ?? 0),
    limbs: Number(raw.dataset.limbs ?? 0),
    labels: JSON.parse(raw.dataset.labels ?? '[]') as string[],
    width: raw.width,
    height: raw.height,
    pixels,
  };
}

export const near = (p: Rgb, q: Rgb) => Math.abs(p[0] - q[0]) <= COLOR_TOLERANCE && Math.abs(p[1] - q[1]) <= COLOR_TOLERANCE && Math.abs(p[2] - q[2]) <= COLOR_TOLERANCE;

export function pixel(s: CanvasSample, x: number, y: number): Rgb {
  const i = (y * s.width + x) * 3;
  return [s.pixels[i], s.pixels[i + 1], s.pixels[i + 2]];
}

/** Whether any pixel within `radius` of (x, y) has `color`. */
export function colorAround(s: CanvasSample, x: number, y: number, radius: number, color: Rgb): boolean {
  for (let dy = -radius; dy <= radius; dy++) {
    for (let dx = -radius; dx <= radius; dx++) {
      const px = Math.round(x) + dx;
      const py = Math.round(y) + dy;
      if (px >= 0 && py >= 0 && px < s.width && py < s.height && near(pixel(s, px, py), color)) return true;
    }
  }
  return false;
}

/** A browser logs every HTTP error answer of a fetch as a failed resource load; the page expects
 *  and shows /api/health's 503 (a loaded machine can fail a check for a moment). */
const HEALTH_UNAVAILABLE = /status of 503\b.* at http:\/\/[^/]+\/api\/health$/;

/** The page's console errors but /api/health's 503 and those matching `expected`. */
export function consoleErrorsBut(page: BrowserPage, expected: readonly RegExp[] = []): string[] {
  return page.consoleErrors.filter((e) => ![HEALTH_UNAVAILABLE, ...expected].some((a) => a.test(e)));
}

/** A page of `kind`, opened (with a profile of its own under `dir`) before the enclosing describe's
 *  tests and closed after them; the function answers it once open. */
export function pageInBrowser(kind: BrowserKind, dir: string): () => BrowserPage {
  let page: BrowserPage | undefined;
  beforeAll(async () => {
    const profile = join(dir, `${kind.name.toLowerCase()}-profile`);
    mkdirSync(profile, { recursive: true });
    page = await kind.open({ width: 1280, height: 900 }, profile);
  }, BROWSER_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await page?.close();
  }, BROWSER_HOOK_TIMEOUT_MS);
  return () => {
    if (page === undefined) throw new Error(`the ${kind.name} page is not open`);
    return page;
  };
}
