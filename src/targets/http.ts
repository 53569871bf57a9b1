/**
 * HTTP targets: the canonical path and the query exactly as received, forwarded over pooled
 * keep-alive undici connections, with the caller's identity attached and everything spoofable
 * removed. The request is sent with undici directly rather than through @fastify/reply-from,
 * whose URL handling refuses or mangles legal targets (it percent-decodes the whole target and
 * throws on `/files/a../b`, `?next=../home` or `?q=100%`) and which cannot cancel an upstream
 * call when the client goes away.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import { GatewayError } from '../errors.ts';
import type { HttpTargetConfig, TargetConfig } from '../config/schema.ts';
import type { GatewayMetrics } from '../metrics/metrics.ts';
import type { AssertionSigner } from './assertion.ts';
import { forwardedHeaders, responseHeaders } from './headers.ts';
import { refuseMethodOverride } from './method-override.ts';

export interface TargetDeps {
  readonly signer: AssertionSigner;
  readonly metrics: GatewayMetrics;
  readonly isTrustedPeer: (address: string | undefined) => boolean;
  /** The pooled connections every HTTP target sends through. */
  readonly dispatcher: Dispatcher;
  /** `server.publicUrl`: what `X-Forwarded-Host`/`-Proto` name when set. */
  readonly publicUrl: URL | undefined;
}

export interface Target {
  readonly name: string;
  readonly type: TargetConfig['type'];
  handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  /** Releases clients and connections when the gateway closes. */
  close?(): Promise<void>;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** undici's transport errors, sorted into 504 (too slow) and 502 (not there / broke). */
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

/** RFC 9110 §15: a status an HTTP/1.1 response may carry to the client. */
const relayable = (status: number) => status >= 200 && status <= 599;

export function createHttpTarget(name: string, config: HttpTargetConfig, deps: TargetDeps): Target {
  const upstream = new URL(config.url);
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const upstreamDuration = deps.metrics.upstreamDuration.labels({ target: name });
  return {
    name,
    type: 'http',
    async handle(request, reply) {
      const state = request.stepgate;
      state.target = { name, type: 'http' };
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : request.body;
      refuseMethodOverride(state.search, request.headers['content-type'], body);
      const identity = state.identity;
      const assertion = identity ? await deps.signer.sign(identity, name) : undefined;
      const headers = forwardedHeaders(request.headers, {
        identity,
        requestId: request.id,
        assertion,
        forwardAuthorization: config.forwardAuthorization,
        trustedPeer: deps.isTrustedPeer(request.socket.remoteAddress),
        clientIp: request.ip,
        host: state.host,
        protocol: request.protocol,
        publicUrl: deps.publicUrl,
      });
      if (state.gone.aborted) throw new GatewayError('SG_ERR_CLIENT_ABORTED');
      const started = performance.now();
      state.forwarded = true;
      let res: Dispatcher.ResponseData;
      try {
        res = await deps.dispatcher.request({
          origin: upstream.origin,
          path: basePath + stripPathPrefix(state.path!, config.stripPrefix) + state.search,
          method: request.method as Dispatcher.HttpMethod,
          headers: headers as Record<string, string | string[]>,
          body: Buffer.isBuffer(body) ? body : null,
          headersTimeout: config.timeoutMs,
          bodyTimeout: config.timeoutMs,
          // A client that leaves cancels the call, as nginx's proxy_ignore_client_abort off does.
          signal: state.gone,
        });
      } catch (err) {
        throw state.gone.aborted ? new GatewayError('SG_ERR_CLIENT_ABORTED', undefined, { cause: err }) : mapUpstreamError(err);
      } finally {
        upstreamDuration.observe((performance.now() - started) / 1000);
      }
      if (!relayable(res.statusCode)) {
        res.body.destroy();
        throw new GatewayError('SG_ERR_UPSTREAM_UNAVAILABLE', `the upstream answered with status ${res.statusCode}`);
      }
      // An upstream that breaks off its response mid-body cuts the exchange: say so in the record.
      res.body.once('error', (err) => {
        if (!state.gone.aborted) state.cut ??= mapUpstreamError(err);
      });
      return reply.code(res.statusCode).headers(responseHeaders(res.headers)).send(res.body);
    },
  };
}
