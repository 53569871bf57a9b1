/**
 * `stepgate serve`: the gateway on its configured addresses, with a graceful stop. SIGTERM stops
 * accepting, lets in-flight requests finish (up to `server.shutdownGraceMs`), flushes the audit
 * log and exits 0.
 */
import type { FastifyInstance } from 'fastify';
import { buildGateway, type GatewayDeps } from '../app.ts';
import type { Config } from '../config/schema.ts';

export interface RunningGateway {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly adminUrl: string;
  stop(): Promise<void>;
}

export async function startGateway(config: Config, deps: GatewayDeps = {}): Promise<RunningGateway> {
  const app = await buildGateway(config, deps);
  const url = await app.listen({ host: config.server.host, port: config.server.port });
  let adminUrl: string;
  try {
    adminUrl = await app.stepgate.admin.listen({ host: config.admin.host, port: config.admin.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    app,
    url,
    adminUrl,
    stop() {
      stopping ??= (async () => {
        // In-flight requests get the grace period; then their sockets are closed.
        const timer = setTimeout(() => app.server.closeAllConnections(), config.server.shutdownGraceMs);
        timer.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

export async function serve(config: Config): Promise<void> {
  const gateway = await startGateway(config);
  gateway.app.log.info({ url: gateway.url, adminUrl: gateway.adminUrl }, 'stepgate listening');
  const shutdown = (signal: string) => {
    gateway.app.log.info({ signal }, 'stopping: finishing in-flight requests');
    gateway.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        gateway.app.log.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
