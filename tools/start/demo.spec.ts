// `npm run demo` for real: npm start on vtest.avi with worker-1 detect+tracks and worker-2 pose +
// person-seg (the trained models); the viewer's results arrive from both, Ctrl-C stops everything.
// Also: without the video it says what to install and exits 1.
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCHER_SERVICES, LauncherProcess, REPO_ROOT, isProcessRunning, startLauncher, vtestMissingReason, waitFor } from '@framewire/testing';

const STOP_BOUND_MS = 30_000;
const RESULTS_MS = 60_000;
const missing = vtestMissingReason();
if (missing !== undefined) console.warn(`demo.spec: npm run demo skipped: ${missing}`);
const withVideo = missing === undefined ? it : it.skip;

interface Latest {
  result?: { workerId: string; frameSequence: number; keypoints?: { pointNames: Record<string, number>; points: unknown[] }; detections?: { detections: { label: string }[] }; segmentation?: { instances: unknown[] } };
}

async function latest(httpPort: number, kind: string): Promise<Latest | undefined> {
  const r = await fetch(`http://127.0.0.1:${httpPort}/api/results/latest?stream=cam-1&kind=${kind}`, { signal: AbortSignal.timeout(5_000) });
  return r.status === 200 ? ((await r.json()) as Latest) : undefined;
}

describe('npm run demo', () => {
  jest.setTimeout(180_000);
  let launcher: LauncherProcess | undefined;
  afterEach(async () => {
    await launcher?.cleanUp();
    launcher = undefined;
  });

  it('says what to install when the video is missing, and exits 1', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'tools/demo.mjs')], { env: { PATH: process.env.PATH ?? '', FW_DEMO_VIDEO: '/nonexistent/video.avi' }, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("demo: /nonexistent/video.avi is missing: install Debian's opencv-doc (apt-get install opencv-doc) or set FW_DEMO_VIDEO to a video file");
  });

  withVideo('plays vtest.avi with detect+tracks on worker-1 and pose+person-seg on worker-2, and stops on SIGINT', async () => {
    launcher = await startLauncher({ viaNpm: true, npmScript: 'demo' });
    const { httpPort } = launcher;
    expect(launcher.lines).toContain('framewire demo: /usr/share/doc/opencv-doc/examples/data/vtest.avi in a loop; worker-1 detect,tracks, worker-2 pose,person-seg');
    // Each worker loaded its models (once, at start).
    for (const model of ['centernet', 'movenet-multipose', 'selfie']) expect(launcher.lines.some((l) => l.includes('model loaded') && l.includes(model))).toBe(true);
    // Skeletons from worker-2, COCO objects from worker-1, person outlines from worker-2.
    let keypoints: Latest | undefined;
    await waitFor('COCO keypoints of a pedestrian from worker-2', async () => {
      keypoints = await latest(httpPort, 'keypoints');
      return (keypoints?.result?.keypoints?.points?.length ?? 0) > 0;
    }, RESULTS_MS);
    expect(keypoints!.result!.workerId).toBe('worker-2');
    expect(keypoints!.result!.keypoints!.pointNames.right_ankle).toBe(16);
    await waitFor('a person detected by worker-1', async () => {
      const d = await latest(httpPort, 'detections');
      return d?.result?.workerId === 'worker-1' && (d.result.detections?.detections ?? []).some((x) => x.label === 'person');
    }, RESULTS_MS);
    await waitFor('a person outline from worker-2', async () => ((await latest(httpPort, 'segmentation'))?.result?.segmentation?.instances?.length ?? 0) > 0, RESULTS_MS);

    const pids = launcher.startedPids();
    const exited = once(launcher.child, 'exit');
    process.kill(launcher.launcherPid, 'SIGINT');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    for (const name of LAUNCHER_SERVICES) expect(launcher.lines).toContain(`framewire: ${name} exited (0)`);
    await waitFor('every service process to exit', () => pids.every((pid) => !isProcessRunning(pid)), STOP_BOUND_MS);
    expect(existsSync(`/dev/shm/${launcher.shmRing}`)).toBe(false);
  });
});
