/**
 * `stepgate serve`: the gateway on its configured addresses, with a graceful stop. SIGTERM stops
 * accepting, lets in-flight requests finish (up to `server.shutdownGraceMs`), flushes the audit
 * log and exits 0. SIGHUP, or a change of the config file, reloads the config (see `reload` in
 * app.ts): an invalid or restart-only change is logged and counted, and the old config stays.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildGateway, type GatewayDeps } from '../app.ts';
import { loadConfigFile } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { configWarnings } from '../config/warnings.ts';
import { ConfigError } from '../errors.ts';

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

/** How long a burst of file events (an editor's save) settles before one reload. */
const RELOAD_DEBOUNCE_MS = 200;

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

/**
 * Watches the directory, not the file: editors save by writing a new file and renaming it over
 * the old one, which would leave a watch on the file itself pointing at the unlinked inode.
 */
function watchConfigFile(file: string, onChange: () => void): FSWatcher | undefined {
  const name = basename(file);
  let timer: NodeJS.Timeout | undefined;
  try {
    const watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(timer);
      timer = setTimeout(onChange, RELOAD_DEBOUNCE_MS);
    });
    watcher.on('error', () => watcher.close());
    return watcher;
  } catch {
    return undefined; // SIGHUP still reloads
  }
}

export async function serve(config: Config, configFile?: string): Promise<void> {
  const gateway = await startGateway(config);
  let watcher: FSWatcher | undefined;
  if (configFile !== undefined) {
    const file = resolve(configFile);
    const reload = (trigger: string) => void reloadFromFile(gateway.app, file, trigger);
    process.on('SIGHUP', () => reload('SIGHUP'));
    watcher = watchConfigFile(file, () => reload('file change'));
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
  gateway.app.log.info({ url: gateway.url, adminUrl: gateway.adminUrl }, 'stepgate listening');
}
