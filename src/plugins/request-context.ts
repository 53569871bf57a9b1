/**
 * Normalize and route: the first two steps of every request. Normalization runs before Fastify's
 * router sees the URL (`rewriteUrl`), so the router, the policy and the upstream all see one
 * canonical path; a refused target is remembered and rendered as a 400 here.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError, isGatewayError } from '../errors.ts';
import { type NormalizedTarget, normalizeRequestTarget } from '../policy/normalize-path.ts';
import type { CompiledRouting } from '../policy/routing.ts';
import type { RequestState } from './request-state.ts';

type Normalized = NormalizedTarget | GatewayError;

/** Where refused request targets are routed: the catch-all, whose hook then throws the 400. */
const REFUSED_URL = '/';

export interface PathNormalizer {
  /** Fastify's `rewriteUrl`: returns the canonical URL the router matches. */
  rewriteUrl(req: IncomingMessage): string;
  resultFor(req: IncomingMessage): Normalized | undefined;
}

export function createPathNormalizer(ourAuthorities: ReadonlySet<string>): PathNormalizer {
  const results = new WeakMap<IncomingMessage, Normalized>();
  return {
    rewriteUrl(req) {
      let result: Normalized;
      try {
        result = normalizeRequestTarget(req.url ?? '', ourAuthorities);
      } catch (err) {
        result = isGatewayError(err) ? err : new GatewayError('SG_ERR_BAD_PATH', undefined, { cause: err });
      }
      results.set(req, result);
      return isGatewayError(result) ? REFUSED_URL : result.path + result.search;
    },
    resultFor: (req) => results.get(req),
  };
}

function countHeader(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) count++;
  return count;
}

export interface RequestContextOptions {
  normalizer: PathNormalizer;
  /** The routing a request is served with (pinned to it: a reload mid-request does not change it). */
  routing: (request: FastifyRequest) => CompiledRouting;
  /**
   * Watches the request's connection from its first moment (the audit's `watch`): the signal
   * aborts when the connection closes before the answer was complete.
   */
  watch: (request: FastifyRequest, reply: FastifyReply) => AbortSignal;
}

async function requestContextPlugin(app: FastifyInstance, options: RequestContextOptions): Promise<void> {
  app.decorateRequest('stepgate', null as never);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const state: RequestState = {
      receivedAt: new Date(),
      startedAt: performance.now(),
      path: undefined,
      search: '',
      host: request.headers.host,
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
    const normalized = options.normalizer.resultFor(request.raw);
    if (normalized === undefined) throw new GatewayError('SG_ERR_BAD_PATH');
    if (isGatewayError(normalized)) throw normalized;
    // RFC 9112 §3.2: a request with more than one Host is a 400; Node quietly keeps the first.
    if (countHeader(request.raw.rawHeaders, 'host') > 1) {
      throw new GatewayError('SG_ERR_BAD_HEADER', 'more than one Host header');
    }
    state.path = normalized.path;
    state.search = normalized.search;
    if (normalized.authority !== undefined) state.host = normalized.authority;
    if (state.internal) return;
    const match = options.routing(request).table.match(request.method, normalized.path);
    if (!match) throw new GatewayError('SG_ERR_NO_ROUTE');
    request.stepgate.match = match;
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
