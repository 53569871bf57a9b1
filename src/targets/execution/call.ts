/**
 * An execution target's view of a request, without Fastify: what the pipeline decided (who, which
 * route), the canonical request, and two ways back to the audit log — the target fills in `target`
 * as it learns what it acts on (the outcome record names it, also after a failure), and
 * `writeIntent` records durably what is about to be started before anything is sent. The target
 * answers with an `Outcome` or throws a `GatewayError`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AuditTarget } from '../../audit/record.ts';
import type { RouteConfig } from '../../config/schema.ts';
import type { Identity } from '../../identity/types.ts';
import type { RequestFacts } from './envelope.ts';

export type CallTarget = { -readonly [K in keyof AuditTarget]: AuditTarget[K] };

export interface ExecutionCall {
  readonly identity: Identity;
  readonly route: RouteConfig;
  /** The route's `:param` values. */
  readonly params: Readonly<Record<string, string>>;
  /** The canonical path (what the policy judged) and when the request arrived. */
  readonly request: RequestFacts;
  /** As received, name/value pairs (Node's `rawHeaders`): repeated headers stay visible. */
  readonly rawHeaders: readonly string[];
  /** As Node parsed them (lower-case names). */
  readonly headers: Readonly<IncomingHttpHeaders>;
  readonly body: Buffer | undefined;
  readonly target: CallTarget;
  /**
   * Resolves once the intent record is durable, and the request counts as forwarded; rejects
   * when it cannot be written (503), or when the client is gone meanwhile (nothing may start).
   */
  writeIntent(): Promise<void>;
  /** A read is about to be sent: the audit record says the request was forwarded. */
  markForwarded(): void;
}

export interface Outcome {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Sent as JSON; a string with a JSON `content-type` among `headers` is JSON text already, sent as it is. */
  readonly body: unknown;
}

/** One execution (or workflow) a caller started, as `/.stepgate/` lists it. */
export interface RecentExecution {
  /** Step Functions only. */
  readonly executionArn?: string;
  readonly name: string;
  /** The target it belongs to. */
  readonly workflow: string;
  readonly status: string;
  readonly startDate: Date;
  readonly stopDate?: Date | undefined;
  /** Where the caller reads it; absent when no route serves it. */
  readonly statusUrl?: string | undefined;
}
