/**
 * HTTP targets: the canonical path, forwarded through @fastify/reply-from (the engine of
 * @fastify/http-proxy; we route ourselves, so we use the engine directly) over pooled keep-alive
 * undici connections, with the caller's identity attached and everything spoofable removed.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.ts';
import type { HttpTargetConfig, TargetConfig } from '../config/schema.ts';
import type { GatewayMetrics } from '../metrics/metrics.ts';
import type { AssertionSigner } from './assertion.ts';
import { forwardedHeaders, responseHeaders } from './headers.ts';

export interface TargetDeps {
  readonly signer: AssertionSigner;
  readonly metrics: GatewayMetrics;
  readonly isTrustedPeer: (address: string | undefined) => boolean;
}

export interface Target {
  readonly name: string;
  readonly type: TargetConfig['type'];
  handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  /** Releases clients and connections when the gateway closes. */
  close?(): Promise<void>;
}

const TIMEOUT_CODES = new Set([
  'FST_REPLY_FROM_GATEWAY_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'FST_REPLY_FROM_CONNECT_TIMEOUT',
]);

/** reply-from's transport errors, sorted into 504 (too slow) and 502 (not there / broke). */
export function mapUpstreamError(error: unknown): GatewayError {
  const code = (error as { code?: string }).code;
  const causeCode = (error as { cause?: { code?: string } }).cause?.code;
  if (TIMEOUT_CODES.has(code ?? '') || TIMEOUT_CODES.has(causeCode ?? '')) {
    return new GatewayError('SG_ERR_UPSTREAM_TIMEOUT', 'the upstream did not answer in time', {
      cause: error,
    });
  }
  return new GatewayError('SG_ERR_UPSTREAM_UNAVAILABLE', 'the upstream could not be reached', {
    cause: error,
  });
}

/** `/api/orders/1` with `stripPrefix: /api` → `/orders/1`; the prefix itself → `/`. */
export function stripPathPrefix(path: string, prefix: string | undefined): string {
  if (!prefix) return path;
  if (path === prefix) return '/';
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : path;
}

export function createHttpTarget(name: string, config: HttpTargetConfig, deps: TargetDeps): Target {
  const base = config.url.replace(/\/+$/, '');
  const upstreamDuration = deps.metrics.upstreamDuration.labels({ target: name });
  return {
    name,
    type: 'http',
    async handle(request, reply) {
      const state = request.stepgate;
      state.target = { name, type: 'http' };
      const identity = state.identity;
      const assertion = identity ? await deps.signer.sign(identity, name) : undefined;
      const trustedPeer = deps.isTrustedPeer(request.socket.remoteAddress);
      const url = base + stripPathPrefix(state.path!, config.stripPrefix) + state.search;
      const body = request.body;
      const started = performance.now();
      return reply.from(url, {
        timeout: config.timeoutMs,
        // Never replay a request the policy judged once: no retries on 503 or reset.
        retryDelay: () => null,
        ...(Buffer.isBuffer(body) && request.method !== 'GET' && request.method !== 'HEAD'
          ? { body, contentType: request.headers['content-type'] ?? 'application/octet-stream' }
          : {}),
        rewriteRequestHeaders: (_req, headers) =>
          forwardedHeaders(headers as IncomingHttpHeaders, {
            identity,
            requestId: request.id,
            assertion,
            forwardAuthorization: config.forwardAuthorization,
            trustedPeer,
            clientIp: request.ip,
            host: request.headers.host,
            protocol: request.protocol,
          }) as IncomingHttpHeaders,
        rewriteHeaders: (headers) => responseHeaders(headers),
        onResponse: (_req, res, upstream) => {
          upstreamDuration.observe((performance.now() - started) / 1000);
          res.send(upstream.stream);
        },
        onError: (res, { error }) => {
          upstreamDuration.observe((performance.now() - started) / 1000);
          res.send(mapUpstreamError(error));
        },
      });
    },
  };
}
