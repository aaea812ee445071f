// `health-probe`: asks a framewire service's grpc.health.v1 `Health/Check` whether it is SERVING,
// for container health checks (the HEALTHCHECK of docker/*.Dockerfile). Exit 0 when SERVING, 1
// otherwise (NOT_SERVING, unreachable, no answer within the deadline), 2 for a bad command line.
// Kept tiny on purpose: grpc-js and two hand-written protobuf messages, no proto loading and no
// NestJS, so that a probe every few seconds in every container costs little CPU.
//
//   node dist/tools/health-probe/health-probe.js [host:port] [--service <name>] [--deadline-ms <n>]
//
// Without an address it asks 127.0.0.1:$FW_GRPC_PORT (or $FW_GRPC_HOST when that is a specific
// interface). With FW_TLS_CERT set (the service serves TLS) it speaks TLS, trusting FW_TLS_CA or
// else the service's own certificate.
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';

/** Bound on one probe, below the HEALTHCHECK timeout (3 s) so the probe reports why it failed. */
export const DEFAULT_PROBE_DEADLINE_MS = 2_000;
export const EXIT_SERVING = 0;
export const EXIT_NOT_SERVING = 1;
export const EXIT_USAGE = 2;

const HEALTH_CHECK_METHOD = '/grpc.health.v1.Health/Check';
/** grpc.health.v1.HealthCheckResponse.ServingStatus, by number. */
export const SERVING_STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
const SERVING = 1;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

/** A command line or environment the probe cannot work with. */
export class ProbeUsageError extends Error {
  readonly code = 'PROBE_USAGE';
}

/** A reply that is not a HealthCheckResponse. */
export class ProbeReplyError extends Error {
  readonly code = 'PROBE_REPLY_MALFORMED';
}

export interface ProbeTarget {
  /** host:port to dial. */
  address: string;
  /** The health service name to ask about; "" stands for the whole server. */
  service: string;
  deadlineMs: number;
  /** Speak TLS, trusting these certificates (the name in the certificate is not checked: the
   *  probe dials the service's own loopback, which a certificate rarely names). */
  tlsRootCerts?: Buffer;
}

export interface ProbeOutcome {
  serving: boolean;
  /** SERVING, NOT_SERVING, ... or the gRPC error (`UNAVAILABLE: ...`). */
  status: string;
  ms: number;
}

/** HealthCheckRequest { string service = 1; } */
export function encodeCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  if (name.length === 0) return Buffer.alloc(0);
  const length: number[] = [];
  for (let n = name.length; ; n >>>= 7) {
    if (n < 0x80) {
      length.push(n);
      break;
    }
    length.push((n & 0x7f) | 0x80);
  }
  return Buffer.concat([Buffer.from([0x0a, ...length]), name]);
}

function readVarint(bytes: Buffer, at: { offset: number }): number {
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (at.offset >= bytes.length) throw new ProbeReplyError(`truncated varint at offset ${at.offset}`);
    const byte = bytes[at.offset++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return value;
  }
  throw new ProbeReplyError(`varint too long at offset ${at.offset}`);
}

/** HealthCheckResponse { ServingStatus status = 1; }: the status number (0 when absent). */
export function decodeCheckResponse(bytes: Buffer): number {
  const at = { offset: 0 };
  let status = 0;
  while (at.offset < bytes.length) {
    const key = readVarint(bytes, at);
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (wireType === 0) {
      const value = readVarint(bytes, at);
      if (field === 1) status = value;
    } else if (wireType === 2) {
      const length = readVarint(bytes, at); // read before adding: it moves at.offset
      at.offset += length;
    } else if (wireType === 1 || wireType === 5) {
      at.offset += wireType === 1 ? 8 : 4;
    } else {
      throw new ProbeReplyError(`unsupported wire type ${wireType} at offset ${at.offset}`);
    }
    if (at.offset > bytes.length) throw new ProbeReplyError(`field ${field} runs past the end (${bytes.length} bytes)`);
  }
  return status;
}

/** One Check call; never throws for a service that is down, it reports it. */
export function probeHealth(target: ProbeTarget): Promise<ProbeOutcome> {
  const started = Date.now();
  const credentials =
    target.tlsRootCerts === undefined
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(target.tlsRootCerts, null, null, { checkServerIdentity: () => undefined });
  const client = new grpc.Client(target.address, credentials);
  return new Promise<ProbeOutcome>((resolve) => {
    client.makeUnaryRequest(
      HEALTH_CHECK_METHOD,
      encodeCheckRequest,
      decodeCheckResponse,
      target.service,
      new grpc.Metadata(),
      { deadline: Date.now() + target.deadlineMs },
      (err: grpc.ServiceError | null, status?: number) => {
        const ms = Date.now() - started;
        if (err) resolve({ serving: false, status: `${grpc.status[err.code] ?? err.code}: ${err.details}`, ms });
        else resolve({ serving: status === SERVING, status: SERVING_STATUS_NAMES[status ?? 0] ?? `status ${status}`, ms });
      },
    );
  }).finally(() => client.close());
}

function readCertificates(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ProbeUsageError(`${variable}: cannot read ${JSON.stringify(path)}: ${(err as Error).message}`);
  }
}

/** The probe's target from its arguments and the service's own environment (read once). */
export function probeTargetFrom(args: readonly string[], env: Readonly<Record<string, string | undefined>>): ProbeTarget {
  let address: string | undefined;
  let service = '';
  let deadlineMs = DEFAULT_PROBE_DEADLINE_MS;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--service' && i + 1 < args.length) service = args[++i];
    else if (arg === '--deadline-ms' && i + 1 < args.length) {
      deadlineMs = Number(args[++i]);
      if (!Number.isInteger(deadlineMs) || deadlineMs < 1) throw new ProbeUsageError(`--deadline-ms: must be a whole number of milliseconds (got ${JSON.stringify(args[i])})`);
    } else if (!arg.startsWith('-') && address === undefined) address = arg;
    else throw new ProbeUsageError(`unexpected argument ${JSON.stringify(arg)}`);
  }
  if (address === undefined) {
    const port = env.FW_GRPC_PORT;
    if (port === undefined || !/^\d{1,5}$/.test(port) || Number(port) === 0) {
      throw new ProbeUsageError(`no address given and FW_GRPC_PORT is ${port === undefined ? 'unset' : JSON.stringify(port)}: pass host:port`);
    }
    const host = env.FW_GRPC_HOST ?? '';
    address = `${WILDCARD_HOSTS.has(host) ? '127.0.0.1' : host}:${port}`;
  }
  if (!/^[^\s,]+:\d{1,5}$/.test(address)) throw new ProbeUsageError(`address must be host:port (got ${JSON.stringify(address)})`);
  return { address, service, deadlineMs, tlsRootCerts: tlsRootCertsFrom(env) };
}

/** What to trust when services configured by `env` serve TLS (FW_TLS_CERT set): FW_TLS_CA, else the
 *  service's own certificate; undefined when they serve plain TCP. */
export function tlsRootCertsFrom(env: Readonly<Record<string, string | undefined>>): Buffer | undefined {
  const serverCert = env.FW_TLS_CERT || undefined;
  const ca = env.FW_TLS_CA || undefined;
  if (serverCert === undefined) return undefined;
  return ca !== undefined ? readCertificates('FW_TLS_CA', ca) : readCertificates('FW_TLS_CERT', serverCert);
}

async function main(): Promise<number> {
  let target: ProbeTarget;
  try {
    target = probeTargetFrom(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ProbeUsageError)) throw err;
    process.stderr.write(`health-probe: ${err.message}\n`);
    return EXIT_USAGE;
  }
  const outcome = await probeHealth(target);
  // One line: Docker keeps it in the container's health log (docker inspect .State.Health).
  process.stdout.write(`${outcome.status} ${target.address}${target.service ? ` ${target.service}` : ''} (${outcome.ms} ms)\n`);
  return outcome.serving ? EXIT_SERVING : EXIT_NOT_SERVING;
}

if (require.main === module) {
  // Exit at once: the closed channel's timers must not hold the probe.
  void main().then((code) => process.exit(code));
}
