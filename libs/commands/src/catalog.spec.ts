import fc from 'fast-check';
import type { Command } from '@framewire/proto';
import {
  COMMAND_CATALOG,
  COMMAND_TYPES,
  commandPayloadJsonSchema,
  commandTypesFor,
  MAX_COMMAND_TIMEOUT_MS,
  MAX_PAYLOAD_BYTES,
  MAX_PAYLOAD_DEPTH,
  parseCommandPayload,
  validateCommand,
} from './catalog';
import { CommandValidationError } from './errors';

const command = (over: Partial<Command> = {}): Command => ({
  requestId: 'req-1',
  target: 'capture',
  type: 'capture.pause',
  payloadJson: '',
  timeoutMs: 0,
  ...over,
});

function validationErrorOf(fn: () => unknown): CommandValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CommandValidationError) return err;
    throw err;
  }
  throw new Error('expected a CommandValidationError');
}

describe('parseCommandPayload', () => {
  it('accepts every documented payload shape', () => {
    expect(parseCommandPayload('capture.pause', '')).toEqual({});
    expect(parseCommandPayload('capture.resume', '{}')).toEqual({});
    expect(parseCommandPayload('capture.set_fps', '{"fps":30}')).toEqual({ fps: 30 });
    expect(parseCommandPayload('capture.switch_source', '{"source":"images:/tmp/x"}')).toEqual({ source: 'images:/tmp/x' });
    expect(parseCommandPayload('capture.switch_source', '{"source":"ffmpeg:rtsp://cam/1"}')).toEqual({ source: 'ffmpeg:rtsp://cam/1' });
    expect(parseCommandPayload('supplier.set_limits', '{"maxWorkers":8}')).toEqual({ maxWorkers: 8 });
    expect(parseCommandPayload('worker.set_analyzer', '{"analyzer":"motion","enabled":false,"settings":{"threshold":20,"x":[1,{"a":null}]}}')).toEqual({
      analyzer: 'motion',
      enabled: false,
      settings: { threshold: 20, x: [1, { a: null }] },
    });
    expect(parseCommandPayload('worker.set_fps', '{"fps":0}')).toEqual({ fps: 0 });
    expect(parseCommandPayload('worker.set_fps', '{"fps":12.5}')).toEqual({ fps: 12.5 });
  });

  it('names the field and the value of an out-of-range number', () => {
    const e = validationErrorOf(() => parseCommandPayload('capture.set_fps', '{"fps":500}'));
    expect(e.field).toBe('payload.fps');
    expect(e.message).toContain('500');
    expect(e.message).toContain('240');
    expect(e.code).toBe('INVALID_COMMAND');
  });

  it('refuses a fractional capture fps, a missing field, an unknown field and a bad enum value', () => {
    expect(validationErrorOf(() => parseCommandPayload('capture.set_fps', '{"fps":2.5}')).message).toBe('payload.fps must be a whole number (got 2.5)');
    expect(validationErrorOf(() => parseCommandPayload('capture.set_fps', '{}')).message).toBe('payload.fps is required');
    const unknown = validationErrorOf(() => parseCommandPayload('capture.set_fps', '{"fps":5,"fsp":5}'));
    expect(unknown.field).toBe('payload.fsp');
    expect(unknown.message).toContain('its fields: fps');
    const analyzer = validationErrorOf(() => parseCommandPayload('worker.set_analyzer', '{"analyzer":"no such thing","enabled":true}'));
    expect(analyzer.field).toBe('payload.analyzer');
    expect(analyzer.message).toContain('must be an analyzer name');
    // Any well-formed name passes here (model and user analyzers included): the worker knows its own.
    expect(parseCommandPayload('worker.set_analyzer', '{"analyzer":"detect","settings":{"minScore":0.3}}')).toEqual({ analyzer: 'detect', settings: { minScore: 0.3 } });
    expect(validationErrorOf(() => parseCommandPayload('capture.switch_source', '{"source":"webcam"}')).field).toBe('payload.source');
  });

  it('refuses a set_limits or set_analyzer that changes nothing', () => {
    expect(validationErrorOf(() => parseCommandPayload('supplier.set_limits', '{}')).field).toBe('payload');
    expect(validationErrorOf(() => parseCommandPayload('worker.set_analyzer', '{"analyzer":"motion"}')).field).toBe('payload');
  });

  it('answers UNKNOWN_TYPE for a type not in the catalog', () => {
    const e = validationErrorOf(() => parseCommandPayload('capture.explode', ''));
    expect(e.code).toBe('UNKNOWN_TYPE');
    expect(e.message).toContain('capture.pause');
  });

  it('refuses payloads that are not JSON objects, too deep or too large', () => {
    expect(validationErrorOf(() => parseCommandPayload('capture.pause', '[1]')).field).toBe('payload_json');
    expect(validationErrorOf(() => parseCommandPayload('capture.pause', 'null')).field).toBe('payload_json');
    expect(validationErrorOf(() => parseCommandPayload('capture.pause', '{')).field).toBe('payload_json');
    const deep = `{"analyzer":"motion","settings":{"a":${'['.repeat(MAX_PAYLOAD_DEPTH)}${']'.repeat(MAX_PAYLOAD_DEPTH)}}}`;
    expect(validationErrorOf(() => parseCommandPayload('worker.set_analyzer', deep)).message).toContain('nests deeper');
    const big = `{"analyzer":"motion","settings":{"a":"${'x'.repeat(MAX_PAYLOAD_BYTES)}"}}`;
    expect(validationErrorOf(() => parseCommandPayload('worker.set_analyzer', big)).message).toContain(`at most ${MAX_PAYLOAD_BYTES}`);
  });
});

describe('validateCommand', () => {
  it('accepts a well-formed command', () => {
    expect(() => validateCommand(command())).not.toThrow();
    expect(() => validateCommand(command({ requestId: '0c1e0a4e-5b8e-4f7e-9a61-7a2c1d9b1f00', target: 'worker-1', timeoutMs: MAX_COMMAND_TIMEOUT_MS }))).not.toThrow();
  });

  it.each([
    [{ requestId: '' }, 'request_id'],
    [{ requestId: 'x'.repeat(129) }, 'request_id'],
    [{ requestId: 'a b' }, 'request_id'],
    [{ target: '' }, 'target'],
    [{ target: 'cap/ture' }, 'target'],
    [{ timeoutMs: MAX_COMMAND_TIMEOUT_MS + 1 }, 'timeout_ms'],
    [{ timeoutMs: -1 }, 'timeout_ms'],
    [{ payloadJson: '"text"' }, 'payload_json'],
    [{ type: '' }, 'type'],
    [{ type: 'Pause!' }, 'type'],
  ])('refuses %j naming %s', (over, field) => {
    const e = validationErrorOf(() => validateCommand(command(over as Partial<Command>)));
    expect(e.field).toBe(field);
    expect(e.code).toBe('INVALID_COMMAND');
  });

  it('gives UNKNOWN_TYPE only for a well-formed type missing from the catalog', () => {
    expect(validationErrorOf(() => validateCommand(command({ type: 'capture.explode' }))).code).toBe('UNKNOWN_TYPE');
  });

  it('leaves payload fields to the service (the gateway forwards them)', () => {
    expect(() => validateCommand(command({ type: 'capture.set_fps', payloadJson: '{"fps":9999}' }))).not.toThrow();
  });

  it('never throws anything but CommandValidationError on arbitrary input', () => {
    const anyString = fc.oneof(fc.string(), fc.constantFrom(...COMMAND_TYPES), fc.constant(''));
    const payload = fc.oneof(fc.json(), fc.string(), fc.constant(''), fc.jsonValue().map((v) => JSON.stringify({ fps: v, source: v, analyzer: v, settings: v })));
    fc.assert(
      fc.property(
        fc.record({ requestId: anyString, target: anyString, type: anyString, payloadJson: payload, timeoutMs: fc.oneof(fc.integer(), fc.double()) }),
        (c) => {
          try {
            validateCommand(c as Command);
          } catch (err) {
            if (!(err instanceof CommandValidationError)) throw err;
          }
          try {
            parseCommandPayload(c.type, c.payloadJson);
          } catch (err) {
            if (!(err instanceof CommandValidationError)) throw err;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but CommandValidationError on values of the wrong types', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), (c, p) => {
        for (const run of [() => validateCommand(c as Command), () => parseCommandPayload(c as string, p as string)]) {
          try {
            run();
          } catch (err) {
            if (!(err instanceof CommandValidationError)) throw err;
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('catalog', () => {
  it('gives every type a kind, a description and a JSON schema', () => {
    for (const type of COMMAND_TYPES) {
      expect(COMMAND_CATALOG[type].description.length).toBeGreaterThan(10);
      expect(commandPayloadJsonSchema(type)).toHaveProperty('type', 'object');
    }
    expect(commandTypesFor('capture')).toEqual(['capture.pause', 'capture.resume', 'capture.set_fps', 'capture.switch_source']);
  });
});
