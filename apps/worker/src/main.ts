// The worker service: runs analyzers on the frames it receives and publishes results.
import { runServiceProcess } from '@framewire/service-runtime';
import { loadWorkerConfig } from './config';
import { WORKER_SERVICE } from './worker.module';

void runServiceProcess(() => loadWorkerConfig(), WORKER_SERVICE);
