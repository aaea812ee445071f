// Requests that are not protobuf of their method's request type are the client's error: this makes a
// gRPC server answer them with INVALID_ARGUMENT naming the method, the message's index in the call
// and what is wrong, instead of grpc-js's INTERNAL "Error deserializing request".
import * as grpc from '@grpc/grpc-js';

type Decode = (bytes: Buffer) => unknown;

/** The bytes as they came. */
const passBytes = (bytes: Buffer): Buffer => bytes;

/** The details of the status that refuses a request that does not decode. */
export function malformedRequestDetails(path: string, index: number, length: number, cause: unknown): string {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return `request ${index} of this call to ${path} is not a valid request message: malformed protobuf in ${length} bytes (${reason})`;
}

/**
 * grpc-js decodes each request before an interceptor or a handler sees it, and a decoder that throws
 * ends the call with INTERNAL: to a client, the server broke. So a server registers every service
 * through `passBytes(definition)`, which hands requests over undecoded and keeps the method's own
 * decoder, and installs `interceptor`, which decodes each request with it. A request that does not
 * decode ends its call with INVALID_ARGUMENT; the handler of a streaming call sees 'cancelled', as
 * when a client goes away, and a unary handler is never called. Decoded messages reach handlers
 * exactly as before.
 */
export class RequestDecoding {
  private readonly decoders = new Map<string, Decode>();

  /** `definition` with every request handed over as bytes, its decoders kept for `interceptor`. */
  passBytes<T extends grpc.ServiceDefinition>(definition: T): T {
    const methods = Object.entries(definition).map(([name, method]) => {
      this.decoders.set(method.path, method.requestDeserialize);
      return [name, { ...method, requestDeserialize: passBytes }];
    });
    return Object.fromEntries(methods) as T;
  }

  /** Decodes each request of a method registered through passBytes; other methods pass untouched. */
  readonly interceptor: grpc.ServerInterceptor = (method, call) => {
    const decode = this.decoders.get(method.path);
    if (decode === undefined) return new grpc.ServerInterceptingCall(call);
    let index = 0;
    let refused = false;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (bytes: Buffer, pass) => {
            if (refused) return;
            const n = index++;
            let message: unknown;
            try {
              message = decode(bytes);
            } catch (error) {
              refused = true;
              call.sendStatus({ code: grpc.status.INVALID_ARGUMENT, details: malformedRequestDetails(method.path, n, bytes.length, error) });
              return;
            }
            pass(message);
          },
          // Nothing after a refused request reaches the handler, not even the end of the stream.
          onReceiveHalfClose: (pass) => {
            if (!refused) pass();
          },
        }),
    });
  };
}
