/**
 * The request pipeline every listener shares, registered in its fixed order: errors → normalize
 * and route → upgrades → authenticate → authorize → rate limit → audit and metrics. The gateway
 * adds the forwarding routes after it; the decision listener adds its answer.
 */
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import type { BrowserSso } from '../identity/sessions/index.ts';
import type { Runtime } from '../runtime/runtime.ts';
import auditPlugin, { type Accounting } from './audit.ts';
import authenticate from './authenticate.ts';
import authorize from './authorize.ts';
import errors from './errors.ts';
import rateLimit from './rate-limit.ts';
import requestContext, { type RequestContextOptions } from './request-context.ts';
import upgrade from './upgrade.ts';

export interface PipelineOptions {
  /** The runtime live now; each request pins the one live when it arrives. */
  readonly live: { readonly current: Runtime };
  /** The request's canonical target (the gateway's normalizer, or the decision listener's check). */
  readonly prepare: RequestContextOptions['prepare'];
  readonly audit: AuditLog;
  /** One record and one count per request, however it ends (plugins/audit.ts). */
  readonly accounting: Accounting;
  readonly sso: BrowserSso | undefined;
}

export async function registerPipeline(app: FastifyInstance, options: PipelineOptions): Promise<void> {
  await app.register(errors);
  await app.register(requestContext, {
    live: options.live,
    prepare: options.prepare,
    watch: (request, reply) => options.accounting.watch(request, reply),
  });
  // Upgrades only where a route allows a WebSocket, refused before anyone is authenticated.
  await app.register(upgrade);
  await app.register(authenticate, { sso: options.sso });
  await app.register(authorize, { audit: options.audit });
  // Always registered: a reload may add a limit. A route without one is never counted.
  await app.register(rateLimit);
  await app.register(auditPlugin, { accounting: options.accounting });
}
