// Archive append throughput under each durability policy, for 1 KiB and 64 KiB frames, against the
// anchor: a plain fs.writeSync of the same framed bytes with no fsync, measured in the same run.
// Run: node tools/build.mjs && FW_BENCH_RUNS=3 node --expose-gc dist/libs/archive/bench/archive.bench.js
import { closeSync, fdatasyncSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeFrame } from '@framewire/framing';
import { BenchCase, BenchResult, resultsTable, runCases, writeSection } from '@framewire/bench';
import { ArchiveWriter, DurabilityPolicy, segmentFiles } from '../src';
import { resultPayload } from '../src/testing/fixtures';

/** Segments (and the anchor file) are recycled at this size so a run does not fill the disk. */
const RECYCLE_BYTES = 64 * 1024 * 1024;
const FRAME_SIZES = [
  { label: '1 KiB', bytes: 1024 },
  { label: '64 KiB', bytes: 64 * 1024 },
];
const POLICIES: Array<{ label: string; durability: DurabilityPolicy }> = [
  { label: 'on-close', durability: { kind: 'on-close' } },
  { label: 'interval 100 ms', durability: { kind: 'interval', ms: 100 } },
  { label: 'every-frame', durability: { kind: 'every-frame' } },
];

/** A Result message of exactly `bytes` bytes (its stage field takes up the rest). */
function payloadOf(bytes: number): Uint8Array {
  const overhead = resultPayload(1n, 1n, bytes).length - bytes;
  let stageBytes = bytes - overhead;
  while (resultPayload(1n, 1n, stageBytes).length > bytes) stageBytes--;
  return resultPayload(1n, 1n, stageBytes);
}

/** Framed bytes written with one writeSync each, the file rewound when large: with `sync` false
 *  the anchor; with `sync` true the raw cost of a synchronous fdatasync per frame on this disk, the
 *  floor under every-frame. */
function rawCase(directory: string, label: string, payload: Uint8Array, sync: boolean): { benchCase: BenchCase; close: () => void } {
  const frame = encodeFrame(payload, 'varint');
  const fd = openSync(join(directory, `raw-${payload.length}-${sync}.bin`), 'w');
  let position = 0;
  return {
    benchCase: {
      name: sync ? `writeSync + fdatasyncSync ${label}` : `writeSync, no fsync (anchor) ${label}`,
      bytesPerOp: payload.length,
      fn: () => {
        if (position >= RECYCLE_BYTES) {
          ftruncateSync(fd, 0);
          position = 0;
        }
        position += writeSync(fd, frame, 0, frame.length, position);
        if (sync) fdatasyncSync(fd);
      },
    },
    close: () => closeSync(fd),
  };
}

/** An archive writer appending `payload`; full segments are deleted as the next one starts. */
async function archiveCase(directory: string, label: string, policy: (typeof POLICIES)[number], payload: Uint8Array): Promise<{ benchCase: BenchCase; close: () => Promise<void> }> {
  let previous: string | undefined;
  const writer = await ArchiveWriter.open({
    directory,
    baseName: 'bench',
    streamId: `${payload.length}-${policy.durability.kind}`,
    protocol: 'result',
    durability: policy.durability,
    rotation: { maxSegmentBytes: RECYCLE_BYTES },
    onSegmentStarted: (segment) => {
      if (previous !== undefined) for (const file of Object.values(segmentFiles(previous))) unlink(file).catch(() => undefined);
      previous = segment.path;
    },
  });
  return {
    benchCase: { name: `archive ${policy.label} ${label}`, bytesPerOp: payload.length, fn: () => writer.append(payload) },
    close: () => writer.close(),
  };
}

async function main(): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'fw-archive-bench-'));
  const sections: string[] = [];
  try {
    for (const size of FRAME_SIZES) {
      const payload = payloadOf(size.bytes);
      const anchor = rawCase(directory, size.label, payload, false);
      const rawSync = rawCase(directory, size.label, payload, true);
      const archives = [];
      for (const policy of POLICIES) archives.push(await archiveCase(directory, size.label, policy, payload));
      let results: BenchResult[];
      try {
        results = await runCases([anchor.benchCase, ...archives.map((a) => a.benchCase), rawSync.benchCase]);
      } finally {
        anchor.close();
        rawSync.close();
        for (const archive of archives) await archive.close();
      }
      sections.push(`### ${size.label} frames\n\n${resultsTable(results, anchor.benchCase.name)}`);
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  writeSection(
    '30-archive',
    'Archive append',
    [
      'ArchiveWriter.append of framewire.v1.Result payloads (varint framing, one write call per frame),',
      'against a plain fs.writeSync of the same framed bytes with no fsync. every-frame resolves each',
      'append after its fdatasync; interval 100 ms syncs on a timer; on-close syncs when a segment',
      `closes. Segments rotate (and are deleted) every ${RECYCLE_BYTES / 2 ** 20} MiB; the anchor file is`,
      'rewound at the same size. on-close and interval pay for flushing every byte to disk (at rotation',
      'or on the timer), which the anchor never does. The last row is a synchronous fdatasync after each',
      'plain write: the floor under every-frame on this disk. Cases run interleaved, so the syncing',
      'cases also flush dirty pages the others left: compare ratios, not absolutes.',
      '',
      ...sections.flatMap((section) => [section, '']),
    ].join('\n'),
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
