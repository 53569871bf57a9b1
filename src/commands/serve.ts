/**
 * `stepgate serve`: the gateway on its configured addresses, with a graceful stop. SIGTERM stops
 * accepting, lets in-flight requests finish (up to `server.shutdownGraceMs`), flushes the audit
 * log and exits 0. SIGHUP, or a change of the config file, reloads the config (see `reload` in
 * app.ts): an invalid or restart-only change is logged and counted, and the old config stays.
 */
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildGateway, type GatewayDeps } from '../app.ts';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { configWarnings } from '../config/warnings.ts';
import { type FilesWatcher, watchFiles } from '../config/watch-files.ts';
import { ConfigError } from '../errors.ts';
import { InputError } from './input-error.ts';

/** How often, while stopping, connections that became idle are closed. */
const IDLE_SWEEP_MS = 50;

export interface RunningGateway {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly adminUrl: string;
  /** The decision listener's URL, when `decision` is configured. */
  readonly decisionUrl: string | undefined;
  stop(): Promise<void>;
}

/** Why an address cannot be listened on, in words, for the errors an operator can fix. */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'is already in use; stop what holds it or choose another port',
  EACCES: 'may not be listened on by this user (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'is not an address of this machine',
};

/** Listens, or throws an `InputError` of one line naming the config key (`server.port`). */
async function listenOn(app: FastifyInstance, key: 'server' | 'admin' | 'decision', host: string, port: number) {
  try {
    return await app.listen({ host, port });
  } catch (err) {
    const why = LISTEN_ERRORS[(err as NodeJS.ErrnoException).code ?? ''];
    if (!why) throw err;
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    throw new InputError(`${key}.port: ${where} ${why}`, { cause: err });
  }
}

export async function startGateway(config: Config, deps: GatewayDeps = {}): Promise<RunningGateway> {
  const app = await buildGateway(config, deps);
  let url: string;
  let adminUrl: string;
  let decisionUrl: string | undefined;
  try {
    url = await listenOn(app, 'server', config.server.host, config.server.port);
    adminUrl = await listenOn(app.stepgate.admin, 'admin', config.admin.host, config.admin.port);
    const { decision } = app.stepgate;
    if (decision && config.decision) {
      decisionUrl = await listenOn(decision, 'decision', config.decision.host, config.decision.port);
    }
  } catch (err) {
    await app.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    app,
    url,
    adminUrl,
    decisionUrl,
    stop() {
      stopping ??= (async () => {
        // In-flight requests get the grace period; then their sockets are closed.
        const timer = setTimeout(() => {
          app.server.closeAllConnections();
          app.stepgate.decision?.server.closeAllConnections();
        }, config.server.shutdownGraceMs);
        timer.unref();
        // Node closes the connections idle when closing starts, not those that become idle once
        // their request is answered: a keep-alive client would hold the server open for the
        // whole grace period. Close each as soon as it is idle.
        const sweep = setInterval(() => {
          app.server.closeIdleConnections();
          app.stepgate.decision?.server.closeIdleConnections();
        }, IDLE_SWEEP_MS);
        sweep.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
          clearInterval(sweep);
        }
      })();
      return stopping;
    },
  };
}

/**
 * Reloads `file` into the running gateway. A file that does not load is counted and logged (its
 * problems, never its values) and changes nothing; `reload` counts and logs the rest.
 */
export async function reloadFromFile(app: FastifyInstance, file: string, trigger: string): Promise<boolean> {
  let next: Config;
  try {
    next = loadConfigFile(file);
  } catch (err) {
    app.stepgate.metrics.configReloads.inc({ result: 'error' });
    const problems = err instanceof ConfigError ? err.problems : [{ path: '', message: String(err) }];
    app.log.error({ trigger, file, problems }, 'config reload refused: keeping the old config');
    return false;
  }
  try {
    await app.stepgate.reload(next);
    return true;
  } catch {
    return false; // counted and logged by reload
  }
}

export async function serve(config: Config, configFile?: string): Promise<void> {
  const gateway = await startGateway(config);
  let watcher: FilesWatcher | undefined;
  if (configFile !== undefined) {
    const file = resolve(configFile);
    const reload = (trigger: string) => void reloadFromFile(gateway.app, file, trigger);
    process.on('SIGHUP', () => {
      gateway.app.stepgate.tls?.reload();
      reload('SIGHUP');
    });
    watcher = watchFiles([file], () => reload('file change'));
  }
  const shutdown = (signal: string) => {
    watcher?.close();
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
  // Only now: whoever waits for this line may signal at once, and must get a graceful stop.
  for (const warning of configWarnings(config)) gateway.app.log.warn({ path: warning.path }, warning.message);
  const { url, adminUrl, decisionUrl } = gateway;
  gateway.app.log.info({ url, adminUrl, ...(decisionUrl ? { decisionUrl } : {}) }, 'stepgate listening');
}
