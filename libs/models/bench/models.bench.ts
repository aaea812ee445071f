// The model runtimes side by side: each shipped model on each TensorFlow.js backend that installs
// here (wasm with SIMD, wasm without, the plain-JS cpu backend; wasm with threads is tried and its
// failure reported), on a real 768×576 frame of vtest.avi, interleaved run by run. Anchor: the
// figures issue 18 quotes for this machine (one core, wasm, a 640×480 photo). Then a soak: 10,000
// frames through the person-seg analyzer (FW_BENCH_SOAK_FRAMES), tensors and RSS along the way.
// Run: npm run bench -- models
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatNumber, median, writeSection } from '@framewire/bench';
import { dynamicInputSize, findModelsDirectory, fitLetterbox, INFERENCE_BACKENDS, InferenceBackend, InferenceRequest, ModelName, ModelRunner, PersonSegAnalyzer } from '../src';

const VIDEO = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const WIDTH = 768;
const HEIGHT = 576;
const RUNS = Number(process.env.FW_BENCH_RUNS ?? 5);
/** Inferences per run on the wasm backends; the cpu backend is ~20× slower and gets one. */
const PER_RUN: Record<InferenceBackend, number> = { wasm: 8, 'wasm-nosimd': 4, cpu: 1 };
const CPU_RUNS = 3;
/** The cpu backend's first centernet frame (compile included) takes over 10 s here. */
const CPU_TIMEOUT_MS = 120_000;
const SOAK_FRAMES = Number(process.env.FW_BENCH_SOAK_FRAMES ?? 10_000);
const SOAK_CHECKPOINTS = 10;

interface ModelCase {
  model: ModelName;
  label: string;
  request: (pixels: Uint8Array) => InferenceRequest;
  /** Issue 18's figure for this model here, ms (the anchor). */
  anchorMs: number;
  anchorWhat: string;
}

function frameOfVideo(): Uint8Array {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-ss', '10', '-i', VIDEO, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 16 << 20 });
  if (r.status !== 0 || r.stdout.length !== WIDTH * HEIGHT * 3) throw new Error(`ffmpeg could not decode a frame of ${VIDEO}: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

const pose = dynamicInputSize(WIDTH, HEIGHT, 256, 32);
const CASES: ModelCase[] = [
  { model: 'movenet-multipose', label: `movenet-multipose ${pose.width}×${pose.height} (pose)`, request: (pixels) => ({ pixels, width: WIDTH, height: HEIGHT, letterbox: fitLetterbox(WIDTH, HEIGHT, pose.width, pose.height), encoding: 'int32' }), anchorMs: 115, anchorWhat: 'multipose 256 px ≈ 115 ms' },
  { model: 'centernet', label: 'centernet 512×512 (detect)', request: (pixels) => ({ pixels, width: WIDTH, height: HEIGHT, letterbox: fitLetterbox(WIDTH, HEIGHT, 512, 512), encoding: 'float32', outputs: ['tower_0/detections'] }), anchorMs: 157, anchorWhat: 'centernet 512 px ≈ 157 ms' },
  { model: 'selfie', label: 'selfie 256×256 (person-seg)', request: (pixels) => ({ pixels, width: WIDTH, height: HEIGHT, letterbox: fitLetterbox(WIDTH, HEIGHT, 256, 256), encoding: 'float32-unit' }), anchorMs: 14, anchorWhat: 'selfie 256 px ≈ 14 ms' },
];

/** Whether tfjs-backend-wasm's threaded build starts in Node here (it did not when measured). */
function tryWasmThreads(): string {
  const wasmDir = `${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`;
  const script = `const tf=require('@tensorflow/tfjs-core');const w=require('@tensorflow/tfjs-backend-wasm');w.setWasmPaths(${JSON.stringify(wasmDir)});tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT',true);tf.setBackend('wasm').then(ok=>{console.log(ok?'initialised':'did not initialise');process.exit(0)},e=>{console.log('failed: '+e.message);process.exit(0)});`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000, cwd: process.cwd() });
  const error = /ERR_WORKER_PATH[^\n]*/.exec(`${r.stdout}${r.stderr}`)?.[0];
  return error !== undefined ? `does not start: ${error.slice(0, 160)}` : (r.stdout.trim() || `exit ${r.status}`);
}

async function main(): Promise<void> {
  if (!existsSync(VIDEO)) {
    console.log(`models bench: skipped, ${VIDEO} is missing (Debian package opencv-doc)`);
    return;
  }
  const pixels = frameOfVideo();
  const modelsDir = findModelsDirectory();
  const runners = new Map<string, ModelRunner>();
  for (const backend of INFERENCE_BACKENDS) for (const c of CASES) runners.set(`${backend}/${c.model}`, await ModelRunner.start({ model: c.model, modelsDir, backend, runTimeoutMs: CPU_TIMEOUT_MS }));
  // Warm-up: the first inference compiles.
  for (const backend of INFERENCE_BACKENDS) for (const c of CASES) await (runners.get(`${backend}/${c.model}`) as ModelRunner).run(c.request(pixels));

  const samples = new Map<string, number[]>();
  for (let r = 0; r < RUNS; r++) {
    for (const backend of INFERENCE_BACKENDS) {
      if (backend === 'cpu' && r >= CPU_RUNS) continue;
      for (const c of CASES) {
        const runner = runners.get(`${backend}/${c.model}`) as ModelRunner;
        const times: number[] = [];
        for (let i = 0; i < PER_RUN[backend]; i++) {
          const t0 = performance.now();
          await runner.run(c.request(pixels));
          times.push(performance.now() - t0);
        }
        const key = `${backend}/${c.model}`;
        samples.set(key, [...(samples.get(key) ?? []), median(times)]);
      }
    }
  }
  const lines = [
    '| model (input) | backend | ms per frame (median) | frames/s | × wasm + SIMD | ÷ anchor |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const c of CASES) {
    const simd = median(samples.get(`wasm/${c.model}`) as number[]);
    for (const backend of INFERENCE_BACKENDS) {
      const ms = median(samples.get(`${backend}/${c.model}`) as number[]);
      lines.push(`| ${c.label} | ${backend === 'wasm' ? 'wasm + SIMD (chosen)' : backend === 'wasm-nosimd' ? 'wasm, no SIMD' : 'cpu (plain JS)'} | ${formatNumber(ms)} | ${formatNumber(1000 / ms)} | ${(ms / simd).toFixed(2)} | ${(ms / c.anchorMs).toFixed(2)} |`);
    }
  }
  for (const runner of runners.values()) await runner.close();
  const threads = tryWasmThreads();

  // Soak: the person-seg analyzer (whole frame: no person boxes) frame after frame.
  const runner = await ModelRunner.start({ model: 'selfie', modelsDir });
  const analyzer = new PersonSegAnalyzer(runner);
  const image = { width: WIDTH, height: HEIGHT, data: pixels };
  const soak: string[] = [];
  const every = Math.max(1, Math.floor(SOAK_FRAMES / SOAK_CHECKPOINTS));
  let firstRss = 0;
  let lastRss = 0;
  let firstTensors = 0;
  let lastTensors = 0;
  const t0 = performance.now();
  for (let n = 1; n <= SOAK_FRAMES; n++) {
    await analyzer.analyze({ streamId: 'cam', frameSequence: n, captureTimeUs: n * 100_000, frameWidth: WIDTH, frameHeight: HEIGHT, image, scale: 1, earlier: {} });
    if (n === 1 || n % every === 0) {
      const memory = await runner.memory();
      const rss = process.memoryUsage().rss / 2 ** 20;
      if (n === 1) {
        firstRss = rss;
        firstTensors = memory.numTensors;
      }
      lastRss = rss;
      lastTensors = memory.numTensors;
      soak.push(`${n}: ${memory.numTensors} tensors, ${formatNumber(rss)} MiB`);
    }
  }
  const soakSeconds = (performance.now() - t0) / 1000;
  await runner.close();

  const body = [
    `Each shipped model on each TensorFlow.js 4.22 backend that installs here, on frame 100 of vtest.avi (768×576), in the model's thread (letterbox + inference + read-back), medians of ${RUNS} interleaved runs (cpu: ${CPU_RUNS} runs of one frame). Anchor: the figures issue 18 measured on this kind of machine (${CASES.map((c) => c.anchorWhat).join('; ')}; a 640×480 photo, so multipose's anchor is at 256×256 where we run 256×192 on 4:3 video).`,
    '',
    ...lines,
    '',
    `wasm with threads (tfjs-backend-wasm-threaded-simd): ${threads}. The worker runs wasm + SIMD: ${CASES.map((c) => `${c.model} ${(median(samples.get(`cpu/${c.model}`) as number[]) / median(samples.get(`wasm/${c.model}`) as number[])).toFixed(0)}× faster than cpu`).join(', ')}.`,
    '',
    `Soak: ${SOAK_FRAMES} frames through the person-seg analyzer (whole frame) in ${formatNumber(soakSeconds)} s: tensors ${firstTensors} → ${lastTensors}, RSS ${formatNumber(firstRss)} → ${formatNumber(lastRss)} MiB (${soak.join('; ')}).`,
  ].join('\n');
  writeSection('55-models', 'Models: backends and memory', body);
  console.log(body);
}

void main().catch((err) => {
  console.error(err);
  process.exit(1);
});
