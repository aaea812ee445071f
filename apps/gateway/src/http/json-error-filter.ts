// Every HTTP error of the gateway is JSON `{error, field?}` with a 4xx/5xx status, never an HTML
// page: Nest's HttpExceptions, our RequestProblems, body-parser failures and unknown routes alike.
// Errors of gRPC handlers are left to Nest's RPC handling.
import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject, LoggerService } from '@nestjs/common';
import { BaseRpcExceptionFilter } from '@nestjs/microservices';
import { SERVICE_LOGGER } from '@framewire/service-runtime';
import { problemBody, RequestProblem } from '@framewire/http-edge';

/** Body-parser's errors carry a 4xx status and, when it knows the failure, a type such as
 *  "entity.too.large"; a body it could not decompress is a zlib error with a 400 status and no type. */
interface BodyParserError extends Error {
  status: number;
  type?: string;
  limit?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  const status = (error as BodyParserError).status;
  return error instanceof Error && typeof status === 'number' && status >= 400 && status < 500;
}

/** What the filter needs of Express's response (@types/express is not installed). */
interface JsonResponse {
  headersSent: boolean;
  status(code: number): { json(body: unknown): void };
  end(): void;
}

export interface JsonError {
  status: number;
  body: { error: string; field?: string };
}

/** The status and JSON body that answer `error`. */
export function jsonErrorOf(error: unknown): JsonError {
  if (error instanceof RequestProblem) return { status: error.status, body: problemBody(error) };
  if (error instanceof HttpException) {
    const response = error.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : typeof (response as { message?: unknown }).message === 'string'
          ? (response as { message: string }).message
          : error.message;
    // Nest maps body-parser's SyntaxError to a BadRequestException.
    const field = error.getStatus() === 400 && /JSON/.test(message) ? 'body' : undefined;
    return { status: error.getStatus(), body: field === undefined ? { error: message } : { error: message, field } };
  }
  if (isBodyParserError(error)) {
    // Malformed, oversized, too deep or undecodable bodies are the client's fault with the body: 400.
    const message =
      error.type === 'entity.too.large'
        ? `the body exceeds the ${error.limit ?? 'configured'}-byte limit`
        : error.type === 'entity.parse.failed'
          ? `the body is not valid JSON: ${error.message}`
          : error.type === undefined
            ? `the body cannot be read: ${error.message}`
            : error.message;
    return { status: 400, body: { error: message, field: 'body' } };
  }
  // Never a stack trace or an internal message in an answer: the log has them.
  return { status: 500, body: { error: 'internal error' } };
}

@Catch()
export class JsonErrorFilter implements ExceptionFilter {
  /** gRPC calls (the same application serves them) keep Nest's own handling: a thrown RpcException
   *  is the call's status. */
  private readonly rpc = new BaseRpcExceptionFilter();

  constructor(@Inject(SERVICE_LOGGER) private readonly logger: LoggerService) {}

  catch(error: unknown, host: ArgumentsHost): unknown {
    if (host.getType() === 'rpc') return this.rpc.catch(error, host);
    const response = host.switchToHttp().getResponse<JsonResponse>();
    const { status, body } = jsonErrorOf(error);
    if (status >= 500) {
      this.logger.error({ message: 'HTTP request failed', error: error instanceof Error ? error.message : String(error) }, error instanceof Error ? error.stack : undefined, 'Http');
    }
    if (response.headersSent) {
      response.end();
      return undefined;
    }
    response.status(status).json(body);
    return undefined;
  }
}
