// The bearer-token check of gRPC calls as a Nest guard: put @UseGuards(GrpcBearerTokenGuard) on a
// controller or method served by GrpcTransport, and calls without `authorization: Bearer <token>`
// (when the service has a token) end UNAUTHENTICATED before the handler runs.
import * as grpc from '@grpc/grpc-js';
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { SERVICE_CONFIG } from './service-module';
import type { ServiceConfig } from './config';
import { AUTHORIZATION_KEY } from '@framewire/grpc-client';
import { bearerTokenProblem } from './security';

/** The call's metadata: the second argument of a unary handler, the call's own for a streaming one. */
function metadataOf(args: readonly unknown[]): grpc.Metadata | undefined {
  const [first, second] = args;
  if (second instanceof grpc.Metadata) return second;
  const call = first as { metadata?: unknown } | undefined;
  return call?.metadata instanceof grpc.Metadata ? call.metadata : undefined;
}

@Injectable()
export class GrpcBearerTokenGuard implements CanActivate {
  constructor(@Inject(SERVICE_CONFIG) private readonly config: ServiceConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const token = this.config.security.token;
    if (token === undefined) return true;
    const value = metadataOf(context.getArgs())?.get(AUTHORIZATION_KEY)[0];
    const problem = bearerTokenProblem(typeof value === 'string' ? value : undefined, token);
    if (problem !== undefined) throw new RpcException({ code: grpc.status.UNAUTHENTICATED, message: problem });
    return true;
  }
}
