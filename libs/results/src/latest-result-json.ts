// The body of GET /api/results/latest, rendered once per result and kept under a byte bound, with
// an entity tag: a poller that asks again for a result it has gets 304 and no body, and many callers
// asking for the same result at the validation limits (megabytes of JSON) cost one rendering, not
// one each.
import { Result, ResultKind } from '@framewire/proto';
import type { PublishedResult } from './hub';

const MIB = 1024 * 1024;
/** Characters of rendered bodies kept (about bytes: the JSON is ASCII but for strings in results).
 *  One body larger than this is still kept alone, so that the result asked for most recently is
 *  rendered once. */
export const DEFAULT_LATEST_JSON_CACHE_CHARS = 32 * MIB;

/** Bodies kept at most, whatever their size. */
export const MAX_LATEST_JSON_BODIES = 256;

export interface LatestResultBody {
  /** A strong entity tag, quoted: the result's receive time and its place in the publish order. */
  etag: string;
  json: string;
}

export class LatestResultJson {
  /** Bodies by result, least recently used first (Map order). */
  private readonly bodies = new Map<PublishedResult, LatestResultBody>();
  private chars = 0;

  constructor(
    private readonly kindName: (kind: ResultKind) => string,
    private readonly maxChars = DEFAULT_LATEST_JSON_CACHE_CHARS,
  ) {}

  /** The entity tag of `p`, without rendering it: its place in the publish order, after its
   *  receive time in µs (so that tags differ across gateway restarts). */
  etag(p: PublishedResult): string {
    return `"${p.receivedTimeUs.toString(36)}-${p.order.toString(36)}"`;
  }

  render(p: PublishedResult): LatestResultBody {
    const kept = this.bodies.get(p);
    if (kept !== undefined) {
      this.bodies.delete(p);
      this.bodies.set(p, kept);
      return kept;
    }
    const body = {
      etag: this.etag(p),
      json: JSON.stringify({ kind: this.kindName(p.kind), receivedTimeUs: p.receivedTimeUs, result: Result.toJSON(p.result) }),
    };
    this.bodies.set(p, body);
    this.chars += body.json.length;
    for (const [old, b] of this.bodies) {
      if ((this.chars <= this.maxChars && this.bodies.size <= MAX_LATEST_JSON_BODIES) || old === p) break;
      this.bodies.delete(old);
      this.chars -= b.json.length;
    }
    return body;
  }

  /** Characters of bodies kept (for tests and stats). */
  get keptChars(): number {
    return this.chars;
  }
}

/** Whether an If-None-Match header value names `etag` (a list, weak tags, or `*`). */
export function matchesIfNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}
