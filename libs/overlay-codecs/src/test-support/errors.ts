// Assertions on what a decoder throws, shared by the codec specs.
import { ProtocolDecodeError } from '../errors';

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/** The error `run` throws, asserted to be a `type`; fails the test when `run` throws nothing. */
export function thrownBy<E extends Error>(type: ErrorClass<E>, run: () => unknown): E {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(type);
    return error as E;
  }
  throw new Error(`expected a ${type.name}`);
}

/** The ProtocolDecodeError that `decode` throws. */
export function decodeError(decode: () => unknown): ProtocolDecodeError {
  return thrownBy(ProtocolDecodeError, decode);
}

/** Runs `decode`: returning is fine, and anything it throws must be a ProtocolDecodeError. */
export function expectOnlyDecodeErrors(decode: () => unknown): void {
  try {
    decode();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolDecodeError);
  }
}
