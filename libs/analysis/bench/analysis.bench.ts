// The analysis pipeline (motion → tracks → keypoints) per frame on a 320x240 analysis image of
// the 640x480 synthetic scene, with decoding excluded and included, and heap growth per frame over
// many frames (must stay flat: the motion analyzer reuses its buffers).
// Run: flock /tmp/fw-build.lock npm run build && node --expose-gc dist/libs/analysis/bench/analysis.bench.js
import { renderSceneJpeg, SceneOptions } from '@framewire/capture';
import { AnalysisPipeline, BUILT_IN_ANALYZERS, createAnalyzers, decodeFrame, DecodedFrame, DEFAULT_JPEG_DECODER } from '../src';
import { formatNumber, runCases, writeSection } from '@framewire/bench';

const SCENE: SceneOptions = { width: 640, height: 480, fps: 15, seed: 1 };
const ANALYSIS_WIDTH = 320;
/** 20 s of scene: cycling through them makes objects jump once per cycle, healed like any ghost. */
const FRAMES = 300;
const FRAME_US = 1e6 / SCENE.fps;
const HEAP_FRAMES = 5000;
const JPEG_QUALITY = 80;

async function main(): Promise<void> {
  const rgb = Buffer.alloc(SCENE.width * SCENE.height * 3);
  const jpegs: Buffer[] = [];
  const decoded: DecodedFrame[] = [];
  for (let n = 0; n < FRAMES; n++) {
    jpegs.push(await renderSceneJpeg(n, SCENE, JPEG_QUALITY, rgb));
    decoded.push(await decodeFrame(jpegs[n], { maxWidth: ANALYSIS_WIDTH }));
  }
  const pipeline = new AnalysisPipeline(createAnalyzers(BUILT_IN_ANALYZERS));
  let i = 0;
  const analyse = (d: DecodedFrame) => {
    const n = i++;
    return pipeline.run({
      streamId: 'bench',
      frameSequence: n + 1,
      captureTimeUs: Math.round(n * FRAME_US),
      frameWidth: d.frameWidth,
      frameHeight: d.frameHeight,
      image: d.image,
      scale: d.scale,
    });
  };
  const motionOnly = new AnalysisPipeline(createAnalyzers(['motion']));
  let m = 0;
  const results = await runCases([
    { name: 'pipeline (decode excluded)', fn: () => analyse(decoded[i % FRAMES]) },
    { name: `decode (${DEFAULT_JPEG_DECODER}) + pipeline`, fn: async () => await analyse(await decodeFrame(jpegs[i % FRAMES], { maxWidth: ANALYSIS_WIDTH })) },
    {
      name: 'motion only (decode excluded)',
      fn: () => {
        const d = decoded[m % FRAMES];
        return motionOnly.run({ streamId: 'b', frameSequence: m + 1, captureTimeUs: Math.round(m++ * FRAME_US), frameWidth: 640, frameHeight: 480, image: d.image, scale: d.scale });
      },
    },
  ]);

  // Heap growth: steady state after a warm-up, garbage collected before and after.
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let k = 0; k < FRAMES; k++) await analyse(decoded[i % FRAMES]);
  gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let k = 0; k < HEAP_FRAMES; k++) await analyse(decoded[i % FRAMES]);
  gc?.();
  const growth = (process.memoryUsage().heapUsed - before) / HEAP_FRAMES;

  const lines = ['| case | ms per frame (median) | frames/s |', '|---|---:|---:|'];
  for (const r of results) lines.push(`| ${r.name} | ${formatNumber(1000 / r.opsPerSec)} | ${formatNumber(r.opsPerSec)} |`);
  writeSection(
    'analysis-pipeline',
    'Analysis pipeline',
    `motion → tracks → keypoints on the 640x480 synthetic scene (3 objects) analysed at ${ANALYSIS_WIDTH}x240, ` +
      `${FRAMES} different frames in turn.\n\n${lines.join('\n')}\n\n` +
      `Heap growth over ${HEAP_FRAMES} frames after warm-up: ${growth.toFixed(1)} bytes per frame` +
      `${gc ? '' : ' (run with --expose-gc for a garbage-collected figure)'}; the per-frame outputs (result messages) are the only allocations.`,
  );
}

void main();
