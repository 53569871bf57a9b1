/**
 * Audit and metrics: exactly one record and one count for every request that reached the
 * gateway — allowed, denied or failed, answered in full or cut short — and for every request the
 * HTTP parser refused.
 *
 * A request is watched from its first hook. Its record is written once, by whichever comes
 * first: the response finished (`onResponse`), or its connection closed before that (`gone`:
 * reason `client_aborted`, or what cut it — a broken upstream, a framing error). A request whose
 * target is still at work when the client goes (an upstream call, a StartExecution) is recorded
 * once that work settles, so the record says what was forwarded and what came of it.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { AuditLog } from '../audit/audit-log.ts';
import { type AuditInput, type AuditWebSocket, buildAuditRecord } from '../audit/record.ts';
import { ERRORS, GatewayError } from '../errors.ts';
import type { GatewayMetrics } from '../metrics/metrics.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { RequestState } from './request-state.ts';

export interface AuditPluginOptions {
  audit: AuditLog;
  metrics: GatewayMetrics;
  /** The runtime live now: what a record of no request (a parser error) names. */
  live: { readonly current: Runtime };
  /** `decision` on the decision listener: every record says a proxy asked (`"mode":"decision"`). */
  mode?: 'decision' | undefined;
}

/** The label for requests that matched no route; route names cannot contain spaces. */
const NO_ROUTE = '(none)';

/** nginx's "client closed request": the status of a request whose answer never started. */
const CLIENT_CLOSED = ERRORS.SG_ERR_CLIENT_ABORTED.status;

type Outcome = Pick<AuditInput, 'decision' | 'reason' | 'failed'>;

/** Allowed by policy and not refused afterwards: only an upstream failure keeps an `allow`. */
function outcomeOf(state: RequestState): Outcome {
  const { decision, error } = state;
  if (error) {
    const allowed = decision?.allow === true && error.reason === 'upstream_error';
    return { decision: allowed ? 'allow' : 'deny', reason: error.reason, failed: decision?.failed ?? error.detail };
  }
  if (decision) return { decision: decision.allow ? 'allow' : 'deny', reason: decision.reason };
  if (state.internal) return { decision: 'allow', reason: 'public' };
  return { decision: 'deny', reason: 'internal_error' };
}

/**
 * A request cut short: the decision taken so far and why it ended — `client_aborted`, or what cut
 * it when not the client (a broken upstream response, a framing error in the body).
 */
function cutOutcome(state: RequestState): Outcome {
  const { decision, error, cut } = state;
  if (cut) {
    const allowed = decision?.allow === true && cut.reason === 'upstream_error';
    return { decision: allowed ? 'allow' : 'deny', reason: cut.reason, failed: cut.detail };
  }
  // An error the abort itself caused (the upstream call it cancelled) changes no decision.
  const refused = error !== undefined && error.reason !== 'upstream_error' && error.reason !== 'client_aborted';
  const allowed = decision ? decision.allow : state.internal !== undefined;
  if (allowed && !refused) return { decision: 'allow', reason: 'client_aborted' };
  const failed = decision?.failed ?? (refused ? error.detail : undefined);
  return { decision: 'deny', reason: 'client_aborted', ...(failed === undefined ? {} : { failed }) };
}

/** What a record says of the request itself; the same for its intent and its outcome record. */
function auditInput(
  request: FastifyRequest,
  fields: Pick<AuditInput, 'time' | 'phase' | 'decision' | 'reason' | 'failed' | 'status' | 'forwarded' | 'websocket'>,
): AuditInput {
  const state = request.stepgate;
  const route = state.match?.route.name ?? state.internal;
  return {
    requestId: request.id,
    ...fields,
    durationMs: Math.round((performance.now() - state.startedAt) * 1000) / 1000,
    http: {
      method: request.method,
      path: state.path ?? request.raw.url ?? '-',
      ...(route ? { route } : {}),
      sourceIp: state.sourceIp,
      userAgent: request.headers['user-agent'] ?? '',
    },
    ...(state.identity ? { identity: state.identity } : {}),
    ...(state.target ? { target: state.target } : {}),
    policyVersion: state.runtime.routing.version,
  };
}

export interface Accounting {
  /** Starts watching a request (its first hook); the signal aborts when its client goes away. */
  watch(request: FastifyRequest, reply: FastifyReply): AbortSignal;
  /**
   * The record written (durably) before an execution target starts something: with `failClosed`,
   * a record that cannot be written refuses the request, so nothing starts unaudited. Once it is
   * on disk, a client gone meanwhile gets nothing started (`SG_ERR_CLIENT_ABORTED`); otherwise the
   * request counts as forwarded from here on, as the outcome record will say.
   */
  writeIntent(request: FastifyRequest): Promise<void>;
  /** The response finished: the request's record, unless it has one. */
  finished(request: FastifyRequest, reply: FastifyReply): void;
  /**
   * The request was upgraded to a WebSocket (status 101): its `open` record and count now, in
   * place of the one record of a request; the function returned writes its `close` record once.
   */
  upgraded(request: FastifyRequest): (websocket: AuditWebSocket) => void;
  /**
   * Node's parser refused bytes on `socket`. When they were the body of the request in flight
   * there, that request's record says so; otherwise a record of its own is written. Returns the
   * request id to answer with, and whether an answer may still be written on the socket.
   */
  clientError(err: GatewayError, socket: Socket): { requestId: string; respond: boolean };
}

/**
 * Whether the whole answer was handed over. `writableFinished` alone is not enough: Node's HTTP/2
 * compatibility layer marks a response finished when its stream closes, also when the client
 * reset it (RST_STREAM) — but only an answer the handler ended has `writableEnded`.
 */
const answered = (reply: FastifyReply): boolean => reply.raw.writableEnded && reply.raw.writableFinished;

export function createAccounting(options: AuditPluginOptions): Accounting {
  /** The latest request on each connection: a parser error mid-body belongs to it. */
  const latest = new WeakMap<Socket, { request: FastifyRequest; reply: FastifyReply }>();

  /** The record of `input`, under the request's config, in this listener's mode. */
  const recordOf = (input: AuditInput, runtime: Runtime) =>
    buildAuditRecord(options.mode ? { ...input, mode: options.mode } : input, { claims: runtime.config.audit.claims });

  const append = (input: AuditInput, runtime: Runtime) => {
    options.audit.write(recordOf(input, runtime)).catch(() => {
      // The audit log counts and reports its own failures; failClosed refuses the next request.
    });
  };

  const write = (input: AuditInput, runtime: Runtime) => {
    const route = input.http.route ?? NO_ROUTE;
    const { decision, reason } = input;
    options.metrics.requests.inc({ route, decision, reason, status: String(input.status) });
    options.metrics.requestDuration.observe({ route }, input.durationMs / 1000);
    append(input, runtime);
  };

  const record = (request: FastifyRequest, outcome: Outcome, status: number) => {
    const state = request.stepgate;
    const fields = { time: state.receivedAt, ...outcome, status, forwarded: state.forwarded };
    write(auditInput(request, fields), state.runtime);
  };

  const gone = (request: FastifyRequest, reply: FastifyReply) => {
    const state = request.stepgate;
    if (!state || state.accounted) return;
    state.accounted = true;
    // The status the client saw, if any reached it; taken now, before anything else is tried.
    const status = reply.raw.headersSent ? reply.statusCode : (state.cut?.status ?? CLIENT_CLOSED);
    const settle = () => record(request, cutOutcome(state), status);
    if (state.forwarding) state.forwarding.then(settle, settle);
    else settle();
  };

  return {
    watch(request, reply) {
      const controller = new AbortController();
      if (request.raw.socket) latest.set(request.raw.socket, { request, reply });
      const onClose = () => {
        if (answered(reply) || controller.signal.aborted) return;
        controller.abort();
        gone(request, reply);
      };
      reply.raw.once('close', onClose);
      // Closed before the first hook ran: recorded once the request state exists.
      if (request.raw.socket?.destroyed) queueMicrotask(onClose);
      return controller.signal;
    },

    async writeIntent(request) {
      const state = request.stepgate;
      const fields = { phase: 'intent', decision: 'allow', reason: state.decision?.reason ?? 'allowed', status: 0 } as const;
      await options.audit.write(recordOf(auditInput(request, fields), state.runtime), { durable: true });
      if (state.gone.aborted) throw new GatewayError('SG_ERR_CLIENT_ABORTED');
      state.forwarded = true;
    },

    finished(request, reply) {
      const state = request.stepgate;
      // A reset HTTP/2 stream "finishes" too; its 'close' that follows records it as gone.
      if (!state || state.accounted || !answered(reply)) return;
      state.accounted = true;
      record(request, outcomeOf(state), reply.statusCode);
    },

    upgraded(request) {
      const state = request.stepgate;
      state.accounted = true;
      const outcome = outcomeOf(state);
      const fields = { time: state.receivedAt, ...outcome, status: 101, forwarded: true };
      write(auditInput(request, { ...fields, phase: 'open' }), state.runtime);
      const open = options.metrics.websocketsOpen.labels({ route: state.match?.route.name ?? NO_ROUTE });
      open.inc();
      let closed = false;
      return (websocket) => {
        if (closed) return;
        closed = true;
        open.dec();
        // Not counted again: stepgate_requests_total counted the request when it opened.
        // Its time is when it closed; durationMs runs from the request's arrival.
        append(auditInput(request, { ...outcome, status: 101, forwarded: true, phase: 'close', websocket }), state.runtime);
      };
    },

    clientError(err, socket) {
      const inFlight = latest.get(socket);
      const state = inFlight?.request.stepgate;
      if (inFlight && state && !state.accounted && !inFlight.request.raw.complete) {
        // The bad bytes were this request's body: its one record tells (see `gone`).
        state.cut = err;
        return { requestId: inFlight.request.id, respond: !inFlight.reply.raw.headersSent };
      }
      const requestId = randomUUID();
      const runtime = options.live.current;
      write({
        requestId,
        decision: 'deny',
        reason: err.reason,
        failed: err.detail,
        status: err.status,
        forwarded: false,
        durationMs: 0,
        http: { method: '-', path: '-', sourceIp: socket.remoteAddress ?? '-' },
        policyVersion: runtime.routing.version,
      }, runtime);
      return { requestId, respond: !inFlight || inFlight.reply.raw.writableFinished };
    },
  };
}

async function auditPlugin(app: FastifyInstance, options: { accounting: Accounting }): Promise<void> {
  // Never waits: written with `done` (see request-context.ts).
  app.addHook('onResponse', (request, reply, done) => {
    options.accounting.finished(request, reply);
    done();
  });
}

export default fp(auditPlugin, { name: 'stepgate-audit', dependencies: ['stepgate-request-context'] });
