/**
 * The catch-all route: every request that is not a gateway-owned endpoint reaches its target
 * here, after the hooks have normalized, routed, authenticated and authorized it. The request
 * becomes a `ForwardCall` (targets/target.ts); the target's `Outcome` becomes the reply — a
 * relayed body is written straight into the response, with the gateway's headers and the
 * rate-limit headers last, so an upstream can mask neither.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors.ts';
import type { Accounting } from '../plugins/audit.ts';
import { rateLimitHeaders } from '../plugins/rate-limit.ts';
import { pendingUpgrade } from '../plugins/upgrade.ts';
import { type BodyStream, type ForwardCall, isBodyStream, type Outcome, type Target } from '../targets/target.ts';
import type { WebSockets } from './websocket.ts';

export interface ForwardOptions {
  /** Writes the intent records of execution targets (plugins/audit.ts). */
  readonly accounting: Accounting;
  /** Upgrade requests (routes with `websocket: true`) go there. */
  readonly websockets: WebSockets;
}

function forwardCall(request: FastifyRequest, target: Target, accounting: Accounting): ForwardCall {
  const state = request.stepgate;
  const match = state.match!;
  const identity = state.identity;
  const readAny = identity && state.runtime.routing.readAny[match.index];
  return {
    request: {
      id: request.id,
      method: request.method,
      path: state.path!,
      search: state.search,
      host: state.host,
      receivedAt: state.receivedAt,
    },
    identity,
    route: match.route,
    params: match.params,
    readAny: readAny ? readAny(identity).allow : false,
    headers: request.headers,
    rawHeaders: request.raw.rawHeaders,
    body: Buffer.isBuffer(request.body) ? request.body : undefined,
    client: { ip: request.ip, peer: request.socket.remoteAddress, protocol: request.protocol },
    signal: state.gone,
    target: (state.target = { name: target.name, type: target.type }),
    writeIntent: () => accounting.writeIntent(request),
    markForwarded: () => {
      state.forwarded = true;
    },
  };
}

/** The reply's own headers (`X-Request-Id`, a refreshed session's cookie), the outcome's, the limits'. */
function headersFor(request: FastifyRequest, reply: FastifyReply, outcome: Outcome): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { ...(reply.getHeaders() as OutgoingHttpHeaders) };
  for (const [name, value] of Object.entries(outcome.headers)) {
    const before = headers[name];
    headers[name] = name === 'set-cookie' && before !== undefined ? [before, value].flat().map(String) : value;
  }
  const limits = request.stepgate.rateLimit;
  return limits ? Object.assign(headers, rateLimitHeaders(limits)) : headers;
}

/** Streams a relayed body into the response; an upstream that breaks off cuts the exchange. */
function relay(request: FastifyRequest, reply: FastifyReply, outcome: Outcome, body: BodyStream): void {
  const state = request.stepgate;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(outcome.status, headersFor(request, reply, outcome));
  body.pipeTo(res).catch((err: GatewayError) => {
    if (!state.gone.aborted) state.cut ??= err;
    res.destroy();
  });
}

export default async function forwardRoutes(app: FastifyInstance, options: ForwardOptions): Promise<void> {
  app.all('/*', async (request, reply) => {
    const state = request.stepgate;
    const target = state.match && state.runtime.targets.get(state.match.route.target);
    // The hooks refuse unmatched requests; reaching here without a target is a bug, not a 200.
    if (!target) throw new GatewayError('SG_ERR_INTERNAL');
    // A client that left while it was authenticated or authorized gets nothing forwarded.
    if (state.gone.aborted) throw new GatewayError('SG_ERR_CLIENT_ABORTED');
    const call = forwardCall(request, target, options.accounting);
    if (pendingUpgrade(request)) return options.websockets.serve(request, reply, target, call);
    const forwarding = target.forward(call);
    state.forwarding = forwarding;
    const outcome = await forwarding;
    if (isBodyStream(outcome.body)) return relay(request, reply, outcome, outcome.body);
    return reply.code(outcome.status).headers(outcome.headers).send(outcome.body);
  });
}
