// Gateway's configuration, read once from the environment at start-up.
import { portVariable, readEnvironment, ServiceConfig, serviceConfigFrom, serviceEnvironment } from '@framewire/service';
import { z } from 'zod';

export const DEFAULT_GATEWAY_GRPC_PORT = 50054;

export interface GatewayConfig extends ServiceConfig {
  httpPort: number;
  archiveDir: string;
}

export function loadGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const e = readEnvironment(
    {
      ...serviceEnvironment,
      FW_GRPC_PORT: portVariable(DEFAULT_GATEWAY_GRPC_PORT),
      FW_HTTP_PORT: portVariable(8080),
      FW_ARCHIVE_DIR: z.string().min(1).default('data/archive'),
    },
    env,
  );
  return Object.freeze({
    ...serviceConfigFrom('gateway', e.FW_GRPC_PORT, e),
    httpPort: e.FW_HTTP_PORT,
    archiveDir: e.FW_ARCHIVE_DIR,
  });
}
