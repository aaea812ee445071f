'use strict';
// Child process of crash.spec.ts: reopens the archive in append mode and appends frames with
// durability every-frame until killed, printing `durable <frameId>` once each frame is on disk.
// Usage: node crash-writer-child.js <directory> <first frame id> <max segment bytes>
require('./ts-register');
const { ArchiveWriter } = require('../index.ts');
const { crashPayload } = require('./crash-payload.ts');

const LARGE_FRAME_BYTES = 64 * 1024;

async function main() {
  const [directory, firstId, maxSegmentBytes] = process.argv.slice(2);
  process.stdout.write('opening\n');
  const writer = await ArchiveWriter.open({
    directory,
    baseName: 'crash',
    streamId: 'cam-1',
    protocol: 'result',
    durability: { kind: 'every-frame' },
    rotation: { maxSegmentBytes: Number(maxSegmentBytes) },
    append: true,
    indexEveryFrames: 16,
  });
  // Pipes are written synchronously on Linux: a line is out before the next frame is written.
  process.stdout.write(`ready ${writer.segmentPath}\n`);
  for (let id = Number(firstId); ; id++) {
    const payload = crashPayload(id);
    // Announces a write that spans many pages, so the parent can aim a kill into it.
    if (payload.length >= LARGE_FRAME_BYTES) process.stdout.write(`writing ${id}\n`);
    await writer.append(payload);
    process.stdout.write(`durable ${id}\n`);
  }
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
