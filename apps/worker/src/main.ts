// The worker service: runs analyzers on the frames it receives and publishes results.
import { runServiceProcess } from '@framewire/service';
import { WorkerModule } from './worker.module';
import { loadWorkerConfig } from './config';

void runServiceProcess(() => loadWorkerConfig(), (config, logger) => WorkerModule.forRoot(config, logger));
