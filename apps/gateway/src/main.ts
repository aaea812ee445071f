// The gateway service: the results hub and front door (gRPC, REST, WebSocket, metrics).
import { runServiceProcess } from '@framewire/service-runtime';
import { loadGatewayConfig } from './config';
import { GATEWAY_SERVICE } from './gateway.module';

void runServiceProcess(() => loadGatewayConfig(), GATEWAY_SERVICE);
