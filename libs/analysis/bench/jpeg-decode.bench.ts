// JPEG decode + downscale for analysis: sharp (libvips, shrink-on-load), @napi-rs/image (Rust) and
// jpeg-js (pure JS, the anchor; downscaled by our box filter) on synthetic-scene frames at 640x480
// and 1280x720, to 320 wide and at full size. Timing is interleaved in one process; peak RSS is
// measured per decoder in a child process of its own.
// Run: flock /tmp/fw-build.lock npm run build && node --expose-gc dist/libs/analysis/bench/jpeg-decode.bench.js
import { spawnSync } from 'node:child_process';
import { renderSceneJpeg, SceneOptions } from '@framewire/capture';
import { decodeFrame, JPEG_DECODERS, JpegDecoderName } from '../src';
import { BenchCase, formatNumber, runCases, writeSection } from '@framewire/bench';

const SIZES = [
  { width: 640, height: 480 },
  { width: 1280, height: 720 },
];
const ANALYSIS_WIDTHS = [320, Number.MAX_SAFE_INTEGER];
const FRAMES = 30;
const JPEG_QUALITY = 80;
const ANCHOR: JpegDecoderName = 'jpeg-js';
const RSS_FRAMES = 300;

async function sceneFrames(width: number, height: number): Promise<Buffer[]> {
  const options: SceneOptions = { width, height, fps: 15, seed: 1 };
  const rgb = Buffer.alloc(width * height * 3);
  const frames: Buffer[] = [];
  for (let n = 0; n < FRAMES; n++) frames.push(await renderSceneJpeg(n * 7, options, JPEG_QUALITY, rgb));
  return frames;
}

/** Child mode: decode RSS_FRAMES 1280x720 frames to 320 wide and full size with one decoder; print peak RSS. */
async function measureRss(decoder: JpegDecoderName): Promise<void> {
  const frames = await sceneFrames(1280, 720);
  for (let i = 0; i < RSS_FRAMES; i++) {
    await decodeFrame(frames[i % FRAMES], { maxWidth: 320, decoder });
    await decodeFrame(frames[i % FRAMES], { maxWidth: 1280, decoder });
  }
  process.stdout.write(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

async function main(): Promise<void> {
  const cases: (BenchCase & { size: string; target: string; decoder: JpegDecoderName })[] = [];
  for (const { width, height } of SIZES) {
    const frames = await sceneFrames(width, height);
    for (const maxWidth of ANALYSIS_WIDTHS) {
      const target = maxWidth >= width ? 'full size' : `→ ${maxWidth} wide`;
      for (const decoder of JPEG_DECODERS) {
        let i = 0;
        cases.push({
          name: `${width}x${height} ${target} ${decoder}`,
          size: `${width}x${height}`,
          target,
          decoder,
          fn: () => decodeFrame(frames[i++ % FRAMES], { maxWidth, decoder }),
        });
      }
    }
  }
  const results = await runCases(cases);
  const lines = ['| frame | analysed at | decoder | ms per frame (median) | speed × jpeg-js |', '|---|---|---|---:|---:|'];
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const anchor = results[cases.findIndex((o) => o.size === c.size && o.target === c.target && o.decoder === ANCHOR)];
    lines.push(`| ${c.size} | ${c.target} | ${c.decoder} | ${formatNumber(1000 / results[i].opsPerSec)} | ${(results[i].opsPerSec / anchor.opsPerSec).toFixed(2)} |`);
  }
  const rss = ['| decoder | peak RSS, MiB |', '|---|---:|'];
  for (const decoder of JPEG_DECODERS) {
    const child = spawnSync(process.execPath, [__filename, 'rss', decoder], { encoding: 'utf8' });
    const parsed = JSON.parse(child.stdout) as { maxRssMiB: number };
    rss.push(`| ${decoder} | ${parsed.maxRssMiB.toFixed(0)} |`);
  }
  writeSection(
    'analysis-jpeg-decode',
    'JPEG decode for analysis',
    `Decode plus downscale of synthetic-scene JPEGs (quality ${JPEG_QUALITY}, ${FRAMES} different frames in turn), ` +
      `with \`decodeFrame\` of @framewire/analysis. sharp shrinks while decoding (libjpeg DCT scaling); @napi-rs/image ` +
      `decodes fully then resizes (triangle filter); jpeg-js decodes fully in JavaScript and our box filter downscales.\n\n` +
      `${lines.join('\n')}\n\nPeak RSS of a process decoding ${RSS_FRAMES} 1280x720 frames to 320 wide and at full size ` +
      `with one decoder (the process also renders the frames with sharp):\n\n${rss.join('\n')}`,
  );
}

if (process.argv[2] === 'rss') void measureRss(process.argv[3] as JpegDecoderName);
else void main();
