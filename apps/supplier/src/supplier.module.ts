// Wiring of the supplier service: the FrameSupplier core, its gRPC adapter on the service's
// GrpcServerHost, and the Prometheus /metrics server.
import { DynamicModule, LoggerService, Module } from '@nestjs/common';
import { PROTO_FILES, SERVICE_NAMES } from '@framewire/proto';
import { DEFAULT_GRPC_DRAIN_TIMEOUT_MS, GrpcServerHost, grpcServerHostOptions } from '@framewire/service';
import { FrameRingReader } from '@framewire/shm';
import { FrameSupplier } from '@framewire/supplier';
import { SupplierConfig } from './config';
import { supplierMetricsRegistry, SupplierMetricsServer } from './metrics';
import { FrameSupplierDeliveryService } from './delivery-encoding';
import { SupplierCommands } from './supplier-commands';
import { SupplierGrpcService } from './supplier-grpc';

export const SUPPLIER_CONFIG = Symbol('SupplierConfig');

/** Room for the rest of a message (Delivery and Frame fields) around the frame bytes. */
export const GRPC_MESSAGE_HEADROOM_BYTES = 64 * 1024;

@Module({})
export class SupplierModule {
  static forRoot(config: SupplierConfig, logger: LoggerService): DynamicModule {
    const maxMessageBytes = config.maxFrameBytes + GRPC_MESSAGE_HEADROOM_BYTES;
    return {
      module: SupplierModule,
      providers: [
        { provide: SUPPLIER_CONFIG, useValue: config },
        {
          provide: FrameSupplier,
          useFactory: () =>
            new FrameSupplier({
              maxWorkers: config.maxWorkers,
              maxStreams: config.maxStreams,
              maxFrameBytes: config.maxFrameBytes,
              idleAfterMs: config.idleAfterMs,
              reservedWorkers: config.reservedWorkers,
              reservedSlots: config.reservedSlots,
              maxWorkersPerCaller: config.maxWorkersPerCaller,
              holderSilenceMs: config.holderSilenceMs,
              // Rings are opened lazily, on the first reference that names one.
              openRingReader: (ringName) => FrameRingReader.open(ringName, { verifyChecksum: config.shmVerifyChecksum }),
              onRingOpenError: (ringName, error) =>
                logger.warn({ message: 'cannot open shared-memory ring; its frames are dropped for byte workers', ring: ringName, error: error.message }, 'SupplierModule'),
            }),
        },
        {
          provide: SupplierGrpcService,
          useFactory: (supplier: FrameSupplier) => new SupplierGrpcService(supplier, logger, config.security.token),
          inject: [FrameSupplier],
        },
        {
          // Built here rather than with grpcServerProvider, which takes no server options.
          provide: GrpcServerHost,
          useFactory: (service: SupplierGrpcService) =>
            new GrpcServerHost({
              ...grpcServerHostOptions(config),
              protoFiles: PROTO_FILES,
              services: [{ name: SERVICE_NAMES.frameSupplier, definition: FrameSupplierDeliveryService, implementation: service.implementation }],
              logger,
              drainTimeoutMs: Math.min(DEFAULT_GRPC_DRAIN_TIMEOUT_MS, Math.floor(config.shutdownTimeoutMs / 2)),
              serverOptions: {
                'grpc.max_receive_message_length': maxMessageBytes,
                'grpc.max_send_message_length': maxMessageBytes,
              },
            }),
          inject: [SupplierGrpcService],
        },
        {
          provide: SupplierMetricsServer,
          useFactory: (supplier: FrameSupplier) =>
            new SupplierMetricsServer(supplierMetricsRegistry(supplier), config.grpcHost, config.metricsPort, config.connectionLimits, logger),
          inject: [FrameSupplier],
        },
        {
          provide: SupplierCommands,
          useFactory: (supplier: FrameSupplier) => new SupplierCommands(config, supplier, logger),
          inject: [FrameSupplier],
        },
      ],
    };
  }
}
