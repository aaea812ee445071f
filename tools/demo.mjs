#!/usr/bin/env node
// `npm run demo`: `npm start` on real video with trained models. Capture plays Debian's vtest.avi
// (pedestrians, 768×576, 10 fps; package opencv-doc) in a loop; worker-1 runs detect + tracks
// (COCO objects with stable ids), worker-2 pose + person-seg (skeletons and person outlines), each on
// every frame it can take, both at full resolution. Open the printed viewer URL. Every setting can be
// overridden by setting the variable (FW_DEMO_VIDEO=<file> plays another video).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEMO_VIDEO = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

const video = process.env.FW_DEMO_VIDEO || DEMO_VIDEO;
if (!existsSync(video)) {
  console.error(`demo: ${video} is missing: install Debian's opencv-doc (apt-get install opencv-doc) or set FW_DEMO_VIDEO to a video file`);
  process.exit(1);
}
const defaults = {
  FW_CAPTURE_SOURCE: `ffmpeg:${video}`,
  FW_CAPTURE_LOOP: 'true',
  // No pool: each worker runs its own analyzers on every frame it can take.
  FW_WORKER_POOL: '',
  FW_START_WORKER_ANALYZERS: 'detect,tracks;pose,person-seg',
  // The models see the frame at full size (768 px): people in vtest.avi are 40-100 px tall.
  FW_WORKER_ANALYSIS_WIDTH: '768',
};
for (const [name, value] of Object.entries(defaults)) if (process.env[name] === undefined) process.env[name] = value;
console.log(`framewire demo: ${video} in a loop; worker-1 ${process.env.FW_START_WORKER_ANALYZERS.split(';')[0]}, worker-2 ${process.env.FW_START_WORKER_ANALYZERS.split(';')[1]}`);
await import(pathToFileURL(join(root, 'tools', 'start.mjs')).href);
