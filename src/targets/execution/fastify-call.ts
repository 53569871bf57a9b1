/**
 * The thin edge between Fastify and an execution target: today's `Target.handle(request, reply)`
 * turned into an `ExecutionCall`, and an `Outcome` sent as the reply. Everything else an
 * execution target does is Fastify-free.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../../audit/audit-log.ts';
import { buildAuditRecord } from '../../audit/record.ts';
import { GatewayError } from '../../errors.ts';
import type { AuditTarget } from '../../plugins/request-state.ts';
import type { ExecutionCall, Outcome } from './call.ts';

export interface ExecutionAuditDeps {
  readonly log: AuditLog;
  /** `audit.claims`. */
  readonly claims: readonly string[];
  readonly policyVersion: () => string;
}

/**
 * The record written (durably) before an execution target starts something: with `failClosed`, a
 * record that cannot be written refuses the request, so nothing starts unaudited. Once it is on
 * disk, a client gone meanwhile gets nothing started (`SG_ERR_CLIENT_ABORTED`); otherwise the
 * request counts as forwarded from here on, as the outcome record will say.
 */
async function writeIntentRecord(
  audit: ExecutionAuditDeps,
  request: FastifyRequest,
  target: AuditTarget,
): Promise<void> {
  const state = request.stepgate;
  const record = buildAuditRecord(
    {
      requestId: request.id,
      phase: 'intent',
      decision: 'allow',
      reason: state.decision?.reason ?? 'allowed',
      status: 0,
      durationMs: performance.now() - state.startedAt,
      http: {
        method: request.method,
        path: state.path ?? '-',
        ...(state.match ? { route: state.match.route.name } : {}),
        sourceIp: request.ip,
        userAgent: request.headers['user-agent'] ?? '',
      },
      ...(state.identity ? { identity: state.identity } : {}),
      target,
      policyVersion: audit.policyVersion(),
    },
    { claims: audit.claims },
  );
  await audit.log.write(record, { durable: true });
  if (state.gone.aborted) throw new GatewayError('SG_ERR_CLIENT_ABORTED');
  state.forwarded = true;
}

/** The call a request makes of an execution target; `target` becomes the request's audit target. */
export function executionCall(
  request: FastifyRequest,
  audit: ExecutionAuditDeps,
  target: AuditTarget,
): ExecutionCall {
  const state = request.stepgate;
  // The config refuses public execution routes: no identity here is a bug.
  if (!state.identity || !state.match || state.path === undefined) throw new GatewayError('SG_ERR_INTERNAL');
  state.target = target;
  return {
    identity: state.identity,
    route: state.match.route,
    params: state.match.params,
    request: { id: request.id, method: request.method, path: state.path, receivedAt: state.receivedAt },
    rawHeaders: request.raw.rawHeaders,
    headers: request.headers,
    body: Buffer.isBuffer(request.body) ? request.body : undefined,
    target,
    writeIntent: () => writeIntentRecord(audit, request, { ...target }),
    markForwarded: () => {
      state.forwarded = true;
    },
  };
}

export function sendOutcome(reply: FastifyReply, outcome: Outcome): FastifyReply {
  return reply.code(outcome.status).headers(outcome.headers).send(outcome.body);
}
