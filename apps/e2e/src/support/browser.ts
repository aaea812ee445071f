// The browsers the viewer is tested in, behind the few page operations its test uses: Debian's
// Chromium through playwright-core, and Debian's Firefox ESR through puppeteer-core over WebDriver
// BiDi (playwright drives only its own patched Firefox build, which cannot be downloaded here).
import { existsSync } from 'node:fs';
import { chromium, Page as PlaywrightPage } from 'playwright-core';
import puppeteer, { Page as PuppeteerPage } from 'puppeteer-core';

/** A function that runs in the page; what it returns must be serializable. */
type PageFunction<A, R> = (arg: A) => R;

/** One open page, as the viewer test drives it. Selectors are CSS selectors. */
export interface BrowserPage {
  /** Console errors (with ` at <url>` when the browser names where they came from) and uncaught
   *  page errors, as they were logged. */
  readonly consoleErrors: string[];
  /** Loads `url` and returns the HTTP status of the document. */
  goto(url: string, timeoutMs: number): Promise<number | undefined>;
  evaluate<A, R>(fn: PageFunction<A, R>, arg: A): Promise<R>;
  waitForFunction<A>(fn: PageFunction<A, unknown>, arg: A, timeoutMs: number): Promise<void>;
  click(selector: string): Promise<void>;
  fill(selector: string, value: string): Promise<void>;
  select(selector: string, value: string): Promise<void>;
  setChecked(selector: string, checked: boolean): Promise<void>;
  text(selector: string): Promise<string>;
  attribute(selector: string, name: string): Promise<string | null>;
  /** Moves the pointer to (x, y) CSS pixels from the element's top-left corner. */
  hover(selector: string, x: number, y: number): Promise<void>;
  /** PNG of one element. */
  elementScreenshot(selector: string): Promise<Buffer>;
  /** PNG of the viewport, saved to `path`. */
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

export interface BrowserKind {
  name: string;
  executablePath: string;
  /** Why it cannot run here (the executable is missing), or undefined. */
  problem(): string | undefined;
  open(viewport: { width: number; height: number }, profileDir: string): Promise<BrowserPage>;
}

/** A console message and, when the browser gives one, where it came from: a failed resource load's
 *  text does not name the resource. */
const withUrl = (text: string, url: string | undefined): string => (url ? `${text} at ${url}` : text);

/** The flags machine.md names for Chromium here (no sandbox as root, no GPU, nothing phoning home). */
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Bound on starting a browser and on each protocol call to it. */
const LAUNCH_TIMEOUT_MS = 60_000;

function missing(path: string, apt: string): string | undefined {
  return existsSync(path) ? undefined : `${path} is not installed (apt-get install ${apt})`;
}

export const CHROMIUM: BrowserKind = {
  name: 'Chromium',
  executablePath: '/usr/bin/chromium',
  problem() {
    return missing(this.executablePath, 'chromium');
  },
  async open(viewport, profileDir) {
    const context = await chromium.launchPersistentContext(profileDir, { executablePath: this.executablePath, headless: true, args: CHROMIUM_FLAGS, viewport, timeout: LAUNCH_TIMEOUT_MS });
    const page: PlaywrightPage = context.pages()[0] ?? (await context.newPage());
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(withUrl(m.text(), m.location().url));
    });
    page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
    return {
      consoleErrors,
      goto: async (url, timeout) => (await page.goto(url, { waitUntil: 'load', timeout }))?.status(),
      // Our arguments are plain data, which playwright passes through unchanged (it only unboxes handles).
      evaluate: <A, R>(fn: PageFunction<A, R>, arg: A) => page.evaluate(fn as (arg: unknown) => R, arg),
      waitForFunction: async (fn, arg, timeout) => {
        await page.waitForFunction(fn as (arg: unknown) => unknown, arg, { timeout });
      },
      click: (selector) => page.click(selector),
      fill: (selector, value) => page.fill(selector, value),
      select: async (selector, value) => {
        await page.selectOption(selector, value);
      },
      setChecked: (selector, checked) => page.setChecked(selector, checked),
      text: async (selector) => (await page.textContent(selector)) ?? '',
      attribute: (selector, name) => page.getAttribute(selector, name),
      hover: (selector, x, y) => page.hover(selector, { position: { x, y } }),
      elementScreenshot: (selector) => page.locator(selector).screenshot(),
      screenshot: async (path) => {
        await page.screenshot({ path });
      },
      close: () => context.close(),
    };
  },
};

export const FIREFOX: BrowserKind = {
  name: 'Firefox',
  executablePath: '/usr/bin/firefox-esr',
  problem() {
    return missing(this.executablePath, 'firefox-esr');
  },
  async open(viewport, profileDir) {
    // puppeteer's default Firefox preferences turn off updates, telemetry and other calls home.
    // The window size is a launch argument, not page.setViewport: puppeteer's BiDi setViewport also
    // sends emulation.setScreenOrientationOverride, which Firefox ESR 140 (Debian 12's) does not know.
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: this.executablePath,
      headless: true,
      userDataDir: profileDir,
      args: [`--window-size=${viewport.width},${viewport.height}`],
      defaultViewport: null,
      timeout: LAUNCH_TIMEOUT_MS,
      protocolTimeout: LAUNCH_TIMEOUT_MS,
    });
    try {
      const page: PuppeteerPage = (await browser.pages())[0] ?? (await browser.newPage());
      const consoleErrors: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(withUrl(m.text(), m.location().url));
      });
      page.on('pageerror', (e) => consoleErrors.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
      const element = async (selector: string) => {
        const e = await page.$(selector);
        if (!e) throw new Error(`no element matches ${selector}`);
        return e;
      };
      return {
        consoleErrors,
        goto: async (url, timeout) => (await page.goto(url, { waitUntil: 'load', timeout }))?.status(),
        evaluate: async <A, R>(fn: PageFunction<A, R>, arg: A) => (await page.evaluate(fn as (arg: unknown) => R, arg)) as R,
        waitForFunction: async (fn, arg, timeout) => {
          await page.waitForFunction(fn as (arg: unknown) => unknown, { timeout }, arg);
        },
        click: (selector) => page.click(selector),
        // Sets the value the way the input's type takes it (typed text, or the value of a date input) with input and change events.
        fill: (selector, value) => page.locator(selector).fill(value),
        select: async (selector, value) => {
          const chosen = await page.select(selector, value);
          if (!chosen.includes(value)) throw new Error(`${selector} has no option ${value}`);
        },
        setChecked: async (selector, checked) => {
          const box = await element(selector);
          if ((await box.evaluate((e) => (e as unknown as { checked: boolean }).checked)) !== checked) await box.click();
        },
        text: async (selector) => (await (await element(selector)).evaluate((e) => e.textContent)) ?? '',
        attribute: async (selector, name) => (await element(selector)).evaluate((e, n) => e.getAttribute(n), name),
        hover: async (selector, x, y) => {
          const box = await (await element(selector)).boundingBox();
          if (!box) throw new Error(`${selector} is not shown`);
          await page.mouse.move(box.x + x, box.y + y);
        },
        elementScreenshot: async (selector) => Buffer.from(await (await element(selector)).screenshot()),
        screenshot: async (path) => {
          await page.screenshot({ path });
        },
        close: () => browser.close(),
      };
    } catch (error) {
      await browser.close();
      throw error;
    }
  },
};
