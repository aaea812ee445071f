// The worker process with users' analyzers in FW_WORKER_ANALYZERS: a module file after a built-in
// runs in the pipeline (it sees the built-in's outputs) and its results reach a real gateway; a
// module that exports no analyzer stops the start with a message naming it and what it lacks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResultKind } from '@framewire/proto';
import { ResultRecorder, ServiceProcess, startServiceProcess, stopServiceProcess, subscribeResults, waitFor } from '@framewire/testing';

const STREAM = 'cam-user-analyzer';
const WORKER = 'worker-user-analyzer';
/** Bound on a hang (never a speed). */
const SETTLE_MS = 60_000;
/** A user analyzer (CommonJS, no dependency) that reports how many detections motion made before it,
 *  as the label of one detection of class 42. */
const USER_ANALYZER = `
exports.createAnalyzer = () => ({
  name: 'echo',
  async analyze(frame) {
    const before = frame.earlier.detections ? frame.earlier.detections.detections.length : -1;
    return { detections: { detections: [{ box: { x: 0, y: 0, width: 1, height: 1 }, score: 0.9, classId: 42, label: 'after-motion:' + before }] } };
  },
});
`;

describe('worker process with a user analyzer module', () => {
  jest.setTimeout(120_000);
  let dir: string;
  const services: ServiceProcess[] = [];
  let results: ResultRecorder;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fw-user-analyzer-'));
    writeFileSync(join(dir, 'echo.js'), USER_ANALYZER);
    writeFileSync(join(dir, 'not-an-analyzer.js'), 'exports.threshold = 3;\n');
  });

  afterAll(async () => {
    results?.close();
    for (const s of services.reverse()) await stopServiceProcess(s, 'SIGTERM', 8_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start with a module that exports no analyzer, naming the module and what it lacks', async () => {
    const module = join(dir, 'not-an-analyzer.js');
    const failed = await startServiceProcess('worker', { FW_WORKER_ANALYZERS: `motion,${module}`, FW_SUPPLIER_ADDRESS: '127.0.0.1:1', FW_GATEWAY_ADDRESS: '127.0.0.1:1' }).catch((e: Error) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toMatch(/^worker exited \(1\) before listening/);
    expect((failed as Error).message).toContain(`${module} exports no analyzer: expected a default export or \`createAnalyzer()\` returning an object with name and analyze(frame) (it exports: threshold (number))`);
  });

  it('runs a module after a built-in and publishes its results to the gateway', async () => {
    const supplier = await startServiceProcess('supplier');
    services.push(supplier);
    const supplierAddress = `127.0.0.1:${supplier.port}`;
    const gateway = await startServiceProcess('gateway', { FW_SUPPLIER_ADDRESS: supplierAddress, FW_ARCHIVE_DIR: dir, FW_CAPTURE_ADDRESSES: '127.0.0.1:1' }, { listeners: ['gRPC', 'HTTP'] });
    services.push(gateway);
    const gatewayAddress = `127.0.0.1:${gateway.port}`;
    results = subscribeResults(gatewayAddress, { workerId: WORKER, kinds: [ResultKind.RESULT_KIND_DETECTIONS] });
    services.push(
      await startServiceProcess('capture', { FW_SUPPLIER_ADDRESS: supplierAddress, FW_GATEWAY_ADDRESS: gatewayAddress, FW_STREAM_ID: STREAM, FW_CAPTURE_SOURCE: 'synthetic', FW_CAPTURE_FPS: '10', FW_CAPTURE_WIDTH: '160', FW_CAPTURE_HEIGHT: '120' }),
    );
    services.push(
      await startServiceProcess('worker', {
        FW_WORKER_ID: WORKER,
        FW_STREAM_ID: STREAM,
        FW_WORKER_ANALYZERS: `motion,${join(dir, 'echo.js')}`,
        FW_SUPPLIER_ADDRESS: supplierAddress,
        FW_GATEWAY_ADDRESS: gatewayAddress,
      }),
    );
    // The pipeline merges outputs: the echo's detections replace motion's in the published result.
    await waitFor('results of the user analyzer', () => results.results.some((r) => r.detections?.detections[0]?.classId === 42), SETTLE_MS);
    const echo = results.results.find((r) => r.detections?.detections[0]?.classId === 42);
    expect(echo).toMatchObject({ streamId: STREAM, workerId: WORKER });
    expect(echo?.detections?.detections[0].label).toMatch(/^after-motion:\d+$/);
  });
});
