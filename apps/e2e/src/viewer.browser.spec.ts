// The live viewer in real browsers (Debian's Chromium driven by playwright-core, Debian's Firefox ESR
// driven by puppeteer-core over WebDriver BiDi) against one real pipeline on the synthetic scene:
// the page loads without console errors (the gateway's Content-Security-Policy allows nothing
// inline: a violation would be one), the video moves, overlays are drawn where the scene says the
// objects are (and not elsewhere), a command from the form is acknowledged on the page, and replay
// plays the recorded results over the recorded video, and the pools panel shows a worker pool joined
// at the supplier (two raw Pull members) and forgets it when they leave. All of it twice: without a token, and with
// FW_AUTH_TOKEN, where the page asks for the token (refusing a wrong one) or takes it from the URL
// fragment, and sends it on every read, command and WebSocket.
// FW_VIEWER_SCREENSHOT=<path> also saves a screenshot of the page in Chromium (docs/img/viewer.png).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frameNumberAt, objectCentroid, sceneAt, SceneObject } from '@framewire/capture';
import { tokenMetadata } from '@framewire/grpc-client';
import { PoolMode } from '@framewire/proto';
import { secretText } from '@framewire/service-runtime';
import { openPull, supplierStats, waitForHealth } from '@framewire/testing';
import { BrowserKind, BrowserPage, CHROMIUM } from './support/browser';
import { Pipeline, sleep, startPipeline } from './support/pipeline';
import { colorAround, consoleErrorsBut, near, pageInBrowser, PageElement, pixel, Rgb, sampleCanvas, viewerBrowsers } from './support/viewer-canvas';

const STREAM = 'cam-view';
const FPS = 15;
const WIDTH = 640;
const HEIGHT = 480;
const SEED = 1;
/** The motion analyzer's background model heals its start-up ghosts in about 3 s (pipeline.spec.ts). */
const ANALYZER_WARM_UP_MS = 3_500;
/** Bounds on waiting for the page (generous: the machine is shared). */
const PAGE_WAIT_MS = 30_000;
/** Colours the overlays draw with (apps/viewer overlays.ts, libs/analysis keypoints.ts). */
const KEYPOINT_MARKER: Rgb = [255, 212, 0];
const STAGE_POINT: Rgb = [255, 64, 255];
/** A marker is looked for this far around the scene's centroid (analysis runs at half size from a JPEG). */
const SEARCH_RADIUS_PX = 8;
/** "Away from the objects": at least this far from every object's box. */
const AWAY_PX = 40;
/** Replay wants this much recorded video; the gateway records the frames it relays, from the first viewer on. */
const RECORDED_MS = 6_000;
/** Samples of the canvas tried until one shows a frame with exactly matched overlays. */
const MAX_SAMPLES = 40;
const TOKEN = 'viewer-browser-token-0123456789';
/** The pipeline without a token, and with one. */
const TOKEN_MODES: [string, string | undefined][] = [
  ['without a token', undefined],
  ['with a token', TOKEN],
];

/** Console errors that are not the page's fault: besides /api/health's 503, the refused command below. */
const COMMAND_REFUSED = /status of 422\b.* at http:\/\/[^/]+\/api\/commands$/;
const unexpectedConsoleErrors = (page: BrowserPage): string[] => consoleErrorsBut(page, [COMMAND_REFUSED]);

declare const document: { getElementById(id: string): PageElement | null; querySelectorAll(selector: string): ArrayLike<PageElement> };
declare const location: { hash: string };
declare const sessionStorage: { clear(): void };

const runnable = viewerBrowsers();
const describeWithBrowser = runnable.length > 0 ? describe : describe.skip;

/** Points of a coarse grid at least AWAY_PX from every object's box. */
function pointsAway(objects: readonly SceneObject[]): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  for (let y = 10; y < HEIGHT; y += 20) {
    for (let x = 10; x < WIDTH; x += 20) {
      const far = objects.every((o) => x < o.box.x - AWAY_PX || x > o.box.x + o.box.width + AWAY_PX || y < o.box.y - AWAY_PX || y > o.box.y + o.box.height + AWAY_PX);
      if (far) out.push({ x, y });
    }
  }
  return out;
}

async function setToggles(page: BrowserPage, on: readonly string[]): Promise<void> {
  for (const kind of ['segmentation', 'detections', 'tracks', 'keypoints', 'stage']) {
    await page.setChecked(`#toggles input[data-kind="${kind}"]`, on.includes(kind));
  }
}

describeWithBrowser.each(TOKEN_MODES)('the live viewer (real pipeline, synthetic scene) %s', (_mode, token) => {
  jest.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-viewer-e2e-'));
  let pipeline: Pipeline;
  let healthyAt = 0;

  beforeAll(async () => {
    pipeline = await startPipeline({
      streamId: STREAM,
      fps: FPS,
      width: WIDTH,
      height: HEIGHT,
      archiveDir: join(dir, 'archive'),
      workers: ['worker-1'],
      token,
      appEnv: { gateway: { FW_VIEWER_RECORD_FRAMES: 'on', FW_FRAME_ARCHIVE_DIR: join(dir, 'frames') } },
    });
    await waitForHealth(pipeline.httpUrl, 200, 60_000);
    healthyAt = Date.now();
  }, 120_000);

  afterAll(async () => {
    await pipeline?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  describe.each(runnable.map((kind) => [kind.name, kind] as const))('in %s', (_name, kind) =>
    viewerTests(kind, { pipeline: () => pipeline, healthyAt: () => healthyAt, dir, token }),
  );
});

/** The page's tests in one browser; the pipeline is shared (started once for all browsers). */
function viewerTests(kind: BrowserKind, shared: { pipeline: () => Pipeline; healthyAt: () => number; dir: string; token: string | undefined }): void {
  const openPage = pageInBrowser(kind, shared.dir);
  let page: BrowserPage;
  let videoShownAt = 0;
  beforeAll(() => {
    page = openPage();
  });

  const pageUrl = () => `http://127.0.0.1:${shared.pipeline().ports.http}/`;
  const tokenState = () => page.evaluate(() => document.getElementById('token-form')!.dataset.state, undefined);

  it('loads without console errors and shows the video', async () => {
    const started = Date.now();
    const status = await page.goto(pageUrl(), PAGE_WAIT_MS);
    const loadMs = Date.now() - started;
    expect(status).toBe(200);
    const token = shared.token;
    if (token !== undefined) {
      // The gateway refuses the page's reads: it asks for the token, refuses a wrong one, and goes
      // live with the right one. (The browser logs each 401 it gets meanwhile: expected here.)
      await page.waitForFunction(() => document.getElementById('token-form')!.dataset.state === 'needed', undefined, PAGE_WAIT_MS);
      expect(await page.evaluate(() => document.getElementById('token-form')!.hidden, undefined)).toBe(false);
      await page.fill('#token', 'a-wrong-token-0123456789');
      await page.click('#token-use');
      await page.waitForFunction(() => (document.getElementById('token-note')!.textContent ?? '').includes('refused'), undefined, PAGE_WAIT_MS);
      await page.fill('#token', token);
      await page.click('#token-use');
      await page.waitForFunction(() => document.getElementById('token-form')!.dataset.state === 'accepted', undefined, PAGE_WAIT_MS);
      page.consoleErrors.splice(0);
    }
    await page.waitForFunction(() => Number(document.getElementById('video')!.dataset.framesShown ?? 0) > 3, undefined, PAGE_WAIT_MS);
    videoShownAt = Date.now();
    expect(await tokenState()).toBe(shared.token === undefined ? 'none' : 'accepted');
    process.stderr.write(`viewer page loaded in ${kind.name} in ${loadMs} ms\n`);
    expect(unexpectedConsoleErrors(page)).toEqual([]);
  });

  it('shows a worker pool: its mode and members, and its stream with coverage, age, drops and owner; then forgets it', async () => {
    const poolId = `viewer-pool-${kind.name.toLowerCase()}`;
    const memberIds = [`${poolId}-a`, `${poolId}-b`];
    const metadata = shared.token === undefined ? undefined : tokenMetadata(secretText(shared.token));
    const members = memberIds.map((workerId) =>
      openPull(shared.pipeline().supplierAddress, { workerId, streamId: STREAM, poolId, poolMode: PoolMode.POOL_MODE_STICKY }, { keepTaking: true, metadata }),
    );
    const cellsOf = (id: string) => page.evaluate((pool) => Array.from(document.querySelectorAll(`#pools tbody[data-pool="${pool}"] td`)).map((td) => td.textContent ?? ''), id);
    try {
      // Shown once both members joined and the pool analysed a frame (a coverage, not a dash).
      await page.waitForFunction(
        ({ pool, stream }) => {
          const caption = document.querySelectorAll(`#pools tbody[data-pool="${pool}"] th`)[0]?.textContent ?? '';
          const coverage = document.querySelectorAll(`#pools tbody[data-pool="${pool}"] tr[data-stream="${stream}"] td`)[1]?.textContent ?? '';
          return caption.includes('2 members') && coverage.endsWith('%');
        },
        { pool: poolId, stream: STREAM },
        PAGE_WAIT_MS,
      );
      expect(await page.evaluate(() => document.getElementById('pools-section')!.hidden, undefined)).toBe(false);
      const caption = await page.text(`#pools tbody[data-pool="${poolId}"] th`);
      expect(caption.startsWith(`${poolId} · sticky · 2 members: `)).toBe(true);
      expect(caption.slice(caption.indexOf(': ') + 2).split(', ').sort()).toEqual(memberIds);
      const [stream, coverage, age, dropped, owner] = await cellsOf(poolId);
      const atSupplier = (await supplierStats(shared.pipeline().supplierAddress)).pools.find((p) => p.poolId === poolId);
      expect({ stream, coverage, age, dropped, owner }).toEqual({
        stream: STREAM,
        coverage: expect.stringMatching(/^\d{1,3}\.\d %$/),
        age: expect.stringMatching(/^\d+\.\d \/ \d+\.\d$/),
        dropped: expect.stringMatching(/^\d+$/),
        owner: atSupplier?.streams[0]?.owner,
      });
      expect(memberIds).toContain(owner);
    } finally {
      for (const m of members) m.close();
    }
    // The pool left the supplier with its last member: the page forgets it (no other pool: the section hides).
    await page.waitForFunction(
      (pool) => document.querySelectorAll(`#pools tbody[data-pool="${pool}"]`).length === 0 && document.getElementById('pools-section')!.hidden,
      poolId,
      PAGE_WAIT_MS,
    );
  });

  it('moves: the video canvas differs between two screenshots', async () => {
    const first = await page.elementScreenshot('#video');
    await sleep(1_000);
    const second = await page.elementScreenshot('#video');
    expect(first.equals(second)).toBe(false);
  });

  it('draws overlays where the scene says the objects are, and nothing away from them', async () => {
    await sleep(Math.max(0, shared.healthyAt() + ANALYZER_WARM_UP_MS - Date.now()));
    const shot = process.env.FW_VIEWER_SCREENSHOT;
    if (shot && kind === CHROMIUM) await page.screenshot(shot);
    for (const [kinds, color] of [
      [['keypoints'], KEYPOINT_MARKER],
      [['stage'], STAGE_POINT],
    ] as const) {
      await setToggles(page, kinds);
      let checked: { sequence: number; objects: number } | undefined;
      for (let attempt = 0; attempt < MAX_SAMPLES && checked === undefined; attempt++) {
        const s = await sampleCanvas(page);
        if (!kinds.every((k) => s.exact.includes(k))) {
          await sleep(100);
          continue;
        }
        const scene = sceneAt(frameNumberAt(s.captureUs, FPS), { width: WIDTH, height: HEIGHT, fps: FPS, seed: SEED });
        for (const o of scene.objects) {
          const c = objectCentroid(o);
          expect({ object: o.shape, kinds, at: c, drawn: colorAround(s, c.x, c.y, SEARCH_RADIUS_PX, color) }).toEqual({ object: o.shape, kinds, at: c, drawn: true });
        }
        const away = pointsAway(scene.objects);
        expect(away.length).toBeGreaterThan(20);
        const marked = away.filter((p) => near(pixel(s, p.x, p.y), color));
        expect({ kinds, marked }).toEqual({ kinds, marked: [] });
        checked = { sequence: s.sequence, objects: scene.objects.length };
      }
      expect({ kinds, checked: checked !== undefined }).toEqual({ kinds, checked: true });
    }
    await setToggles(page, ['segmentation', 'detections', 'tracks', 'keypoints', 'stage']);
  });

  it('sends a command from the form and shows its acknowledgement (and an error as an error)', async () => {
    const send = async (type: string, target: string, payload: string) => {
      await page.select('#cmd-type', type);
      await page.fill('#cmd-target', target);
      await page.fill('#cmd-payload', payload);
      await page.evaluate(() => {
        const a = document.getElementById('cmd-answer')!;
        a.textContent = '';
        delete a.dataset.status;
      }, undefined);
      await page.click('#cmd-send');
      await page.waitForFunction(() => document.getElementById('cmd-answer')!.dataset.status !== undefined, undefined, PAGE_WAIT_MS);
      return { status: await page.attribute('#cmd-answer', 'data-status'), text: await page.text('#cmd-answer') };
    };
    expect(await send('capture.pause', 'capture', '{}')).toEqual({ status: 'success', text: expect.stringContaining('success from capture') });
    expect(await send('capture.resume', 'capture', '{}')).toEqual({ status: 'success', text: expect.stringContaining('success from capture') });
    const refused = await send('worker.set_analyzer', 'worker-1', '{"analyzer": "motion", "settings": {"threshold": 9999}}');
    expect(refused).toEqual({ status: 'error', text: expect.stringContaining('threshold') });
    // The video goes on after the resume.
    const shown = Number(await page.attribute('#video', 'data-frames-shown'));
    await page.waitForFunction((n) => Number(document.getElementById('video')!.dataset.framesShown) > n + 5, shown, PAGE_WAIT_MS);
  });

  it('replays recorded results over the recorded video', async () => {
    await sleep(Math.max(0, videoShownAt + RECORDED_MS - Date.now()));
    await page.waitForFunction((stream) => [...document.getElementById('replay-stream')!.options].some((o) => o.value === stream), STREAM, PAGE_WAIT_MS);
    await page.select('#replay-stream', STREAM);
    // The last 20 s, as fast as the socket takes it.
    const toLocal = (ms: number) => new Date(ms - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await page.fill('#replay-from', toLocal(Date.now() - 20_000));
    await page.fill('#replay-to', toLocal(Date.now() + 1_000));
    await page.select('#replay-pace', 'fast');
    await page.setChecked('#replay-video', true);
    await page.click('#replay-play');
    await page.waitForFunction(() => document.getElementById('replay-status')!.dataset.state !== 'playing', undefined, PAGE_WAIT_MS);
    const status = await page.evaluate(() => ({ ...document.getElementById('replay-status')!.dataset, text: document.getElementById('replay-status')?.textContent ?? '' }) as Record<string, string | undefined>, undefined);
    expect(status).toMatchObject({ state: 'finished' });
    expect(Number(status.results)).toBeGreaterThan(FPS * 5);
    expect(Number(status.frames)).toBeGreaterThan(FPS * 5);
    expect(await page.text('#mode')).toBe('replay');
    // Recorded frames were shown with the recorded results for exactly those frames. (As fast as
    // the socket goes, the page shows what it can decode; the last frames of the range may have
    // no results recorded yet, so the canvas at the end is not the check.)
    await page.waitForFunction(() => Number(document.getElementById('replay-status')!.dataset.matched ?? 0) > 0, undefined, PAGE_WAIT_MS);
    const replayed = await page.evaluate(() => ({ ...document.getElementById('replay-status')!.dataset }) as Record<string, string | undefined>, undefined);
    process.stderr.write(`replay in ${kind.name}: ${replayed.frames} frames received, ${replayed.shown} shown, ${replayed.matched} with their own results\n`);
    // Most frames shown carry their own results (a frame the worker skipped, or the range's last, may not).
    expect(Number(replayed.matched) * 2).toBeGreaterThanOrEqual(Number(replayed.shown));
    await page.click('#replay-live');
    expect(await page.text('#mode')).toBe('live');
  });

  it('goes on showing the video with its overlays after the capture restarts and counts from 1 again', async () => {
    const before = await sampleCanvas(page);
    expect(before.sequence).toBeGreaterThan(FPS * 5);
    await shared.pipeline().stopService('capture');
    await shared.pipeline().startCapture();
    // Frames of the new run (sequences below the last one shown) are shown, with their own results.
    await page.waitForFunction(
      (last) => {
        const d = document.getElementById('video')!.dataset;
        return Number(d.frameSequence) < last && (d.overlayExact ?? '') !== '';
      },
      before.sequence,
      PAGE_WAIT_MS,
    );
  });

  if (shared.token !== undefined) {
    it('takes the token from the URL fragment, which leaves the address bar, and goes live', async () => {
      await page.evaluate(() => sessionStorage.clear(), undefined);
      await page.goto('about:blank', PAGE_WAIT_MS);
      // 304: the page is revalidated (cache-control no-cache).
      expect([200, 304]).toContain(await page.goto(`${pageUrl()}#token=${encodeURIComponent(shared.token!)}`, PAGE_WAIT_MS));
      await page.waitForFunction(() => Number(document.getElementById('video')!.dataset.framesShown ?? 0) > 3, undefined, PAGE_WAIT_MS);
      expect(await tokenState()).toBe('accepted');
      expect(await page.evaluate(() => location.hash, undefined)).toBe('');
    });
  }

  it('logged no console error along the way', () => {
    process.stderr.write(`console errors in ${kind.name}: ${JSON.stringify(page.consoleErrors)}\n`);
    expect(unexpectedConsoleErrors(page)).toEqual([]);
  });
}
