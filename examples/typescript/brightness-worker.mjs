// A framewire worker in ten lines (docs/write-a-worker.md): the mean brightness of each frame, as one detection.
import { runWorker } from '@framewire/worker-sdk';
const env = (name, fallback) => process.env[name] ?? fallback;
const worker = runWorker({
  workerId: env('FW_WORKER_ID', 'brightness'), streamId: env('FW_STREAM_ID', 'cam-1'),
  supplierAddress: env('FW_SUPPLIER_ADDRESS', '127.0.0.1:50052'), gatewayAddress: env('FW_GATEWAY_ADDRESS', '127.0.0.1:50054'),
  analyze: async ({ image, frameWidth, frameHeight }) => {
    let sum = 0;
    for (const value of image.data) sum += value;
    const mean = sum / image.data.length / 255; // 0 (black) .. 1 (white)
    return { detections: { detections: [{ box: { x: 0, y: 0, width: frameWidth, height: frameHeight }, score: mean, classId: 0, label: `brightness ${mean.toFixed(2)}` }] } };
  },
});
process.on('SIGTERM', () => void worker.stop().then(() => process.exit(0)));
