// The variables of a service's command subscription (capture, supplier, worker read the same two).
import { z } from 'zod';
import { SERVICE_ID_PATTERN } from './catalog';

/** Where the gateway's CommandRouter listens by default. */
export const DEFAULT_GATEWAY_ADDRESS = '127.0.0.1:50054';
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** FW_GATEWAY_ADDRESS (host:port; set to the empty string for no command subscription) and FW_SERVICE_ID. */
export function commandEnvironment(defaultServiceId: string) {
  return {
    FW_GATEWAY_ADDRESS: z.string().regex(HOST_PORT, 'must be host:port (or empty: no command subscription)').default(DEFAULT_GATEWAY_ADDRESS),
    FW_SERVICE_ID: z.string().regex(SERVICE_ID_PATTERN, 'must be 1-64 of A-Z a-z 0-9 . _ : -').default(defaultServiceId),
  };
}

/**
 * The gateway address to subscribe to, or undefined when FW_GATEWAY_ADDRESS is set but empty
 * (readEnvironment reads an empty variable as unset, which would give the default instead).
 */
export function gatewayAddressFrom(parsed: string, env: Record<string, string | undefined>): string | undefined {
  return env.FW_GATEWAY_ADDRESS === '' ? undefined : parsed;
}
