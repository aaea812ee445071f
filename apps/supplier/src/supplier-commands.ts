// The supplier's command subscription to the gateway (docs/commands.md): supplier.set_limits.
import { BeforeApplicationShutdown, Inject, Injectable, LoggerService, OnApplicationBootstrap } from '@nestjs/common';
import { CommandListener, CommandPayload, listenForCommands } from '@framewire/commands';
import { channelCredentials, channelOptions, tokenMetadata } from '@framewire/grpc-client';
import { SERVICE_CONFIG, SERVICE_LOGGER } from '@framewire/service-runtime';
import { FrameSupplier } from '@framewire/supplier';
import { SupplierConfig } from './config';

const CONTEXT = 'SupplierCommands';

@Injectable()
export class SupplierCommands implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private listener: CommandListener | undefined;

  constructor(
    @Inject(SERVICE_CONFIG) private readonly config: SupplierConfig,
    private readonly supplier: FrameSupplier,
    @Inject(SERVICE_LOGGER) private readonly logger: LoggerService,
  ) {}

  onApplicationBootstrap(): void {
    const { config } = this;
    if (config.gatewayAddress === undefined) return;
    this.listener = listenForCommands({
      address: config.gatewayAddress,
      serviceId: config.serviceId,
      handlers: {
        'supplier.set_limits': (payload: CommandPayload<'supplier.set_limits'>) => {
          const limits = this.supplier.setLimits(payload);
          this.logger.log({ message: 'limits changed', ...limits }, CONTEXT);
          return `limits: maxWorkers ${limits.maxWorkers}, maxStreams ${limits.maxStreams}, idleAfterMs ${limits.idleAfterMs}`;
        },
      },
      credentials: channelCredentials(config.security),
      channelOptions: channelOptions(config.security),
      metadata: tokenMetadata(config.security.token),
      logger: this.logger as Parameters<typeof listenForCommands>[0]['logger'],
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.listener?.close(Math.max(100, Math.floor(this.config.shutdownTimeoutMs / 8)));
  }
}
