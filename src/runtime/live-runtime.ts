/**
 * The live runtime: the one new requests are served with, replaced whole by a reload, and the
 * pieces a reload replaced closed once requests still using them had `server.shutdownGraceMs` to
 * finish (Pomerium's atomic swap on config change).
 */
import { ConfigError } from '../errors.ts';
import { restartOnlyChanges } from '../config/reload-check.ts';
import type { Config } from '../config/schema.ts';
import { buildRuntime, closeTargets, rebuildRuntime } from './build.ts';
import type { Runtime, RuntimeDeps } from './runtime.ts';

/** Where reload outcomes are told (the gateway's logger). */
export interface ReloadLog {
  info(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface LiveRuntime {
  /** The runtime a request arriving now is served with. */
  readonly current: Runtime;
  /**
   * Swaps in `next` whole, or throws (`ConfigError`) and keeps the current runtime. One reload at
   * a time: each compares against the config the previous one left. Counted in
   * `stepgate_config_reloads_total{result}`.
   */
  reload(next: Config): Promise<void>;
  /** Waits for a reload under way, then closes everything: what is retiring and what is live. */
  close(): Promise<void>;
}

export async function createLiveRuntime(
  config: Config,
  deps: RuntimeDeps & { readonly log: () => ReloadLog },
): Promise<LiveRuntime> {
  let live = await buildRuntime(config, deps);
  const retiring = new Set<() => Promise<void>>();
  const retire = (close: () => Promise<void>) => {
    const run = async () => {
      clearTimeout(timer);
      retiring.delete(run);
      await close().catch(() => undefined);
    };
    const timer = setTimeout(run, config.server.shutdownGraceMs);
    timer.unref();
    retiring.add(run);
  };

  const swap = async (next: Config): Promise<void> => {
    const current = live;
    const problems = restartOnlyChanges(current.config, next);
    if (problems.length > 0) throw new ConfigError(problems);
    const rebuilt = await rebuildRuntime(current, next, deps);
    live = rebuilt.runtime;
    retire(() => closeTargets(current.targets));
    if (rebuilt.verifier) retire(async () => current.verifier.close());
    if (rebuilt.limiter && current.limiter) retire(() => current.limiter!.close());
  };

  let reloading: Promise<void> = Promise.resolve();
  return {
    get current() {
      return live;
    },
    reload(next) {
      const run = reloading.then(() => swap(next));
      reloading = run.catch(() => undefined);
      return run.then(
        () => {
          deps.metrics.configReloads.inc({ result: 'ok' });
          deps.log().info({ routes: next.routes.length, policyVersion: live.routing.version }, 'config reloaded');
        },
        (err: unknown) => {
          deps.metrics.configReloads.inc({ result: 'error' });
          const problems = err instanceof ConfigError ? err.problems : [{ path: '', message: String(err) }];
          deps.log().error({ problems }, 'config reload refused: keeping the old config');
          throw err;
        },
      );
    },
    async close() {
      await reloading;
      await Promise.all([...retiring].map((close) => close()));
      live.verifier.close();
      await live.limiter?.close();
      await closeTargets(live.targets);
    },
  };
}
