// Who a subscribing worker is: its instance key (which process), its caller (which peer address)
// and whether its id is reserved. The rules that use them are FrameSupplier.subscribe's.
import { timingSafeEqual } from 'node:crypto';
import { InvalidRequestError } from './errors';

/** A holder that took no frame and granted no credit for this long (while frames waited for it)
 *  loses its worker id to another instance. */
export const DEFAULT_HOLDER_SILENCE_MS = 10_000;
/** Longest instance id. */
export const MAX_INSTANCE_ID_LENGTH = 128;
const INSTANCE_ID_PATTERN = /^[\x21-\x7e]*$/;
/** A reserved-workers entry ending in this reserves every id that starts with the rest. */
export const RESERVED_PREFIX_MARK = '*';

/** Throws InvalidRequestError naming instance_id unless it is empty or 1-128 printable ASCII
 *  characters. The message never repeats the value: it is a secret of the worker. */
export function checkInstanceId(instanceId: string): void {
  if (instanceId.length > MAX_INSTANCE_ID_LENGTH) {
    throw new InvalidRequestError('instance_id', `instance_id has ${instanceId.length} characters; at most ${MAX_INSTANCE_ID_LENGTH} are allowed`);
  }
  if (!INSTANCE_ID_PATTERN.test(instanceId)) {
    throw new InvalidRequestError('instance_id', 'instance_id may hold only printable ASCII characters (no spaces)');
  }
}

/** Whether two instance ids name the same instance: equal and not empty (compared in constant time). */
export function sameInstance(a: string, b: string): boolean {
  if (a.length === 0 || a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/**
 * The caller of a gRPC call as the supplier counts it: the peer's address without the port
 * ("127.0.0.1:50312" -> "127.0.0.1"; "::ffff:10.0.0.7:4431" -> "10.0.0.7"; "::1:5000" -> "::1").
 * grpc-js reports `${remoteAddress}:${remotePort}`, IPv6 without brackets.
 */
export function callerOf(peer: string): string {
  const colon = peer.lastIndexOf(':');
  let host = colon > 0 && /^\d+$/.test(peer.slice(colon + 1)) ? peer.slice(0, colon) : peer;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  return mapped ? mapped[1] : host;
}

/** How a worker id is reserved: not at all, by its exact id, or by a prefix entry. */
export type Reservation = 'none' | 'id' | 'prefix';

/** The reserved-workers list: exact ids and prefixes (entries ending in '*'). */
export class ReservedWorkers {
  private readonly ids: ReadonlySet<string>;
  private readonly prefixes: readonly string[];

  constructor(readonly entries: readonly string[] = []) {
    this.ids = new Set(entries.filter((e) => !e.endsWith(RESERVED_PREFIX_MARK)));
    this.prefixes = entries.filter((e) => e.endsWith(RESERVED_PREFIX_MARK)).map((e) => e.slice(0, -RESERVED_PREFIX_MARK.length));
  }

  of(workerId: string): Reservation {
    if (this.ids.has(workerId)) return 'id';
    return this.prefixes.some((p) => workerId.startsWith(p)) ? 'prefix' : 'none';
  }
}
