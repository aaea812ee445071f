// Worker's configuration, read once from the environment at start-up.
import { portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service';
import { z } from 'zod';

export const DEFAULT_WORKER_GRPC_PORT = 50053;

export interface WorkerConfig extends ServiceConfig {
  workerId: string;
  analyzers: readonly string[];
}

export function loadWorkerConfig(env: Record<string, string | undefined> = process.env): WorkerConfig {
  const e = readEnvironment(
    {
      ...serviceEnvironment,
      FW_GRPC_PORT: portVariable(DEFAULT_WORKER_GRPC_PORT),
      FW_WORKER_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 . _ -').default('worker-1'),
      FW_WORKER_ANALYZERS: z
        .string()
        .regex(/^(motion|tracks|keypoints)(,(motion|tracks|keypoints))*$/, 'must be a comma-separated list of motion, tracks, keypoints')
        .default('motion,tracks,keypoints'),
    },
    env,
  );
  return Object.freeze({
    ...serviceConfigFrom('worker', e.FW_GRPC_PORT, e),
    workerId: e.FW_WORKER_ID,
    analyzers: Object.freeze(e.FW_WORKER_ANALYZERS.split(',')),
  });
}
