/**
 * The request pipeline every listener shares, registered in its fixed order: errors → normalize
 * and route → authenticate → authorize → rate limit → audit and metrics. The gateway adds the
 * forwarding routes after it; the decision listener adds its answer.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BrowserSso } from '../identity/sessions/index.ts';
import type { BearerVerifier } from '../identity/verify-bearer.ts';
import type { RateLimiter } from '../ratelimit/limiter.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { CompiledRouting } from '../policy/routing.ts';
import auditPlugin, { type Accounting } from './audit.ts';
import authenticate from './authenticate.ts';
import authorize from './authorize.ts';
import errors from './errors.ts';
import rateLimit from './rate-limit.ts';
import requestContext, { type PathNormalizer } from './request-context.ts';

export interface PipelineOptions {
  readonly normalizer: PathNormalizer;
  /** The request's routing (pinned to it). */
  readonly routing: (request: FastifyRequest) => CompiledRouting;
  readonly audit: AuditLog;
  /** One record and one count per request, however it ends (plugins/audit.ts). */
  readonly accounting: Accounting;
  /** The live verifier (a config reload may replace it). */
  readonly verifier: (request: FastifyRequest) => BearerVerifier;
  readonly sso: BrowserSso | undefined;
  /** The live limiter; `undefined` while no route has a limit. */
  readonly limiter: (request: FastifyRequest) => RateLimiter | undefined;
}

export async function registerPipeline(app: FastifyInstance, options: PipelineOptions): Promise<void> {
  const { routing, audit } = options;
  await app.register(errors);
  await app.register(requestContext, {
    normalizer: options.normalizer,
    routing,
    watch: (request, reply) => options.accounting.watch(request, reply),
  });
  await app.register(authenticate, { verifier: options.verifier, sso: options.sso });
  await app.register(authorize, { routing, audit });
  // Always registered: a reload may add a limit. A route without one is never counted.
  await app.register(rateLimit, { limiter: options.limiter });
  await app.register(auditPlugin, { accounting: options.accounting });
}
