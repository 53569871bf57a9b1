/**
 * HTTP targets: the canonical path and the query exactly as received, forwarded over pooled
 * keep-alive undici connections, with the caller's identity attached and everything spoofable
 * removed; the response streamed back as it arrives (upstream-relay.ts). The request is sent with
 * undici's dispatcher directly rather than through @fastify/reply-from, whose URL handling refuses
 * or mangles legal targets (it percent-decodes the whole target and throws on `/files/a../b`,
 * `?next=../home` or `?q=100%`) and which cannot cancel an upstream call when the client goes away.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
import type { HttpTargetConfig } from '../config/schema.ts';
import { type ClientTls, readClientTls } from '../config/tls-files.ts';
import { GatewayError } from '../errors.ts';
import type { GatewayMetrics } from '../metrics/metrics.ts';
import type { AssertionSigner } from './assertion.ts';
import { forwardedHeaders, responseHeaders } from './headers.ts';
import { refuseMethodOverride } from './method-override.ts';
import type { ForwardCall, Target } from './target.ts';
import { mapUpstreamError, UpstreamRelay } from './upstream-relay.ts';
import { openUpstreamSocket } from './websocket-upstream.ts';

export interface TargetDeps {
  readonly signer: AssertionSigner;
  readonly metrics: GatewayMetrics;
  readonly isTrustedPeer: (address: string | undefined) => boolean;
  /** The pooled connections every HTTP target without TLS options of its own sends through. */
  readonly dispatcher: Dispatcher;
  /** `server.publicUrl`: what `X-Forwarded-Host`/`-Proto` name when set. */
  readonly publicUrl: URL | undefined;
  /** `server.bodyLimitBytes`: also the largest WebSocket message relayed. */
  readonly maxMessageBytes: number;
}

/** `/api/orders/1` with `stripPrefix: /api` → `/orders/1`; the prefix itself → `/`. */
export function stripPathPrefix(path: string, prefix: string | undefined): string {
  if (!prefix) return path;
  if (path === prefix) return '/';
  return path.startsWith(`${prefix}/`) ? path.slice(prefix.length) : path;
}

/**
 * A target with `caFile` or a client certificate gets connections of its own, built from its
 * files: a private CA must not vouch for other targets' upstreams, nor a client certificate be
 * shown to them. Verification stays on (it is undici's default; said so no option turns it off).
 */
function ownDispatcher(tls: ClientTls | undefined): Agent | undefined {
  if (!tls) return undefined;
  const connect = { ...tls, rejectUnauthorized: true };
  return new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 30_000, connect });
}

export function createHttpTarget(name: string, config: HttpTargetConfig, deps: TargetDeps): Target {
  const tls = config.caFile || config.certFile ? readClientTls(`targets.${name}`, config) : undefined;
  const own = ownDispatcher(tls);
  const dispatcher = own ?? deps.dispatcher;
  const upstream = new URL(config.url);
  const origin = upstream.origin;
  const basePath = upstream.pathname.replace(/\/+$/, '');
  const upstreamDuration = deps.metrics.upstreamDuration.labels({ target: name });
  /** What the upstream receives: the client's headers scrubbed, the caller's identity and assertion. */
  const upstreamHeaders = (call: ForwardCall, assertion: string | undefined): OutgoingHttpHeaders => {
    const { request, identity } = call;
    return forwardedHeaders(call.headers, {
      identity,
      requestId: request.id,
      assertion,
      forwardAuthorization: config.forwardAuthorization,
      trustedPeer: deps.isTrustedPeer(call.client.peer),
      clientIp: call.client.ip,
      host: request.host,
      protocol: call.client.protocol,
      publicUrl: deps.publicUrl,
    });
  };
  const upstreamPath = (call: ForwardCall) =>
    basePath + stripPathPrefix(call.request.path, config.stripPrefix) + call.request.search;
  return {
    name,
    type: 'http',
    async forward(call) {
      const { request } = call;
      const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : call.body;
      refuseMethodOverride(request.search, call.headers['content-type'], body);
      const assertion = call.identity ? await deps.signer.sign(call.identity, name) : undefined;
      const headers = upstreamHeaders(call, assertion);
      if (call.signal.aborted) throw new GatewayError('SG_ERR_CLIENT_ABORTED');
      const started = performance.now();
      const relay = new UpstreamRelay({
        signal: call.signal,
        responseHeaders,
        onHead: () => upstreamDuration.observe((performance.now() - started) / 1000),
      });
      const outcome = relay.outcome();
      call.markForwarded();
      try {
        dispatcher.dispatch(
          {
            origin,
            path: upstreamPath(call),
            method: request.method as Dispatcher.HttpMethod,
            headers: headers as Record<string, string | string[]>,
            body: body ?? null,
            headersTimeout: config.timeoutMs,
            bodyTimeout: config.timeoutMs,
          },
          relay,
        );
      } catch (err) {
        throw mapUpstreamError(err);
      }
      return outcome;
    },
    // Retired after a reload's grace period: requests still in flight on it finish first.
    close: async () => own?.destroy(),
    async openWebSocket(call) {
      refuseMethodOverride(call.request.search, undefined, undefined);
      const assertion = call.identity ? await deps.signer.sign(call.identity, name) : undefined;
      const headers = upstreamHeaders(call, assertion);
      if (call.signal.aborted) throw new GatewayError('SG_ERR_CLIENT_ABORTED');
      call.markForwarded();
      const protocols = call.headers['sec-websocket-protocol'];
      return openUpstreamSocket({
        origin,
        pathAndQuery: upstreamPath(call),
        headers,
        protocols: Array.isArray(protocols) ? protocols.join(',') : protocols,
        timeoutMs: config.timeoutMs,
        maxPayload: deps.maxMessageBytes,
        signal: call.signal,
        tls,
      });
    },
  };
}
