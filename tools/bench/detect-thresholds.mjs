#!/usr/bin/env node
// The measurement behind detect's default thresholds (docs/analyzers.md, "detect"): records centernet's
// raw output on the first 30 s of vtest.avi at the default analysis width (320), then replays it through
// the real DetectAnalyzer (each threshold pair: new objects from minScore, continuing ones down to
// keepScore) and `tracks`, at 10 and 6.7 analysed frames a second, and prints new track ids a second,
// what they were, and persons a frame. Run after `npm run build`: node tools/bench/detect-thresholds.mjs
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
const models = require(join(root, 'dist/libs/models/src/index.js'));
const { TrackAnalyzer, iou } = require(join(root, 'dist/libs/analysis/src/index.js'));
const VIDEO = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';
const WIDTH = 320;
const HEIGHT = 240;
const SECONDS = 30;
const FRAME_US = 100_000;
const PAIRS = [[0.3, 0.3], [0.4, 0.25], [0.42, 0.25], [0.45, 0.25]];

const raw = spawnSync('ffmpeg', ['-v', 'error', '-i', VIDEO, '-t', String(SECONDS), '-vf', `scale=${WIDTH}:${HEIGHT}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 30 });
if (raw.status !== 0) throw new Error(`ffmpeg could not decode ${VIDEO}: ${raw.stderr}`);
const frameBytes = WIDTH * HEIGHT * 3;
const runner = await models.ModelRunner.start({ model: 'centernet', modelsDir: models.findModelsDirectory() });
const frames = [];
const letterbox = models.fitLetterbox(WIDTH, HEIGHT, models.CENTERNET_INPUT_SIZE, models.CENTERNET_INPUT_SIZE);
for (let i = 0; i < raw.stdout.length / frameBytes; i++) {
  const image = { width: WIDTH, height: HEIGHT, data: new Uint8Array(raw.stdout.subarray(i * frameBytes, (i + 1) * frameBytes)) };
  const { outputs } = await runner.run({ pixels: image.data, width: WIDTH, height: HEIGHT, letterbox, encoding: 'float32', outputs: [models.CENTERNET_DETECTIONS_OUTPUT] });
  frames.push({ i, us: i * FRAME_US, rows: outputs[0] });
}
await runner.close();

/** The recorded frames through a DetectAnalyzer with these thresholds (its hysteresis, NMS and mapping). */
async function thresholded(recorded, minScore, keepScore) {
  let next = 0;
  const replay = { model: 'centernet', run: async () => ({ outputs: [recorded[next++].rows], inferenceMs: 0 }) };
  const detector = new models.DetectAnalyzer(replay, { minScore, keepScore });
  const image = { width: WIDTH, height: HEIGHT, data: new Uint8Array(0) };
  const out = [];
  for (const f of recorded) {
    const { detections } = await detector.analyze({ streamId: 'vtest', frameSequence: f.i, captureTimeUs: f.us, frameWidth: 768, frameHeight: 576, image, scale: 768 / WIDTH, earlier: {} });
    out.push({ ...f, detections: detections.detections });
  }
  return out;
}

function tracked(frames) {
  const tracker = new TrackAnalyzer();
  const labels = {};
  const seen = new Set();
  for (const f of frames) {
    const tracks = tracker.analyze({ streamId: 'vtest', frameSequence: f.i, captureTimeUs: f.us, frameWidth: 768, frameHeight: 576, image: { width: 1, height: 1, data: new Uint8Array(3) }, scale: 1, earlier: { detections: { detections: f.detections } } }).tracks.tracks;
    for (const t of tracks) {
      if (seen.has(t.trackId)) continue;
      seen.add(t.trackId);
      const best = f.detections.reduce((a, d) => (iou(t.box, d.box) > a.overlap ? { overlap: iou(t.box, d.box), label: d.label } : a), { overlap: 0, label: '?' });
      labels[best.label] = (labels[best.label] ?? 0) + 1;
    }
  }
  const persons = frames.reduce((a, f) => a + f.detections.filter((d) => d.label === 'person').length, 0) / frames.length;
  return `${(seen.size / SECONDS).toFixed(2)} new ids/s ${JSON.stringify(labels)}, ${persons.toFixed(2)} persons a frame`;
}

for (const [minScore, keepScore] of PAIRS) {
  const at10 = tracked(await thresholded(frames, minScore, keepScore));
  const at67 = tracked(await thresholded(frames.filter((_, i) => i % 3 !== 2), minScore, keepScore));
  console.log(`minScore ${minScore} / keepScore ${keepScore}: 10 fps ${at10} | 6.7 fps ${at67}`);
}
