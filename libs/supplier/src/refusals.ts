// Refused subscriptions, counted per worker id and reason with the last one's time, stream, caller
// and message: what GetStats, /metrics and the gateway's health show of workers kept out.
// Bounded: the least recently refused entries go first.

/** Why a subscription was refused (framewire.v1.SubscriptionRefusal). */
export type RefusalReason = 'id-in-use' | 'worker-limit' | 'caller-limit' | 'stream-limit';

/** Entries kept; a worker id refused for two reasons has two. */
export const MAX_REFUSAL_RECORDS = 256;

export interface RefusalRecord {
  workerId: string;
  reason: RefusalReason;
  count: number;
  /** Clock milliseconds of the last refusal. */
  lastRefusedAtMs: number;
  streamId: string;
  /** Peer address of the last refused call ('' when unknown). */
  caller: string;
  message: string;
}

export class RefusalLog {
  /** Insertion order is refusal order: re-inserted on each refusal, the first entry is the oldest. */
  private readonly records = new Map<string, RefusalRecord>();

  constructor(private readonly maxRecords: number = MAX_REFUSAL_RECORDS) {}

  record(refusal: Omit<RefusalRecord, 'count'>): void {
    // A space never occurs in a worker id, so the key is unambiguous.
    const key = `${refusal.reason} ${refusal.workerId}`;
    const previous = this.records.get(key);
    this.records.delete(key);
    this.records.set(key, { ...refusal, count: (previous?.count ?? 0) + 1 });
    if (this.records.size > this.maxRecords) this.records.delete(this.records.keys().next().value as string);
  }

  /** Every entry, oldest refusal first. */
  list(): RefusalRecord[] {
    return [...this.records.values()].map((r) => ({ ...r }));
  }
}
