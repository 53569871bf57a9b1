/**
 * `buildGateway(config)`: the public app and its admin app, wired in the order a request
 * travels — normalize → route → authenticate → authorize → forward → audit → metrics.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { BlockList, isIPv4, type Socket } from 'node:net';
import replyFrom from '@fastify/reply-from';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { type AuditLog, createAuditLog } from './audit/audit-log.ts';
import type { Config } from './config/schema.ts';
import { createBrowserSso } from './identity/sessions/index.ts';
import { type BearerVerifier, createBearerVerifier } from './identity/verify-bearer.ts';
import { createMetrics, type GatewayMetrics } from './metrics/metrics.ts';
import { compileRouting } from './policy/routing.ts';
import auditPlugin, { recordClientError } from './plugins/audit.ts';
import authenticate from './plugins/authenticate.ts';
import authorize from './plugins/authorize.ts';
import rateLimit from './plugins/rate-limit.ts';
import errors, { createClientErrorHandler } from './plugins/errors.ts';
import requestContext, { createPathNormalizer } from './plugins/request-context.ts';
import { createRateLimiterFor } from './ratelimit/limiter.ts';
import { buildAdminApp } from './routes/admin.ts';
import forwardRoutes from './routes/forward.ts';
import ssoRoutes from './routes/sso.ts';
import type { ExecutionsSource } from './routes/sso-page.ts';
import wellKnownRoutes from './routes/well-known.ts';
import { createAssertionSigner } from './targets/assertion.ts';
import { createExecutionsSource, createTargets } from './targets/registry.ts';

export interface GatewayDeps {
  /** Where the `stdout` audit sink writes (tests capture it). */
  readonly auditStdout?: NodeJS.WritableStream;
  /** Where the pino logger writes; default stdout. */
  readonly logStream?: NodeJS.WritableStream;
  /** The recent executions `/.stepgate/` lists for a caller (browser SSO). */
  readonly executions?: ExecutionsSource;
}

export interface GatewayParts {
  readonly admin: FastifyInstance;
  readonly audit: AuditLog;
  readonly verifier: BearerVerifier;
  readonly metrics: GatewayMetrics;
}

declare module 'fastify' {
  interface FastifyInstance {
    stepgate: GatewayParts;
  }
}

function createTrustedPeers(
  trustProxy: Config['server']['trustProxy'],
): (address: string | undefined) => boolean {
  if (!trustProxy) return () => false;
  const list = new BlockList();
  for (const entry of trustProxy) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    if (!address) return false;
    const mapped = address.startsWith('::ffff:') ? address.slice(7) : address;
    return list.check(mapped, isIPv4(mapped) ? 'ipv4' : 'ipv6');
  };
}

/** The authorities (host[:port]) an absolute-form request target may name: only our own. */
function ourAuthorities(config: Config): Set<string> {
  const out = new Set<string>();
  if (config.server.publicUrl) {
    const url = new URL(config.server.publicUrl);
    out.add(url.host.toLowerCase());
  }
  return out;
}

export async function buildGateway(config: Config, deps: GatewayDeps = {}): Promise<FastifyInstance> {
  const metrics = createMetrics();
  const audit = createAuditLog(config.audit, {
    ...(deps.auditStdout ? { stdout: deps.auditStdout } : {}),
    onRecord: (sink, result) => metrics.auditRecords.inc({ sink, result }),
  });
  const verifier = createBearerVerifier(config.issuers, {
    fingerprintKey: config.audit.fingerprintKey ?? randomBytes(32),
    onJwksRefresh: (issuer, result) => metrics.jwksRefresh.inc({ issuer, result }),
  });
  const routing = compileRouting(config.routes);
  const sso = config.sso ? createBrowserSso(config, { verifier }) : undefined;
  const publicUrl = config.server.publicUrl ?? `http://${config.server.host}:${config.server.port}`;
  const signer = await createAssertionSigner(publicUrl);
  const isTrustedPeer = createTrustedPeers(config.server.trustProxy);
  const normalizer = createPathNormalizer(ourAuthorities(config));
  const targets = createTargets(config.targets, {
    signer,
    metrics,
    isTrustedPeer,
    stepFunctions: {
      audit: { log: audit, claims: config.audit.claims, policyVersion: () => routing.version },
      routes: config.routes,
      publicUrl: config.server.publicUrl,
      redis: config.redis,
    },
  });
  // Redis only when a route has a limit: a gateway without limits opens no connection for them.
  const limiter = config.routes.some((route) => route.rateLimit) ? createRateLimiterFor(config.redis) : undefined;
  const { server } = config;
  const auditOptions = { audit, auditConfig: config.audit, metrics, routing: () => routing };
  const refuseClientRequest = createClientErrorHandler(randomUUID, (requestId, err, socket) =>
    recordClientError(auditOptions, requestId, err, socket),
  );

  const app = Fastify({
    logger: {
      level: config.logging.level,
      ...(deps.logStream ? { stream: deps.logStream } : {}),
      // Belt and braces: request logging is off, but nothing that carries a credential is logged.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'],
    },
    // pino's default request log writes the raw URL, which may carry a token in its query.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    trustProxy: server.trustProxy === false ? false : [...server.trustProxy],
    bodyLimit: server.bodyLimitBytes,
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 8192, ignoreTrailingSlash: false, caseSensitive: true },
    rewriteUrl: (req) => normalizer.rewriteUrl(req),
    serverFactory: (handler) => {
      const httpServer = createServer(
        {
          maxHeaderSize: server.maxHeaderBytes,
          headersTimeout: Math.min(server.headersTimeoutMs, server.requestTimeoutMs),
          requestTimeout: server.requestTimeoutMs,
          // Node checks the time-outs above only this often (30 s by default).
          connectionsCheckingInterval: Math.min(1000, server.requestTimeoutMs),
          keepAliveTimeout: server.keepAliveTimeoutMs,
          requireHostHeader: true,
        },
        handler as (req: IncomingMessage, res: ServerResponse) => void,
      );
      // Node hands CONNECT to a 'connect' listener, never to Fastify; without one it drops the
      // socket unanswered and unaudited. stepgate is no forward proxy: refuse it like a bad request.
      httpServer.on('connect', (_req: IncomingMessage, socket: Socket) =>
        refuseClientRequest(Object.assign(new Error('CONNECT is not supported'), { code: 'SG_CONNECT' }), socket),
      );
      return httpServer;
    },
    clientErrorHandler: refuseClientRequest,
  });

  const admin = buildAdminApp({ metrics, verifier, audit });
  app.decorate('stepgate', { admin, audit, verifier, metrics });

  // Bodies are kept as bytes up to bodyLimitBytes and forwarded as received: the limit is
  // enforced (413) before anything reaches a target, also for chunked bodies.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  await app.register(errors);
  await app.register(replyFrom, {
    disableRequestLogging: true,
    // reply-from turns upstream certificate checks off (`tls.rejectUnauthorized = false`) unless
    // told otherwise; undici applies `connect` last, so this turns them back on.
    undici: {
      connections: 256,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { rejectUnauthorized: true },
    },
  });
  await app.register(requestContext, { normalizer, routing: () => routing });
  await app.register(authenticate, { verifier, sso });
  await app.register(authorize, { routing: () => routing, audit });
  if (limiter) await app.register(rateLimit, { limiter });
  await app.register(auditPlugin, auditOptions);
  await app.register(wellKnownRoutes, { signer });
  if (sso && config.sso) {
    const { sessionTtlSeconds, sessionIdleSeconds } = config.sso;
    await app.register(ssoRoutes, {
      sso,
      verifier,
      sessionTtlSeconds,
      sessionIdleSeconds,
      executions: deps.executions ?? createExecutionsSource(targets),
    });
  }
  await app.register(forwardRoutes, { targets });

  app.addHook('onClose', async () => {
    await admin.close();
    verifier.close();
    await sso?.close();
    await limiter?.close();
    await Promise.all([...targets.values()].map((target) => target.close?.()));
    await audit.close();
  });
  // Fetch every issuer's keys now; /readyz reports when they are in.
  void verifier.warm();
  return app;
}
