#!/usr/bin/env node
// Saves a screenshot of the viewer of a running pipeline (the README's picture of `npm run demo`):
//   npm run demo &   then   node tools/demo/screenshot.mjs [docs/img/demo.png] [http://127.0.0.1:8080/] [worker]
// (worker: whose overlays to show, as the page's "overlays of" menu; '' = every worker)
// Debian's chromium, headless, driven by playwright-core; waits until the page has drawn results.
import { chromium } from 'playwright-core';

const [out = 'docs/img/demo.png', url = 'http://127.0.0.1:8080/', worker] = process.argv.slice(2);
const SETTLE_MS = 8_000;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  await page.goto(url, { timeout: 15_000 });
  if (worker !== undefined) {
    await page.waitForSelector(worker === '' ? '#worker' : `#worker option[value="${worker}"]`, { state: 'attached', timeout: 15_000 });
    await page.selectOption('#worker', worker);
  }
  await page.waitForTimeout(SETTLE_MS);
  await page.screenshot({ path: out });
  console.log(`screenshot: ${out}`);
} finally {
  await browser.close();
}
