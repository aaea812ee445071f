// The capture service: reads a source and publishes frames to the supplier.
import { runServiceProcess } from '@framewire/service-runtime';
import { CAPTURE_SERVICE } from './capture.module';
import { loadCaptureConfig } from './config';

void runServiceProcess(() => loadCaptureConfig(), CAPTURE_SERVICE);
