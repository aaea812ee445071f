// With FW_AUTH_TOKEN set, the HTTP routes that change things or read what the pipeline sees
// (commands, results, the archive) need `Authorization: Bearer <token>`; others answer 401 JSON
// naming the problem (missing, malformed or wrong), never echoing what was sent.
import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { IncomingHttpHeaders } from 'node:http';
import { bearerTokenProblem, SERVICE_CONFIG, ServiceConfig } from '@framewire/service-runtime';
import { RequestProblem } from '@framewire/http-edge';

@Injectable()
export class BearerTokenGuard implements CanActivate {
  constructor(@Inject(SERVICE_CONFIG) private readonly config: ServiceConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const { headers } = context.switchToHttp().getRequest<{ headers: IncomingHttpHeaders }>();
    const problem = bearerTokenProblem(headers.authorization, this.config.security.token);
    if (problem !== undefined) throw new RequestProblem('authorization', problem, 401);
    return true;
  }
}
