// Every HTTP answer of the gateway carries the security headers and no X-Powered-By; a request
// from a page of a foreign origin is refused (403 JSON) before its body is read, one from an allowed
// origin gets the CORS headers (and its preflight an answer), as the WebSocket upgrades are judged
// (websocket-upgrades.ts). Installed on the Express application itself, ahead of the body parser
// and Nest's routes, so that parser errors and unknown routes carry the headers too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CORS_ALLOWED_HEADERS, CORS_ALLOWED_METHODS, CORS_MAX_AGE_S, judgeOrigin, SECURITY_HEADERS } from './browser-policy';
import { problemBody, RequestProblem } from './request-problems';

/** What the policy needs of the Express application (@types/express is not installed). */
export interface ExpressApplication {
  disable(setting: string): unknown;
  use(handler: (request: IncomingMessage, response: ServerResponse, next: () => void) => void): unknown;
}

/** Installs the browser policy on `app`, before anything else registered later. */
export function installBrowserPolicy(app: ExpressApplication, allowedOrigins: readonly string[]): void {
  app.disable('x-powered-by');
  const allowed: ReadonlySet<string> = new Set(allowedOrigins);
  app.use((request, response, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    // Answers differ by Origin: caches must not hand one origin's answer to another.
    response.setHeader('Vary', 'Origin');
    const verdict = judgeOrigin(request.headers, allowed);
    if (!verdict.allowed) {
      const problem = new RequestProblem('origin', verdict.problem, 403);
      response.writeHead(problem.status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(problemBody(problem)));
      return;
    }
    if (verdict.crossOrigin !== undefined) {
      response.setHeader('Access-Control-Allow-Origin', verdict.crossOrigin);
      if (request.method === 'OPTIONS') {
        response.setHeader('Access-Control-Allow-Methods', CORS_ALLOWED_METHODS);
        response.setHeader('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS);
        response.setHeader('Access-Control-Max-Age', String(CORS_MAX_AGE_S));
        response.writeHead(204).end();
        return;
      }
    }
    next();
  });
}
