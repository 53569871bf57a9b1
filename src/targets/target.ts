/**
 * The target contract: `Target.forward(call) → Outcome`, knowing nothing of Fastify, the way
 * reply-from's request layer only moves bytes and Pomerium decides everything before it proxies.
 * The pipeline has decided (who, which route, allowed); a target forwards and says what came of it
 * — or throws a `GatewayError`. `routes/forward.ts` turns the call out of a request and the outcome
 * into the reply.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Writable } from 'node:stream';
import type WebSocket from 'ws';
import type { AuditTarget } from '../audit/record.ts';
import type { RouteConfig, TargetConfig } from '../config/schema.ts';
import type { Identity } from '../identity/types.ts';

/** The audit record's `target`, filled in as the target learns what it acts on. */
export type CallTarget = { -readonly [K in keyof AuditTarget]: AuditTarget[K] };

/** The request as the policy judged it: the canonical path is the path forwarded. */
export interface CanonicalRequest {
  readonly id: string;
  readonly method: string;
  readonly path: string;
  /** The query exactly as received, `?` included; `''` for none. */
  readonly search: string;
  /** The authority the client addressed: an absolute-form target's (RFC 9112 §3.2.2), else `Host`. */
  readonly host: string | undefined;
  readonly receivedAt: Date;
}

export interface ForwardCall {
  readonly request: CanonicalRequest;
  /** The verified caller; none on a public route. */
  readonly identity: Identity | undefined;
  readonly route: RouteConfig;
  /** The route's `:param` values. */
  readonly params: Readonly<Record<string, string>>;
  /** The route's `readAnyExecution` conditions hold for the caller (compiled with the routes). */
  readonly readAny: boolean;
  /** As Node parsed them (lower-case names). */
  readonly headers: Readonly<IncomingHttpHeaders>;
  /** As received, name/value pairs (Node's `rawHeaders`): repeated headers stay visible. */
  readonly rawHeaders: readonly string[];
  /** The body, whole: bounded by `server.bodyLimitBytes` (413) before any target sees it. */
  readonly body: Buffer | undefined;
  readonly client: {
    /** The client's address (`X-Forwarded-For` believed only from `trustProxy`). */
    readonly ip: string;
    /** The socket peer: whether its claims (`X-Forwarded-*`) are believed. */
    readonly peer: string | undefined;
    readonly protocol: 'http' | 'https';
  };
  /** Aborted when the client goes away: nothing more may be started for it. */
  readonly signal: AbortSignal;
  /** The audit record's `target`: what the request acted on, also after a failure. */
  readonly target: CallTarget;
  /**
   * Resolves once the intent record is durable, and the request counts as forwarded; rejects
   * when it cannot be written (503), or when the client is gone meanwhile (nothing may start).
   */
  writeIntent(): Promise<void>;
  /** Something is about to be sent to the target: the audit record says the request was forwarded. */
  markForwarded(): void;
}

/**
 * A response body relayed as it arrives: written into `sink` with its back-pressure, and ended
 * with it. Rejects with a `GatewayError` when the upstream breaks off (the sink is then left for
 * the caller to destroy: its headers are gone, the exchange is cut).
 */
export interface BodyStream {
  readonly kind: 'stream';
  pipeTo(sink: Writable): Promise<void>;
  /** The response is not wanted: stop receiving it. */
  discard(): void;
}

export interface Outcome {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /**
   * A `BodyStream`; or a value sent as JSON — a string with a JSON `content-type` among `headers`
   * is JSON text already, sent as it is; `undefined` for none.
   */
  readonly body: BodyStream | unknown;
}

export function isBodyStream(body: unknown): body is BodyStream {
  return typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === 'stream';
}

export interface Target {
  readonly name: string;
  readonly type: TargetConfig['type'];
  forward(call: ForwardCall): Promise<Outcome>;
  /**
   * HTTP targets: the call's WebSocket handshake sent upstream (targets/websocket-upstream.ts);
   * resolves with the open upstream socket once the upstream has accepted.
   */
  openWebSocket?(call: ForwardCall): Promise<WebSocket>;
  /** Releases clients and connections when the gateway closes (or a reload retires it). */
  close?(): Promise<void>;
}
