/**
 * Audit and metrics (onResponse): one record for every request — allowed, denied or failed —
 * and the request counters. Requests the HTTP parser refused are recorded too.
 */
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditLog } from '../audit/audit-log.ts';
import { type AuditInput, buildAuditRecord } from '../audit/record.ts';
import type { AuditConfig } from '../config/schema.ts';
import type { GatewayError, Reason } from '../errors.ts';
import type { GatewayMetrics } from '../metrics/metrics.ts';
import type { CompiledRouting } from '../policy/routing.ts';
import './request-state.ts';

export interface AuditPluginOptions {
  audit: AuditLog;
  /** The live audit config: a reload may change `claims`. */
  auditConfig: (request?: FastifyRequest) => AuditConfig;
  metrics: GatewayMetrics;
  /** The request's routing (pinned to it); without a request, the live one. */
  routing: (request?: FastifyRequest) => CompiledRouting;
  /** `decision` on the decision listener: every record says a proxy asked (`"mode":"decision"`). */
  mode?: 'decision' | undefined;
}

/** The label for requests that matched no route; route names cannot contain spaces. */
const NO_ROUTE = '(none)';

/** Allowed by policy and not refused afterwards: only an upstream failure keeps an `allow`. */
function outcomeOf(request: FastifyRequest): { decision: 'allow' | 'deny'; reason: Reason; failed?: string } {
  const { decision, error } = request.stepgate;
  if (error) {
    const allowed = decision?.allow === true && error.reason === 'upstream_error';
    return {
      decision: allowed ? 'allow' : 'deny',
      reason: error.reason,
      failed: decision?.failed ?? error.detail,
    };
  }
  if (decision) return { decision: decision.allow ? 'allow' : 'deny', reason: decision.reason };
  if (request.stepgate.internal) return { decision: 'allow', reason: 'public' };
  return { decision: 'deny', reason: 'internal_error' };
}

function record(options: AuditPluginOptions, input: AuditInput, request?: FastifyRequest): void {
  const { metrics } = options;
  metrics.requests.inc({
    route: input.http.route ?? NO_ROUTE,
    decision: input.decision,
    reason: input.reason,
    status: String(input.status),
  });
  metrics.requestDuration.observe({ route: input.http.route ?? NO_ROUTE }, input.durationMs / 1000);
  const withMode = options.mode ? { ...input, mode: options.mode } : input;
  options.audit.write(buildAuditRecord(withMode, { claims: options.auditConfig(request).claims })).catch(() => {
    // The audit log counts and reports its own failures; failClosed refuses the next request.
  });
}

/** Records a request that the HTTP parser refused before Fastify saw it (431, malformed). */
export function recordClientError(
  options: AuditPluginOptions,
  requestId: string,
  err: GatewayError,
  socket: Socket,
): void {
  record(options, {
    requestId,
    decision: 'deny',
    reason: err.reason,
    failed: err.detail,
    status: err.status,
    durationMs: 0,
    http: { method: '-', path: '-', sourceIp: socket.remoteAddress ?? '-' },
    policyVersion: options.routing().version,
  });
}

async function auditPlugin(app: FastifyInstance, options: AuditPluginOptions): Promise<void> {
  app.addHook('onResponse', async (request, reply) => {
    const state = request.stepgate;
    if (!state) return;
    const outcome = outcomeOf(request);
    const route = state.match?.route.name ?? state.internal;
    record(options, {
      time: state.receivedAt,
      requestId: request.id,
      ...outcome,
      status: reply.statusCode,
      durationMs: Math.round((performance.now() - state.startedAt) * 1000) / 1000,
      http: {
        method: request.method,
        path: state.path ?? request.raw.url ?? '-',
        ...(route ? { route } : {}),
        sourceIp: request.ip,
        userAgent: request.headers['user-agent'] ?? '',
      },
      ...(state.identity ? { identity: state.identity } : {}),
      ...(state.target ? { target: state.target } : {}),
      policyVersion: options.routing(request).version,
    }, request);
  });
}

export default fp(auditPlugin, { name: 'stepgate-audit', dependencies: ['stepgate-request-context'] });
