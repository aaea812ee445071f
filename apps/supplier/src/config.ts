// Supplier's configuration, read once from the environment at start-up.
import { commandEnvironment, gatewayAddressFrom } from '@framewire/commands';
import { ConfigError, integerVariable, portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service-runtime';
import { DEFAULT_HOLDER_SILENCE_MS, DEFAULT_MAX_POOL_CREDITS, DEFAULT_MAX_POOLS, DEFAULT_MAX_WORKERS_PER_CALLER } from '@framewire/supplier';
import { z } from 'zod';

export const DEFAULT_SUPPLIER_GRPC_PORT = 50052;
export const DEFAULT_SUPPLIER_METRICS_PORT = 9102;
export const DEFAULT_SUPPLIER_IDLE_AFTER_MS = 30_000;
const MAX_WORKERS = 4096;
/** A worker id, or a prefix of worker ids ending in '*' (at least one character before it). */
const RESERVED_ENTRY = /^(?:[A-Za-z0-9._:-]{1,64}|[A-Za-z0-9._:-]{1,63}\*)$/;

/** FW_SUPPLIER_RESERVED_WORKERS: comma-separated worker ids and prefixes. */
const reservedWorkersVariable = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((e) => e.trim()).filter((e) => e !== ''))
  .refine((list) => list.every((e) => RESERVED_ENTRY.test(e)), 'must be a comma-separated list of worker ids (1-64 of A-Z a-z 0-9 . _ : -) or prefixes ending in * ("worker-*")')
  .refine((list) => list.length < MAX_WORKERS, `must list fewer than ${MAX_WORKERS} entries`);

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
  /** Worker ids (or prefixes ending in '*') that always find a slot (FW_SUPPLIER_RESERVED_WORKERS). */
  reservedWorkers: readonly string[];
  /** Slots kept for them (FW_SUPPLIER_RESERVED_SLOTS; default: one per entry). */
  reservedSlots: number;
  /** Subscriptions one peer address may hold, exact reserved ids excepted (FW_SUPPLIER_MAX_WORKERS_PER_CALLER). */
  maxWorkersPerCaller: number;
  /** A worker id whose holder was silent this long may be taken by another instance (FW_SUPPLIER_HOLDER_SILENCE_MS). */
  holderSilenceMs: number;
  /** Worker pools at once (FW_SUPPLIER_MAX_POOLS). */
  maxPools: number;
  /** Credits a pool member may hold, its largest batch (FW_SUPPLIER_MAX_POOL_CREDITS). */
  maxPoolCredits: number;
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
      FW_SUPPLIER_MAX_WORKERS: integerVariable(1, MAX_WORKERS, 64),
      FW_SUPPLIER_RESERVED_WORKERS: reservedWorkersVariable,
      // Unset: one slot per entry of FW_SUPPLIER_RESERVED_WORKERS.
      FW_SUPPLIER_RESERVED_SLOTS: z.coerce.number().int().min(0).max(MAX_WORKERS - 1).optional(),
      FW_SUPPLIER_MAX_WORKERS_PER_CALLER: integerVariable(1, MAX_WORKERS, DEFAULT_MAX_WORKERS_PER_CALLER),
      FW_SUPPLIER_HOLDER_SILENCE_MS: integerVariable(100, 3600_000, DEFAULT_HOLDER_SILENCE_MS),
      FW_SUPPLIER_MAX_STREAMS: integerVariable(1, 1024, 16),
      FW_SUPPLIER_MAX_POOLS: integerVariable(1, MAX_WORKERS, DEFAULT_MAX_POOLS),
      FW_SUPPLIER_MAX_POOL_CREDITS: integerVariable(1, 256, DEFAULT_MAX_POOL_CREDITS),
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
  const reservedWorkers = Object.freeze([...e.FW_SUPPLIER_RESERVED_WORKERS]);
  const reservedSlots = e.FW_SUPPLIER_RESERVED_SLOTS ?? reservedWorkers.length;
  if (reservedSlots >= e.FW_SUPPLIER_MAX_WORKERS) {
    const variable = e.FW_SUPPLIER_RESERVED_SLOTS === undefined ? 'FW_SUPPLIER_RESERVED_WORKERS' : 'FW_SUPPLIER_RESERVED_SLOTS';
    throw new ConfigError([
      `${variable}: reserves ${reservedSlots} slots; FW_SUPPLIER_MAX_WORKERS (${e.FW_SUPPLIER_MAX_WORKERS}) must be larger, so that other workers keep at least one (got ${JSON.stringify(env[variable])})`,
    ]);
  }
  return Object.freeze({
    ...serviceConfigFrom('supplier', e.FW_GRPC_PORT, e),
    maxWorkers: e.FW_SUPPLIER_MAX_WORKERS,
    reservedWorkers,
    reservedSlots,
    maxWorkersPerCaller: e.FW_SUPPLIER_MAX_WORKERS_PER_CALLER,
    holderSilenceMs: e.FW_SUPPLIER_HOLDER_SILENCE_MS,
    maxStreams: e.FW_SUPPLIER_MAX_STREAMS,
    maxPools: e.FW_SUPPLIER_MAX_POOLS,
    maxPoolCredits: e.FW_SUPPLIER_MAX_POOL_CREDITS,
    maxFrameBytes: e.FW_SUPPLIER_MAX_FRAME_BYTES,
    idleAfterMs: e.FW_SUPPLIER_IDLE_AFTER_MS,
    metricsPort: e.FW_METRICS_PORT,
    shmVerifyChecksum: e.FW_SUPPLIER_SHM_VERIFY,
    gatewayAddress: gatewayAddressFrom(e.FW_GATEWAY_ADDRESS, env),
    serviceId: e.FW_SERVICE_ID,
  });
}
