/**
 * `buildDecisionApp`: the decision listener (DESIGN.md "Decision mode"). The gateway's own
 * pipeline — normalization, routing, authentication with bearer tokens and session cookies,
 * policy, rate limits, audit (`"mode":"decision"`) and metrics — on its own host and port, with
 * an answer in place of the forward.
 */
import type { FastifyInstance } from 'fastify';
import type { Config, DecisionConfig } from './config/schema.ts';
import { createDecisionEndpoint } from './decision/endpoint.ts';
import { createHttpApp } from './http-app.ts';
import type { LogDestination } from './logger.ts';
import { type AuditPluginOptions, createAccounting } from './plugins/audit.ts';
import { createSocketRefusals } from './plugins/errors.ts';
import { type PipelineOptions, registerPipeline } from './plugins/pipeline.ts';
import decisionRoutes, { createDecisionPrepare } from './routes/decision.ts';

export interface DecisionAppDeps {
  /** The gateway's pipeline options: the same live runtime, SSO and audit log. */
  readonly pipeline: PipelineOptions;
  /** The gateway's audit options (records here add `"mode":"decision"`). */
  readonly audit: AuditPluginOptions;
  readonly logStream?: LogDestination | undefined;
}

export async function buildDecisionApp(
  config: Config,
  decision: DecisionConfig,
  deps: DecisionAppDeps,
): Promise<FastifyInstance> {
  const accounting = createAccounting({ ...deps.audit, mode: 'decision' });
  const app = createHttpApp({
    server: config.server,
    logLevel: config.logging.level,
    logStream: deps.logStream,
    // The proxies' X-Forwarded-For names the client: rate limits and the audit see its address.
    trustProxy: decision.trustedPeers,
    // One catch-all route answers every check: the router never needs (nor refuses) its URL,
    // which the pipeline's first step reads (`request.originalUrl`).
    rewriteUrl: () => '/',
    refusals: createSocketRefusals((err, socket) => accounting.clientError(err, socket)),
  });
  // A check carries the client's Content-Type with no body (or Envoy's buffered one): never parsed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  const prepare = createDecisionPrepare(createDecisionEndpoint(decision));
  await registerPipeline(app, { ...deps.pipeline, accounting, prepare });
  await app.register(decisionRoutes, { origin: config.sso ? config.server.publicUrl : undefined });
  return app;
}
