// Supplier's configuration, read once from the environment at start-up.
import { commandEnvironment, gatewayAddressFrom } from '@framewire/commands';
import { integerVariable, portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service';
import { z } from 'zod';

export const DEFAULT_SUPPLIER_GRPC_PORT = 50052;
export const DEFAULT_SUPPLIER_METRICS_PORT = 9102;
export const DEFAULT_SUPPLIER_IDLE_AFTER_MS = 30_000;

export interface SupplierConfig extends ServiceConfig {
  maxWorkers: number;
  maxStreams: number;
  maxFrameBytes: number;
  /** A worker that took no frame for this long is reported idle. */
  idleAfterMs: number;
  /** Port of the Prometheus /metrics endpoint (0 = any free port). */
  metricsPort: number;
  /** Check each frame read from a shared-memory ring against its CRC-32 (FW_SUPPLIER_SHM_VERIFY). */
  shmVerifyChecksum: boolean;
  /** The gateway whose commands the supplier obeys (FW_GATEWAY_ADDRESS; absent: no command subscription). */
  gatewayAddress?: string;
  /** This service's id for commands (FW_SERVICE_ID, default "supplier"). */
  serviceId: string;
}

export function loadSupplierConfig(env: Record<string, string | undefined> = process.env): SupplierConfig {
  const e = readEnvironment(
    {
      ...serviceEnvironment,
      FW_GRPC_PORT: portVariable(DEFAULT_SUPPLIER_GRPC_PORT),
      FW_SUPPLIER_MAX_WORKERS: integerVariable(1, 4096, 64),
      FW_SUPPLIER_MAX_STREAMS: integerVariable(1, 1024, 16),
      FW_SUPPLIER_MAX_FRAME_BYTES: integerVariable(1024, 256 * 1024 * 1024, 32 * 1024 * 1024),
      FW_SUPPLIER_IDLE_AFTER_MS: integerVariable(1, 24 * 3600 * 1000, DEFAULT_SUPPLIER_IDLE_AFTER_MS),
      FW_METRICS_PORT: portVariable(DEFAULT_SUPPLIER_METRICS_PORT),
      FW_SUPPLIER_SHM_VERIFY: z
        .enum(['true', 'false'])
        .default('true')
        .transform((v) => v === 'true'),
      ...commandEnvironment('supplier'),
    },
    env,
  );
  return Object.freeze({
    ...serviceConfigFrom('supplier', e.FW_GRPC_PORT, e),
    maxWorkers: e.FW_SUPPLIER_MAX_WORKERS,
    maxStreams: e.FW_SUPPLIER_MAX_STREAMS,
    maxFrameBytes: e.FW_SUPPLIER_MAX_FRAME_BYTES,
    idleAfterMs: e.FW_SUPPLIER_IDLE_AFTER_MS,
    metricsPort: e.FW_METRICS_PORT,
    shmVerifyChecksum: e.FW_SUPPLIER_SHM_VERIFY,
    gatewayAddress: gatewayAddressFrom(e.FW_GATEWAY_ADDRESS, env),
    serviceId: e.FW_SERVICE_ID,
  });
}
