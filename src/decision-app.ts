/**
 * `buildDecisionApp`: the decision listener (DESIGN.md "Decision mode"). The gateway's own
 * pipeline — normalization, routing, authentication with bearer tokens and session cookies,
 * policy, rate limits, audit (`"mode":"decision"`) and metrics — on its own host and port, with
 * an answer in place of the forward.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config, DecisionConfig } from './config/schema.ts';
import { createDecisionEndpoint } from './decision/endpoint.ts';
import { createHttpApp } from './http-app.ts';
import type { LogDestination } from './logger.ts';
import { type AuditPluginOptions, createAccounting } from './plugins/audit.ts';
import { createClientErrorHandler } from './plugins/errors.ts';
import { type PipelineOptions, registerPipeline } from './plugins/pipeline.ts';
import decisionRoutes, { createDecisionNormalizer } from './routes/decision.ts';
import type { AssertionSigner } from './targets/assertion.ts';
import type { Target } from './targets/registry.ts';

export interface DecisionAppDeps {
  /** The gateway's pipeline options: the same live routing, verifier, limiter and audit log. */
  readonly pipeline: PipelineOptions;
  /** The gateway's audit options (records here add `"mode":"decision"`). */
  readonly audit: AuditPluginOptions;
  /** The live signer (a reload of `assertion.keys` replaces it). */
  readonly signer: (request: FastifyRequest) => AssertionSigner;
  readonly targets: (request: FastifyRequest) => ReadonlyMap<string, Target>;
  readonly logStream?: LogDestination | undefined;
}

export async function buildDecisionApp(
  config: Config,
  decision: DecisionConfig,
  deps: DecisionAppDeps,
): Promise<FastifyInstance> {
  const normalizer = createDecisionNormalizer(createDecisionEndpoint(decision), deps.pipeline.normalizer);
  const accounting = createAccounting({ ...deps.audit, mode: 'decision' });
  const app = createHttpApp({
    server: config.server,
    logLevel: config.logging.level,
    logStream: deps.logStream,
    // The proxies' X-Forwarded-For names the client: rate limits and the audit see its address.
    trustProxy: decision.trustedPeers,
    rewriteUrl: (req) => normalizer.rewriteUrl(req),
    refuseClientRequest: createClientErrorHandler((err, socket) => accounting.clientError(err, socket)),
  });
  // A check carries the client's Content-Type with no body (or Envoy's buffered one): never parsed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  await registerPipeline(app, { ...deps.pipeline, accounting, normalizer });
  await app.register(decisionRoutes, {
    normalizer,
    signer: deps.signer,
    targets: deps.targets,
    origin: config.sso ? config.server.publicUrl : undefined,
  });
  return app;
}
