// The health capability: probes of capture and the supplier (cached) and the pipeline's health
// from them, the gRPC server's status, the attached services and the workers' results.
import { Module } from '@nestjs/common';
import { CommandRouter } from '@framewire/commands';
import { ResultHub } from '@framewire/results';
import { GrpcTransport, SERVICE_CONFIG } from '@framewire/service-runtime';
import { CommandsModule } from '../commands/commands.module';
import type { GatewayConfig } from '../config';
import { ResultsModule } from '../results/results.module';
import { PipelineHealth, PipelineProbe } from '@framewire/pipeline-health';

const pipelineProbeProvider = {
  provide: PipelineProbe,
  inject: [SERVICE_CONFIG],
  useFactory: (config: GatewayConfig) =>
    new PipelineProbe({
      captureAddresses: config.health.captureAddresses,
      supplierAddress: config.health.supplierAddress,
      deadlineMs: config.health.probeDeadlineMs,
      cacheMs: config.health.cacheMs,
      security: config.security,
    }),
};

const pipelineHealthProvider = {
  provide: PipelineHealth,
  inject: [PipelineProbe, GrpcTransport, CommandRouter, ResultHub, SERVICE_CONFIG],
  useFactory: (probe: PipelineProbe, transport: GrpcTransport, router: CommandRouter, hub: ResultHub, config: GatewayConfig) =>
    new PipelineHealth(
      {
        probe,
        gatewayServing: () => transport.server.servingStatus === 'SERVING',
        attachedServices: () => router.attachedServices(),
        workerResults: () => hub.workers(),
      },
      {
        workerResultsFreshMs: config.health.workerResultsFreshMs,
        framesStaleMs: config.health.framesStaleMs,
        minHealthyWorkers: config.health.minHealthyWorkers,
        expectedWorkers: config.health.expectedWorkers,
        refusalsRecentMs: config.health.refusalsRecentMs,
      },
    ),
};

@Module({
  imports: [ResultsModule, CommandsModule],
  providers: [pipelineProbeProvider, pipelineHealthProvider],
  exports: [PipelineProbe, PipelineHealth],
})
export class HealthModule {}
