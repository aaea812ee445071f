// The commands capability: the CommandRouter (acknowledged commands to subscribed services) and
// its gRPC controller.
import { LoggerService, Module } from '@nestjs/common';
import { CommandRouter } from '@framewire/commands';
import { SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import type { GatewayConfig } from '../config';
import { contextLogger } from '../context-logger';
import { CommandRouterController } from './command-router.controller';

const commandRouterProvider = {
  provide: CommandRouter,
  inject: [SERVICE_CONFIG, SERVICE_LOGGER],
  useFactory: (config: GatewayConfig, logger: LoggerService) => new CommandRouter({ defaultTimeoutMs: config.commandTimeoutMs, logger: contextLogger(logger, 'CommandRouter') }),
};

@Module({
  controllers: [CommandRouterController],
  providers: [commandRouterProvider],
  exports: [CommandRouter],
})
export class CommandsModule {}
