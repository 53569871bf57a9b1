/**
 * Normalize and route: the first two steps of every request. Normalization runs before Fastify's
 * router sees the URL (`rewriteUrl`), so the router, the policy and the upstream all see one
 * canonical path; a refused target is routed to the catch-all and rendered as a 400 here. The
 * request's state is created here too, with the runtime live at this moment pinned to it.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError, isGatewayError } from '../errors.ts';
import { type NormalizedTarget, normalizeRequestTarget } from '../policy/normalize-path.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { RequestState } from './request-state.ts';

/** A request target as normalized, or why it was refused. */
export type Normalized = NormalizedTarget | GatewayError;

/** Where refused request targets are routed: the catch-all, whose hook then throws the 400. */
const REFUSED_URL = '/';

/** `target` normalized (`normalizeRequestTarget`), or the refusal as a value. */
export function normalizeTarget(target: string, ourAuthorities: ReadonlySet<string>): Normalized {
  try {
    return normalizeRequestTarget(target, ourAuthorities);
  } catch (err) {
    return isGatewayError(err) ? err : new GatewayError('SG_ERR_BAD_PATH', undefined, { cause: err });
  }
}

export interface PathNormalizer {
  /** Fastify's `rewriteUrl`: the canonical URL the router matches. */
  rewriteUrl(req: IncomingMessage): string;
  /**
   * What `rewriteUrl` made of the request's target. A target already canonical (nearly every
   * one) is read back from the URL the router saw; only one that was rewritten or refused is
   * normalized a second time — cheaper than a table from raw requests to results.
   */
  resultFor(request: FastifyRequest): Normalized;
}

export function createPathNormalizer(ourAuthorities: ReadonlySet<string>): PathNormalizer {
  return {
    rewriteUrl(req) {
      const result = normalizeTarget(req.url ?? '', ourAuthorities);
      return isGatewayError(result) ? REFUSED_URL : result.path + result.search;
    },
    resultFor(request) {
      const raw = request.originalUrl;
      const url = request.url;
      if (raw !== url || raw.charCodeAt(0) !== 0x2f) return normalizeTarget(raw, ourAuthorities);
      const query = url.indexOf('?');
      return query < 0 ? { path: url, search: '' } : { path: url.slice(0, query), search: url.slice(query) };
    },
  };
}

/** What the first hook learns of a request before routing it. */
export interface Prepared {
  readonly target: Normalized;
  /** The decision listener: the protocol of the proxy that asked (see routes/decision.ts). */
  readonly proxy?: RequestState['proxy'];
}

function countHeader(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) count++;
  return count;
}

/**
 * What Node checks for HTTP/1.1 and leaves to us on HTTP/2: the header size (`maxHeaderBytes`,
 * 431 — the session's own limit, a multiple of it, only resets the stream: runtime/server-tls.ts),
 * and a Host that names another authority than `:authority` (malformed, RFC 9113 §8.3.1).
 */
function http2Checks(request: FastifyRequest, maxHeaderBytes: number): void {
  let bytes = 0;
  for (const field of request.raw.rawHeaders) bytes += field.length;
  if (bytes > maxHeaderBytes) throw new GatewayError('SG_ERR_HEADERS_TOO_LARGE');
  const authority = request.headers[':authority'];
  if (authority !== undefined && request.headers.host !== undefined && authority !== request.headers.host) {
    throw new GatewayError('SG_ERR_BAD_HEADER', 'Host differs from :authority');
  }
}

export interface RequestContextOptions {
  /** The runtime live now: each request pins it for its whole life. */
  live: { readonly current: Runtime };
  /** The request's canonical target (and, on the decision listener, what the proxy asked). */
  prepare: (request: FastifyRequest) => Prepared;
  /**
   * Watches the request's connection from its first moment (the audit's `watch`): the signal
   * aborts when the connection closes before the answer was complete.
   */
  watch: (request: FastifyRequest, reply: FastifyReply) => AbortSignal;
}

async function requestContextPlugin(app: FastifyInstance, options: RequestContextOptions): Promise<void> {
  app.decorateRequest('stepgate', null as never);
  // Hooks that never wait are written with `done`: an async one costs a promise and a microtask
  // per request for nothing. A throw is handed to the error handler all the same.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    const state: RequestState = {
      runtime: options.live.current,
      receivedAt: new Date(),
      startedAt: performance.now(),
      sourceIp: request.ip,
      path: undefined,
      search: '',
      // HTTP/2 names the authority in `:authority` (RFC 9113 §8.3.1); Host is optional there.
      host: request.headers.host ?? (request.headers[':authority'] as string | undefined),
      proxy: undefined,
      match: undefined,
      identity: undefined,
      decision: undefined,
      rateLimit: undefined,
      error: undefined,
      target: undefined,
      internal: request.routeOptions.config.internal,
      gone: options.watch(request, reply),
      forwarded: false,
      forwarding: undefined,
      accounted: false,
      cut: undefined,
    };
    request.stepgate = state;
    const prepared = options.prepare(request);
    state.proxy = prepared.proxy;
    const normalized = prepared.target;
    if (isGatewayError(normalized)) throw normalized;
    // RFC 9112 §3.2: a request with more than one Host is a 400; Node quietly keeps the first.
    if (countHeader(request.raw.rawHeaders, 'host') > 1) {
      throw new GatewayError('SG_ERR_BAD_HEADER', 'more than one Host header');
    }
    if (request.raw.httpVersionMajor === 2) http2Checks(request, state.runtime.config.server.maxHeaderBytes);
    state.path = normalized.path;
    state.search = normalized.search;
    if (normalized.authority !== undefined) state.host = normalized.authority;
    if (!state.internal) {
      const match = state.runtime.routing.table.match(request.method, normalized.path);
      if (!match) throw new GatewayError('SG_ERR_NO_ROUTE');
      state.match = match;
    }
    done();
  });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Names a gateway-owned endpoint that is served without routing or policy. */
    internal?: string;
  }
}

export default fp(requestContextPlugin, {
  name: 'stepgate-request-context',
  dependencies: ['stepgate-errors'],
});
