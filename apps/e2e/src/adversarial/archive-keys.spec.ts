// Hostile archive keys through a real gateway: results for more (stream, worker, kind) archives than
// the recorder keeps open, in turn, so that archives are closed and reopened all the time; then more
// stream/worker pairs than the archive may create. Every recorded result must be on disk exactly
// once with unique segment numbers (the unfixed recorder lost results to "rename ... ENOENT" and
// numbered segments twice), the number of directories must stay at FW_ARCHIVE_MAX_DIRECTORIES, and
// the results beyond it must still reach live subscribers.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSegmentFileName } from '@framewire/archive';
import { Result, ResultKind } from '@framewire/proto';
import { exampleResult, MAX_OPEN_ARCHIVES, replayResults } from '@framewire/results';
import {
  http,
  publishResults,
  resultKey,
  ServiceProcess,
  startServiceProcess,
  stopServiceProcess,
  subscribeResults,
  waitFor,
} from '@framewire/testing';

const STREAM = 'cam-keys';
/** Workers × kinds = archives: more than the recorder keeps open, each written in every round. */
const WORKERS = 160;
const KINDS = [ResultKind.RESULT_KIND_TRACKS, ResultKind.RESULT_KIND_KEYPOINTS];
const ROUNDS = 3;
/** The directory cap of this gateway, and the new workers that try to go past it. */
const MAX_DIRECTORIES = 200;
const INTRUDERS = 300;
const LIVE_BATCH = 50;
const STOP_BOUND_MS = 20_000;

const workerId = (i: number): string => `w${String(i).padStart(4, '0')}`;

describe('archive keys: many archives through a real gateway', () => {
  jest.setTimeout(180_000);
  const dir = mkdtempSync(join(tmpdir(), 'fw-archive-keys-'));
  const archive = join(dir, 'archive');
  let gateway: ServiceProcess;

  beforeAll(async () => {
    gateway = await startServiceProcess(
      'gateway',
      { FW_ARCHIVE_DIR: archive, FW_ARCHIVE_MAX_DIRECTORIES: String(MAX_DIRECTORIES), FW_CAPTURE_ADDRESSES: '127.0.0.1:1', FW_SUPPLIER_ADDRESS: '127.0.0.1:1' },
      { listeners: ['gRPC', 'HTTP'] },
    );
  }, 60_000);

  afterAll(async () => {
    if (gateway) await stopServiceProcess(gateway, 'SIGTERM', STOP_BOUND_MS);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('records every result once with unique segment numbers, and records no directory past the cap', async () => {
    const address = `127.0.0.1:${gateway.port}`;
    const httpUrl = `http://127.0.0.1:${gateway.ports.HTTP}`;
    expect(WORKERS * KINDS.length).toBeGreaterThan(MAX_OPEN_ARCHIVES);

    const recorded: Result[] = [];
    for (let seq = 1; seq <= ROUNDS; seq++) {
      for (let w = 0; w < WORKERS; w++) for (const kind of KINDS) recorded.push(exampleResult(kind, { streamId: STREAM, workerId: workerId(w), frameSequence: seq }));
    }
    expect(await publishResults(address, recorded)).toBe(recorded.length);

    // New workers past the directory cap: recorded up to it, delivered live all the same.
    const live = subscribeResults(address, { streamId: STREAM, kinds: [ResultKind.RESULT_KIND_DETECTIONS] });
    const intruders = Array.from({ length: INTRUDERS }, (_, i) =>
      exampleResult(ResultKind.RESULT_KIND_DETECTIONS, { streamId: STREAM, workerId: workerId(WORKERS + i), frameSequence: 1 }),
    );
    try {
      await waitFor('the live subscription', async () => (await http(`${httpUrl}/api/stats`)).body.results.subscribers === 1, 10_000);
      // In batches that one subscriber's queue holds, so that every one must arrive.
      for (let from = 0; from < INTRUDERS; from += LIVE_BATCH) {
        const batch = intruders.slice(from, from + LIVE_BATCH);
        expect(await publishResults(address, batch)).toBe(batch.length);
        await waitFor(`intruder results ${from}-${from + batch.length - 1} live`, () => live.results.length === from + batch.length, 20_000);
      }
      expect(live.results.map(resultKey)).toEqual(intruders.map(resultKey));
    } finally {
      live.close();
    }
    const admitted = MAX_DIRECTORIES - WORKERS;
    const expected = [...recorded, ...intruders.slice(0, admitted)];
    await waitFor(
      'the recorder to write everything',
      async () => {
        const { archive: stats } = (await http(`${httpUrl}/api/stats`)).body;
        return stats.recorded + stats.errors + stats.dropped >= expected.length && stats.pending === 0;
      },
      60_000,
      250,
    );
    const { archive: stats } = (await http(`${httpUrl}/api/stats`)).body;
    expect(stats).toMatchObject({ recorded: expected.length, errors: 0, dropped: 0, directoryCapDrops: INTRUDERS - admitted, directories: MAX_DIRECTORIES });
    expect(gateway.output.filter((line) => /stream\/worker directories/.test(line))).toHaveLength(1);

    // Stopped: every archive closed. What is on disk, read with the archive's own replay.
    expect((await stopServiceProcess(gateway, 'SIGTERM', STOP_BOUND_MS)).code).toBe(0);
    const replayed: Result[] = [];
    for await (const r of replayResults({ directory: archive, streamId: STREAM })) replayed.push(r);
    expect(replayed.map(resultKey).sort()).toEqual(expected.map(resultKey).sort());
    expect(readdirSync(join(archive, STREAM))).toHaveLength(MAX_DIRECTORIES);

    const numbers = new Map<string, number[]>();
    for (const entry of readdirSync(archive, { recursive: true, withFileTypes: true })) {
      expect(entry.name).not.toContain('.tmp-');
      const segment = entry.isFile() ? parseSegmentFileName(join(entry.parentPath, entry.name)) : undefined;
      if (segment === undefined || !entry.name.endsWith('.bin')) continue;
      const key = join(entry.parentPath, segment.baseName);
      numbers.set(key, [...(numbers.get(key) ?? []), segment.seq]);
    }
    for (const [key, seqs] of numbers) expect({ key, unique: new Set(seqs).size }).toEqual({ key, unique: seqs.length });
  });
});
