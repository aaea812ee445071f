// The supplier service as a Nest module: the FrameSupplier core (from the configuration), the
// FrameSupplier gRPC controller, the Prometheus /metrics server and the command subscription.
import { LoggerService, Module } from '@nestjs/common';
import { PROTO_FILES, SERVICE_NAMES } from '@framewire/proto';
import { SERVICE_CONFIG, SERVICE_LOGGER, ServiceDefinition } from '@framewire/service-runtime';
import { FrameRingReader } from '@framewire/shm';
import { FrameSupplier, FrameSupplierDeliveryService } from '@framewire/supplier';
import { SupplierConfig } from './config';
import { FrameSupplierController } from './frame-supplier.controller';
import { SupplierMetricsServer } from './metrics';
import { SupplierCommands } from './supplier-commands';

/** The supplier's core, made from its configuration; closed by the controller when the service stops. */
const frameSupplierProvider = {
  provide: FrameSupplier,
  inject: [SERVICE_CONFIG, SERVICE_LOGGER],
  useFactory: (config: SupplierConfig, logger: LoggerService) =>
    new FrameSupplier({
      maxWorkers: config.maxWorkers,
      maxStreams: config.maxStreams,
      maxFrameBytes: config.maxFrameBytes,
      idleAfterMs: config.idleAfterMs,
      reservedWorkers: config.reservedWorkers,
      reservedSlots: config.reservedSlots,
      maxWorkersPerCaller: config.maxWorkersPerCaller,
      holderSilenceMs: config.holderSilenceMs,
      maxPools: config.maxPools,
      maxPoolCredits: config.maxPoolCredits,
      // Rings are opened lazily, on the first reference that names one.
      openRingReader: (ringName) => FrameRingReader.open(ringName, { verifyChecksum: config.shmVerifyChecksum }),
      onRingOpenError: (ringName, error) =>
        logger.warn({ message: 'cannot open shared-memory ring; its frames are dropped for byte workers', ring: ringName, error: error.message }, 'FrameSupplier'),
    }),
};

@Module({
  controllers: [FrameSupplierController],
  providers: [frameSupplierProvider, SupplierMetricsServer, SupplierCommands],
})
export class SupplierModule {}

/** Room for the rest of a message (Delivery and Frame fields) around the frame bytes. */
export const GRPC_MESSAGE_HEADROOM_BYTES = 64 * 1024;

/** The supplier as runServiceProcess and startService take it: its module and what its gRPC port serves. */
export const SUPPLIER_SERVICE: ServiceDefinition<SupplierConfig> = {
  module: () => SupplierModule,
  grpc: (config) => ({
    services: [{ name: SERVICE_NAMES.frameSupplier, definition: FrameSupplierDeliveryService }],
    protoFiles: PROTO_FILES,
    serverOptions: {
      'grpc.max_receive_message_length': config.maxFrameBytes + GRPC_MESSAGE_HEADROOM_BYTES,
      'grpc.max_send_message_length': config.maxFrameBytes + GRPC_MESSAGE_HEADROOM_BYTES,
    },
  }),
};
