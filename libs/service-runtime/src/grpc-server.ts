// The gRPC server every service runs: its own services, the standard health service
// (grpc.health.v1) and server reflection, behind a listener that bounds its connections
// (grpc-listener.ts), with a bounded graceful stop.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { LoggerService } from '@nestjs/common';
import { PROTO_ROOT } from '@framewire/proto';
import { HealthImplementation, protoPath as healthProtoPath, ServingStatus } from 'grpc-health-check';
import { dirname, resolve } from 'node:path';
import { ConnectionLimits, DEFAULT_CONNECTION_LIMITS, grpcServerOptions } from './connection-limits';
import { GrpcListener } from './grpc-listener';
import { RequestDecoding } from './request-decoding';
import { SecurityConfig, ServerTls } from './security';

/** The health service name that stands for the whole server. */
export const OVERALL_HEALTH = '';

/** The services every GrpcServerHost serves besides its own: health and both reflection versions. */
export const STANDARD_SERVICE_NAMES = Object.freeze([
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
]);

/** How long in-flight calls may run on after a stop begins, before they are cancelled. */
export const DEFAULT_GRPC_DRAIN_TIMEOUT_MS = 5_000;

export interface GrpcServiceRegistration {
  /** Full name, e.g. "framewire.v1.FrameSupplier" (what health and reflection report). */
  name: string;
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
}

export interface GrpcServerHostOptions {
  host: string;
  port: number;
  /** .proto files of the services, relative to PROTO_ROOT, for reflection. */
  protoFiles: readonly string[];
  services: readonly GrpcServiceRegistration[];
  logger: LoggerService;
  drainTimeoutMs?: number;
  /** Further grpc-js options (message sizes); the connection limits' options are set already. */
  serverOptions?: grpc.ServerOptions;
  /** Certificate and key: the port speaks TLS only (default plaintext). */
  tls?: ServerTls;
  /** Handshake, idle, keepalive and connection bounds (default DEFAULT_CONNECTION_LIMITS). */
  limits?: ConnectionLimits;
}

/**
 * Server reflection that lists exactly the services this server answers: `services` and the
 * standard ones. (Given every .proto file, reflection would list every service in them, and a
 * client calling one this port does not serve would get UNIMPLEMENTED.)
 */
function reflectionFor(protoFiles: readonly string[], services: readonly GrpcServiceRegistration[]): ReflectionService {
  const healthRoot = resolve(dirname(healthProtoPath), '../..');
  const reflectionRoot = resolve(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
  const contract = protoLoader.loadSync(
    [...protoFiles, 'health/v1/health.proto', 'grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'],
    { includeDirs: [PROTO_ROOT, healthRoot, reflectionRoot] },
  );
  const names = [...services.map((s) => s.name), ...STANDARD_SERVICE_NAMES];
  const undescribed = names.find((name) => contract[name] === undefined);
  if (undescribed !== undefined) throw new Error(`gRPC service ${undescribed} is not in the .proto files given for reflection (${protoFiles.join(', ')})`);
  return new ReflectionService(contract, { services: names });
}

/**
 * Owns one @grpc/grpc-js server: starts it, reports its health, and stops it (health NOT_SERVING,
 * drain, then force). A service's GrpcTransport runs one with the handlers of its controllers.
 */
export class GrpcServerHost {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  readonly listener: GrpcListener;
  private boundPort: number | undefined;
  private stopping: Promise<void> | undefined;
  private status: ServingStatus = 'NOT_SERVING';

  constructor(private readonly options: GrpcServerHostOptions) {
    const limits = options.limits ?? DEFAULT_CONNECTION_LIMITS;
    // Every method's requests are decoded by RequestDecoding: bytes that are not a request are
    // INVALID_ARGUMENT, not grpc-js's INTERNAL, on our services and on health and reflection alike.
    const decoding = new RequestDecoding();
    const interceptors = [decoding.interceptor, ...(options.serverOptions?.interceptors ?? [])];
    this.server = new grpc.Server({ ...grpcServerOptions(limits), ...options.serverOptions, interceptors });
    const registrar = { addService: (definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) => this.server.addService(decoding.passBytes(definition), implementation) };
    this.listener = new GrpcListener(this.server, limits, options.tls, options.logger);
    this.health = new HealthImplementation({ [OVERALL_HEALTH]: 'NOT_SERVING' });
    this.health.addToServer(registrar as grpc.Server);
    reflectionFor(options.protoFiles, options.services).addToServer(registrar as grpc.Server);
    for (const s of options.services) {
      registrar.addService(s.definition, s.implementation);
      this.health.setStatus(s.name, 'NOT_SERVING');
    }
  }

  /** The port the server listens on (resolved when 0 was configured). */
  get port(): number {
    if (this.boundPort === undefined) throw new Error('gRPC server is not started');
    return this.boundPort;
  }

  /** What the health service reports for the server and each of its services. */
  get servingStatus(): ServingStatus {
    return this.status;
  }

  setServing(status: ServingStatus): void {
    this.status = status;
    this.health.setStatus(OVERALL_HEALTH, status);
    for (const s of this.options.services) this.health.setStatus(s.name, status);
  }

  async start(): Promise<number> {
    this.boundPort = await this.listener.listen(this.options.host, this.options.port);
    this.setServing('SERVING');
    this.options.logger.log(
      { message: 'gRPC listening', address: `${this.options.host}:${this.boundPort}`, services: this.options.services.map((s) => s.name) },
      'GrpcServerHost',
    );
    return this.boundPort;
  }

  /** Stops accepting calls, lets in-flight calls finish within the drain timeout, then cancels them. */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((done) => {
      this.setServing('NOT_SERVING');
      this.listener.stopAccepting();
      const drainMs = this.options.drainTimeoutMs ?? DEFAULT_GRPC_DRAIN_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.options.logger.warn({ message: 'gRPC calls still running after drain timeout; cancelling', drainMs }, 'GrpcServerHost');
        this.server.forceShutdown();
        done();
      }, drainMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        done();
      });
    });
    return this.stopping;
  }
}

/** What a GrpcServerHost takes from a service's configuration: where it listens, its TLS and limits. */
export interface GrpcServerConfig {
  grpcHost: string;
  grpcPort: number;
  connectionLimits: ConnectionLimits;
  security: SecurityConfig;
}

/** The options of a service's GrpcServerHost that come from its configuration. */
export function grpcServerHostOptions(config: GrpcServerConfig): Pick<GrpcServerHostOptions, 'host' | 'port' | 'tls' | 'limits'> {
  return { host: config.grpcHost, port: config.grpcPort, tls: config.security.serverTls, limits: config.connectionLimits };
}
