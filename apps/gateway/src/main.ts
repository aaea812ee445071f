// The gateway service: the results hub and front door.
import { runServiceProcess } from '@framewire/service';
import { GatewayModule } from './gateway.module';
import { loadGatewayConfig } from './config';

void runServiceProcess(() => loadGatewayConfig(), (config, logger) => GatewayModule.forRoot(config, logger));
