// The gateway service: the results hub and front door (gRPC, REST, WebSocket, metrics).
import { runServiceProcess } from '@framewire/service-runtime';
import { gatewayHttpOptions, GatewayModule } from './gateway.module';
import { loadGatewayConfig } from './config';

void runServiceProcess(() => loadGatewayConfig(), (config, logger) => GatewayModule.forRoot(config, logger), { http: gatewayHttpOptions });
