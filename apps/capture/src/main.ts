// The capture service: reads a source and publishes frames to the supplier.
import { runServiceProcess } from '@framewire/service';
import { CaptureModule } from './capture.module';
import { loadCaptureConfig } from './config';

void runServiceProcess(() => loadCaptureConfig(), (config, logger) => CaptureModule.forRoot(config, logger));
