// How the page reaches the gateway: the token (taken from the URL fragment, kept in the tab's
// sessionStorage), the Authorization header and WebSocket subprotocols that carry it, and JSON
// requests that give up after a bounded time and report a 401 so the page can ask for the token.
// Storage and fetch are passed in, so all of it runs under Jest without a browser.

/** Where the page keeps the token for this tab (gone when the tab closes). */
export const TOKEN_STORAGE_KEY = 'framewire.token';
/** The gateway's WebSocket subprotocols (apps/gateway browser-policy.ts): the one it answers with,
 *  and the one that carries the token in base64url. */
export const WS_PROTOCOL = 'framewire.v1';
export const WS_BEARER_PROTOCOL_PREFIX = 'framewire.bearer.';
export const HTTP_UNAUTHORIZED = 401;
/** An HTTP request of the page gives up after this. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** The part of sessionStorage the page uses. */
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export const storedToken = (storage: TokenStorage): string => storage.getItem(TOKEN_STORAGE_KEY) ?? '';

/** Takes a token from the URL fragment (`token=…`, without the `#`) into `storage`; answers the
 *  fragment to leave in the address bar ('' for none), or undefined when the fragment has no token. */
export function takeTokenFromFragment(fragment: string, storage: TokenStorage): string | undefined {
  const params = new URLSearchParams(fragment);
  const token = params.get('token');
  if (token === null) return undefined;
  params.delete('token');
  if (token !== '') storage.setItem(TOKEN_STORAGE_KEY, token);
  return params.toString();
}

export function authorizationHeaders(token: string): Record<string, string> {
  return token === '' ? {} : { authorization: `Bearer ${token}` };
}

export function base64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The subprotocols a page's WebSocket offers: the token (when there is one) rides in the second. */
export function socketProtocols(token: string): string[] {
  return token === '' ? [WS_PROTOCOL] : [WS_PROTOCOL, `${WS_BEARER_PROTOCOL_PREFIX}${base64Url(token)}`];
}

/** The WebSocket URL of `path` on the page's own origin. */
export function webSocketUrl(page: { protocol: string; host: string }, path: string): string {
  return `${page.protocol === 'https:' ? 'wss' : 'ws'}://${page.host}${path}`;
}

/** A JSON answer of the gateway (its bodies are read loosely: the panel shows what is there). */
export interface JsonAnswer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** JSON requests with the token; a 401 is reported to `onUnauthorized` (and still answered). */
export class GatewayHttp {
  constructor(
    private readonly deps: {
      fetch: (path: string, init: RequestInit) => Promise<Pick<Response, 'status' | 'json'>>;
      token: () => string;
      onUnauthorized: () => void;
    },
  ) {}

  getJson(path: string): Promise<JsonAnswer> {
    return this.request(path, { headers: authorizationHeaders(this.deps.token()) });
  }

  postJson(path: string, body: unknown): Promise<JsonAnswer> {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authorizationHeaders(this.deps.token()) },
      body: JSON.stringify(body),
    });
  }

  private async request(path: string, init: RequestInit): Promise<JsonAnswer> {
    const response = await this.deps.fetch(path, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    if (response.status === HTTP_UNAUTHORIZED) this.deps.onUnauthorized();
    return { status: response.status, body: await response.json() };
  }
}
