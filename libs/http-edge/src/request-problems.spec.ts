// Validation of HTTP and WebSocket input: typed values out, or a RequestProblem naming the field.
import fc from 'fast-check';
import { ResultKind } from '@framewire/proto';
import { parseCommandBody, parseLatestResultQuery, parseResultFilterQuery, RequestProblem } from './request-problems';

function problemOf(fn: () => unknown): RequestProblem {
  try {
    fn();
  } catch (error) {
    if (error instanceof RequestProblem) return error;
    throw error;
  }
  throw new Error('expected a RequestProblem');
}

describe('parseCommandBody', () => {
  it('turns a valid body into a Command with the payload as JSON', () => {
    expect(parseCommandBody({ requestId: 'r1', target: 'worker-1', type: 'worker.set_analyzer', payload: { motion: false }, timeoutMs: 250 })).toEqual({
      requestId: 'r1',
      target: 'worker-1',
      type: 'worker.set_analyzer',
      payloadJson: '{"motion":false}',
      timeoutMs: 250,
    });
  });

  it('leaves payload empty and the timeout to the gateway when they are absent', () => {
    expect(parseCommandBody({ requestId: 'r', target: 'capture', type: 'capture.pause' })).toMatchObject({ payloadJson: '', timeoutMs: 0 });
  });

  it.each([
    [null, 'body'],
    [[1, 2], 'body'],
    ['text', 'body'],
    [{ target: 'capture', type: 'capture.pause' }, 'requestId'],
    [{ requestId: 7, target: 'capture', type: 'capture.pause' }, 'requestId'],
    [{ requestId: 'r', target: '', type: 'capture.pause' }, 'target'],
    [{ requestId: 'r', target: 'capture', type: ['x'] }, 'type'],
    [{ requestId: 'r', target: 'capture', type: 't', payload: [1] }, 'payload'],
    [{ requestId: 'r', target: 'capture', type: 't', payload: 'fps=5' }, 'payload'],
    [{ requestId: 'r', target: 'capture', type: 't', timeoutMs: 1.5 }, 'timeoutMs'],
    [{ requestId: 'r', target: 'capture', type: 't', timeoutMs: -1 }, 'timeoutMs'],
    [{ requestId: 'r', target: 'capture', type: 't', extra: 1 }, 'extra'],
  ])('refuses %j naming %s', (body, field) => {
    const problem = problemOf(() => parseCommandBody(body));
    expect(problem.field).toBe(field);
    expect(problem.status).toBe(400);
  });

  it('throws nothing but a RequestProblem for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          parseCommandBody(value);
        } catch (error) {
          expect(error).toBeInstanceOf(RequestProblem);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('parseLatestResultQuery', () => {
  it('accepts a stream and a kind name', () => {
    expect(parseLatestResultQuery({ stream: 'cam-1', kind: 'tracks' })).toEqual({ streamId: 'cam-1', kind: ResultKind.RESULT_KIND_TRACKS });
  });

  it.each([
    [{ kind: 'tracks' }, 'stream'],
    [{ stream: 'cam-1' }, 'kind'],
    [{ stream: 'cam-1', kind: 'faces' }, 'kind'],
    [{ stream: ['a', 'b'], kind: 'tracks' }, 'stream'],
  ])('refuses %j naming %s', (query, field) => {
    expect(problemOf(() => parseLatestResultQuery(query)).field).toBe(field);
  });
});

describe('parseResultFilterQuery', () => {
  it('reads stream, worker and a comma-separated kind list', () => {
    expect(parseResultFilterQuery(new URLSearchParams('stream=cam-1&worker=w1&kind=keypoints,tracks'))).toEqual({
      streamId: 'cam-1',
      workerId: 'w1',
      kinds: [ResultKind.RESULT_KIND_KEYPOINTS, ResultKind.RESULT_KIND_TRACKS],
    });
  });

  it('accepts an empty query (everything)', () => {
    expect(parseResultFilterQuery(new URLSearchParams(''))).toEqual({ streamId: undefined, workerId: undefined, kinds: undefined });
  });

  it.each([
    ['kind=keypoints,faces', 'kind'],
    ['streams=cam-1', 'streams'],
    ['stream=a&stream=b', 'stream'],
  ])('refuses %s naming %s', (query, field) => {
    expect(problemOf(() => parseResultFilterQuery(new URLSearchParams(query))).field).toBe(field);
  });

  it('throws nothing but a RequestProblem for any query string', () => {
    fc.assert(
      fc.property(fc.string(), (query) => {
        try {
          parseResultFilterQuery(new URLSearchParams(query));
        } catch (error) {
          expect(error).toBeInstanceOf(RequestProblem);
        }
      }),
      { numRuns: 500 },
    );
  });
});
