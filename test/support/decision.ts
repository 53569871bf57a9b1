/**
 * Decision-mode helpers: a raw check request (exact method, path and Host, from a chosen local
 * address, so 127.0.0.2 can play an untrusted peer), and a stand-in for Envoy's HTTP ext_authz
 * filter, since Envoy itself cannot be installed here.
 *
 * The stand-in follows envoy.extensions.filters.http.ext_authz.v3 (ext_authz.proto: `HttpService`,
 * `path_prefix`, `allowed_headers`, `AuthorizationResponse`) as Istio's `envoyExtAuthzHttp`
 * configures it: the check request has the client's method, `path_prefix` + the client's path and
 * query, the client's Host, `Content-Length: 0` and no body, `Authorization`, and only the client
 * headers in `allowedHeaders` (Istio `includeRequestHeadersInCheck`). On 200 the headers in
 * `upstreamHeaders` (`allowed_upstream_headers` / `headersToUpstreamOnAllow`) are set on the
 * upstream request, replacing the client's; on any other status the client receives that status,
 * the answer's headers except Host (`allowed_client_headers` unset) and its body. A failed check
 * is a 403 (`status_on_error` default). Envoy's own path normalization is assumed off.
 */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { listen } from './issuer.ts';

export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One HTTP/1.1 request exactly as given: method, request target and headers are not rewritten. */
export function rawRequest(
  baseUrl: string,
  options: {
    method: string;
    path: string;
    /** An object, or raw name/value pairs (to send a header twice). */
    headers?: OutgoingHttpHeaders | string[];
    localAddress?: string;
    body?: Buffer;
  },
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: options.method,
        path: options.path,
        setHost: false,
        headers: Array.isArray(options.headers)
          ? ['host', url.host, ...options.headers]
          : { host: url.host, ...options.headers },
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface EnvoyStandIn {
  readonly url: string;
  close(): Promise<void>;
}

/** Envoy's default HTTP ext_authz headers: in addition to `allowedHeaders`, always sent. */
const ALWAYS_SENT = ['authorization'];

export async function startEnvoyStandIn(options: {
  /** The decision listener's URL + `pathPrefix` (`HttpService.server_uri` and `path_prefix`). */
  readonly checkUrl: string;
  readonly upstreamUrl: string;
  readonly allowedHeaders: readonly string[];
  readonly upstreamHeaders: readonly string[];
}): Promise<EnvoyStandIn> {
  const allowed = new Set([...ALWAYS_SENT, ...options.allowedHeaders]);
  const server = await listen((req, res) => {
    const checkHeaders: OutgoingHttpHeaders = { host: req.headers.host, 'content-length': '0' };
    for (const [name, value] of Object.entries(req.headers)) if (allowed.has(name)) checkHeaders[name] = value;
    req.resume();
    const check = new URL(options.checkUrl);
    rawRequest(check.origin, { method: req.method!, path: check.pathname + req.url, headers: checkHeaders })
      .then(async (answer) => {
        if (answer.status !== 200) {
          const { host: _host, ...clientHeaders } = answer.headers;
          res.writeHead(answer.status, clientHeaders).end(answer.body);
          return;
        }
        const upstreamHeaders: OutgoingHttpHeaders = { ...req.headers };
        for (const name of options.upstreamHeaders) {
          if (answer.headers[name] !== undefined) upstreamHeaders[name] = answer.headers[name];
        }
        const forward = { method: req.method!, path: req.url!, headers: upstreamHeaders };
        const upstream = await rawRequest(options.upstreamUrl, forward);
        res.writeHead(upstream.status, upstream.headers).end(upstream.body);
      })
      .catch(() => res.writeHead(403).end());
  });
  return { url: `http://127.0.0.1:${server.port}`, close: server.close };
}

export const COOKIE_SECRET = 'decision-test-cookie-secret-32-bytes!!';

/**
 * The routes every decision test judges, in gateway mode and through each proxy: bearer reads and
 * writes, a session route a browser is sent to log in for, a public route, a rate-limited route
 * and a Step Functions route (which decision mode refuses). `publicUrl` is the origin the login
 * lives on; `trustedPeers` default to 127.0.0.1 only, so 127.0.0.2 is an untrusted peer.
 */
export function decisionTestConfig(options: {
  issuer: string;
  jwksUri: string;
  upstreamUrl: string;
  publicUrl: string;
  trustedPeers?: string[];
}): Record<string, unknown> {
  return {
    server: { publicUrl: options.publicUrl },
    issuers: [{ name: 'ci', issuer: options.issuer, audiences: ['stepgate'], jwksUri: options.jwksUri }],
    sso: { issuer: 'ci', clientId: 'stepgate', clientSecret: 'secret', cookieSecret: COOKIE_SECRET },
    decision: {
      host: '127.0.0.1',
      port: 0,
      trustedPeers: options.trustedPeers ?? ['127.0.0.1'],
      envoy: { pathPrefix: '/envoy' },
      nginx: { path: '/nginx' },
      traefik: { path: '/traefik' },
    },
    targets: {
      orders: { type: 'http', url: options.upstreamUrl, timeoutMs: 2000 },
      deploy: {
        type: 'stepfunctions',
        stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:deploy',
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:9',
      },
    },
    routes: [
      {
        name: 'orders-read',
        path: '/api/orders/*',
        methods: ['GET', 'HEAD'],
        target: 'orders',
        auth: ['bearer', 'session'],
        allow: { scopes: ['orders:read'] },
      },
      {
        name: 'orders-write',
        path: '/api/orders/*',
        methods: ['POST', 'PUT', 'DELETE'],
        target: 'orders',
        allow: { scopes: ['orders:write'] },
      },
      { name: 'status', path: '/public/status', methods: ['GET'], target: 'orders', public: true },
      {
        name: 'limited',
        path: '/api/limited',
        methods: ['GET'],
        target: 'orders',
        allow: { scopes: ['orders:read'] },
        rateLimit: { perCaller: 2, windowSeconds: 3600 },
      },
      { name: 'deploy', path: '/workflows/deploy', methods: ['POST'], target: 'deploy', allow: { scopes: ['deploy:start'] } },
    ],
    audit: { claims: ['email'] },
  };
}
