/**
 * The one typed request decoration: everything the pipeline learns about a request, in the order
 * it learns it (normalize → route → authenticate → authorize → forward).
 */
import type { AuditTarget as RecordedTarget } from '../audit/record.ts';
import type { DecisionProtocol } from '../decision/protocol.ts';
import type { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import type { RouteMatch } from '../policy/routes.ts';
import type { Decision } from '../policy/types.ts';
import type { RateLimitResult } from '../ratelimit/limiter.ts';
import type { Runtime } from '../runtime/runtime.ts';

/** What a request acted on, filled in by its target as it learns it (see `AuditTarget` in audit/record.ts). */
export type AuditTarget = { -readonly [K in keyof RecordedTarget]: RecordedTarget[K] };

export interface RequestState {
  /** The runtime live when the request arrived: it is served with this one to the end. */
  readonly runtime: Runtime;
  readonly receivedAt: Date;
  /** `performance.now()` at arrival, for durations. */
  readonly startedAt: number;
  /**
   * The client's address (`request.ip`), taken at arrival: on HTTP/2 the request's socket is
   * unbound once its stream closed, before the record is written.
   */
  readonly sourceIp: string;
  /** The canonical path: what the policy judges and what is forwarded. Unset when refused. */
  path: string | undefined;
  search: string;
  /** The authority the client addressed: an absolute-form target's (RFC 9112 §3.2.2), else `Host`. */
  host: string | undefined;
  /** On the decision listener: the protocol of the proxy that asked (its refusals are shaped for it). */
  proxy: DecisionProtocol | undefined;
  match: RouteMatch | undefined;
  identity: Identity | undefined;
  decision: Decision | undefined;
  /** The route's rate limit as counted for this request, when the route has one. */
  rateLimit: RateLimitResult | undefined;
  /** The error the response was rendered from, if any. */
  error: GatewayError | undefined;
  target: AuditTarget | undefined;
  /** Gateway-owned endpoints (`/.well-known/stepgate/jwks.json`) bypass routing and policy. */
  internal: string | undefined;
  /** Aborted when the connection closes before the answer was complete: stop, forward nothing. */
  readonly gone: AbortSignal;
  /** The request went to its target (an upstream, or AWS): the audit record says so. */
  forwarded: boolean;
  /** The target's work while it runs: a record for a client gone meanwhile waits for it. */
  forwarding: Promise<unknown> | undefined;
  /** Its one audit record is written (or on its way): nothing records it twice. */
  accounted: boolean;
  /**
   * What cut the exchange short, when not the client: an upstream that broke off its response,
   * or a framing error Node's parser found in the request body.
   */
  cut: GatewayError | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    stepgate: RequestState;
  }
}
