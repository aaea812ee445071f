import { Result, ResultKind } from '@framewire/proto';
import { exampleResult, ResultHub } from './index';
import { LatestResultJson, matchesIfNoneMatch, MAX_LATEST_JSON_BODIES } from './latest-result-json';

const name = (kind: ResultKind): string => `kind-${kind}`;

describe('LatestResultJson', () => {
  const hub = new ResultHub();
  afterAll(() => hub.close());
  const publish = (streamId: string, frameSequence: number) =>
    hub.publish(exampleResult(ResultKind.RESULT_KIND_TRACKS, { streamId, frameSequence }));

  it('renders what the REST API promises: the kind, the receive time and the result as protobuf JSON', () => {
    const p = publish('json-cam', 1);
    const body = new LatestResultJson(name).render(p);
    expect(JSON.parse(body.json)).toEqual({ kind: name(p.kind), receivedTimeUs: p.receivedTimeUs, result: Result.toJSON(p.result) });
  });

  it('renders a result once for all callers, and tells results apart by their tag', () => {
    const json = new LatestResultJson(name);
    const a = publish('json-cam', 2);
    const b = publish('json-cam', 3);
    const first = json.render(a);
    expect(json.render(a)).toBe(first);
    expect(json.render(b).etag).not.toBe(first.etag);
    expect(json.etag(a)).toBe(first.etag);
  });

  it('keeps rendered bodies within its bound, the least recently used going first, one larger body alone', () => {
    const small = new LatestResultJson(name, 1);
    const a = publish('json-bound', 1);
    const b = publish('json-bound', 2);
    const bodyA = small.render(a);
    expect(small.keptChars).toBe(bodyA.json.length);
    const bodyB = small.render(b);
    expect(small.keptChars).toBe(bodyB.json.length);
    expect(small.render(a)).not.toBe(bodyA);
    const many = new LatestResultJson(name);
    const results = Array.from({ length: MAX_LATEST_JSON_BODIES + 10 }, (_, i) => publish(`json-many-${i}`, 1));
    const firstBody = many.render(results[0]);
    for (const p of results.slice(1)) many.render(p);
    expect(many.render(results[0])).not.toBe(firstBody);
  });

  it('reads If-None-Match as HTTP does: lists, weak tags and *', () => {
    expect(matchesIfNoneMatch(undefined, '"a-1"')).toBe(false);
    expect(matchesIfNoneMatch('"a-1"', '"a-1"')).toBe(true);
    expect(matchesIfNoneMatch('"b-2", W/"a-1"', '"a-1"')).toBe(true);
    expect(matchesIfNoneMatch('*', '"a-1"')).toBe(true);
    expect(matchesIfNoneMatch('"a-10"', '"a-1"')).toBe(false);
  });
});
