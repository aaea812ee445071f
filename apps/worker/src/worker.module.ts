// The worker service as a Nest module: the running worker (frame loop, analyzers, result
// publisher, command subscription), which sets its gRPC port's health. The port serves health and
// reflection only.
import { Module } from '@nestjs/common';
import { ServiceDefinition } from '@framewire/service-runtime';
import { WorkerConfig } from './config';
import { WorkerRuntime } from './worker-runtime';

@Module({ providers: [WorkerRuntime] })
export class WorkerModule {}

/** The worker as runServiceProcess and startService take it. */
export const WORKER_SERVICE: ServiceDefinition<WorkerConfig> = { module: () => WorkerModule };
