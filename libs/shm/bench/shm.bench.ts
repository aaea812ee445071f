// Cost per frame of the shared-memory ring in one process: the writer's write (copy + CRC-32), a
// reader's copying read and zero-copy withFrame, with and without checksum verification, for
// 64 KiB, 1 MiB, 6 MiB (1080p RGB) and 24 MiB (4K RGB) frames. Cross-process and gRPC comparisons
// live in the supplier's benchmark.
// Run: node tools/build.mjs && node dist/libs/shm/bench/shm.bench.js
import { BenchCase, formatNumber, runCases, writeSection } from '@framewire/bench';
import { FrameRingReader, FrameRingWriter } from '../src';

const SIZES = [
  { label: '64 KiB', bytes: 64 * 1024 },
  { label: '1 MiB', bytes: 1024 * 1024 },
  { label: '6 MiB', bytes: 1920 * 1080 * 3 },
  { label: '24 MiB', bytes: 3840 * 2160 * 3 },
];
const SLOT_COUNT = 4;

async function main(): Promise<void> {
  const rows: string[] = ['| frame | write (µs) | read copy, CRC (µs) | read copy, no CRC (µs) | withFrame, CRC (µs) | withFrame, no CRC (µs) |', '|---|---:|---:|---:|---:|---:|'];
  for (const size of SIZES) {
    const writer = FrameRingWriter.create({ name: `fw-bench-${process.pid}`, slotCount: SLOT_COUNT, slotBytes: size.bytes });
    const verifying = FrameRingReader.open(writer.name);
    const trusting = FrameRingReader.open(writer.name, { verifyChecksum: false });
    try {
      const frame = Buffer.alloc(size.bytes, 7);
      const meta = { streamId: 'bench', sequence: 1, captureTimeUs: 0, width: 1, height: 1, pixelFormat: 0 };
      let ref = writer.write(meta, frame);
      const mustRead = (ok: boolean): void => {
        if (!ok) throw new Error('benchmark read failed');
      };
      const cases: BenchCase[] = [
        { name: 'write', fn: () => writer.write(meta, frame) },
        { name: 'read crc', fn: () => mustRead(verifying.read(ref).ok) },
        { name: 'read', fn: () => mustRead(trusting.read(ref).ok) },
        { name: 'withFrame crc', fn: () => mustRead(verifying.withFrame(ref, (view) => view.length) !== undefined) },
        { name: 'withFrame', fn: () => mustRead(trusting.withFrame(ref, (view) => view.length) !== undefined) },
      ];
      // The write case moves the ring on, so the read cases run afterwards on a fresh reference.
      const [write] = await runCases(cases.slice(0, 1), { runs: 3, minRunMs: 200 });
      ref = writer.write(meta, frame);
      const reads = await runCases(cases.slice(1), { runs: 3, minRunMs: 200 });
      const micros = [write, ...reads].map((r) => formatNumber(1e6 / r.opsPerSec));
      rows.push(`| ${size.label} | ${micros.join(' | ')} |`);
    } finally {
      verifying.close();
      trusting.close();
      writer.close();
    }
  }
  writeSection(
    '40-shm',
    'Shared-memory frame ring, in one process (libs/shm)',
    `Median cost per frame; ${SLOT_COUNT}-slot ring; CRC-32 is zlib's.\n\n${rows.join('\n')}`,
  );
}

void main();
