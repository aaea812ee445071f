// The capture service as a Nest module: the capture loop (its source, publisher, ring and command
// subscription). Its gRPC port serves health and reflection only.
import { Module } from '@nestjs/common';
import { ServiceDefinition } from '@framewire/service-runtime';
import { CaptureRunner } from './capture-runner';
import { CaptureConfig } from './config';

@Module({ providers: [CaptureRunner] })
export class CaptureModule {}

/** Capture as runServiceProcess and startService take it. */
export const CAPTURE_SERVICE: ServiceDefinition<CaptureConfig> = { module: () => CaptureModule };
