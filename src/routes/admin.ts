/**
 * The admin listener: /metrics, /healthz, /readyz. A separate Fastify app on its own address, so
 * the public port never serves them.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { AuditLog } from '../audit/audit-log.ts';
import type { BearerVerifier } from '../identity/verify-bearer.ts';
import type { GatewayMetrics } from '../metrics/metrics.ts';

export interface AdminDeps {
  readonly metrics: GatewayMetrics;
  /** The live verifier (a config reload may replace it). */
  readonly verifier: () => BearerVerifier;
  readonly audit: AuditLog;
}

export function buildAdminApp(deps: AdminDeps): FastifyInstance {
  const admin = Fastify({ logger: false, forceCloseConnections: true });
  admin.get('/healthz', async () => ({ status: 'ok' }));
  admin.get('/readyz', async (_request, reply) => {
    const verifier = deps.verifier();
    const checks = {
      config: true,
      issuerKeys: verifier.isReady(),
      audit: await deps.audit.ready(),
    };
    // An instance that is not ready gets no traffic, so no request would ever fetch the keys it
    // lacks (the IdP was down at start): the probe itself retries, within the per-issuer cooldown.
    if (!checks.issuerKeys) void verifier.warm();
    const ready = Object.values(checks).every(Boolean);
    // Which issuer is not ready, and why: a provider failure names its URL and cause.
    const issuers = Object.fromEntries(
      deps.verifier().issuerStatus().map(({ name, ...status }) => [name, status]),
    );
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks, issuers });
  });
  admin.get('/metrics', async (_request, reply) => {
    reply.type(deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });
  return admin;
}
