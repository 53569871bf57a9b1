/**
 * Builds a runtime from a config: the routing compiled, the targets created, and the verifier,
 * limiter and signer either built or — on a reload that leaves their part of the config alone —
 * kept from the runtime before, so warm keys, cached tokens and rate-limit counters survive it.
 */
import { isDeepStrictEqual } from 'node:util';
import { loadAssertionKeys } from '../config/assertion-keys.ts';
import type { Config } from '../config/schema.ts';
import { compileRouting, type CompiledRouting } from '../policy/routing.ts';
import { createRateLimiterFor, type RateLimiter } from '../ratelimit/limiter.ts';
import { type AssertionSigner, createAssertionSigner } from '../targets/assertion.ts';
import { createTargets, type Target } from '../targets/registry.ts';
import type { Runtime, RuntimeDeps } from './runtime.ts';

const rateLimits = (config: Config) => config.routes.map((route) => [route.name, route.rateLimit]);

/** Redis only when a route has a limit: a gateway without limits opens no connection for them. */
const createLimiter = (config: Config, now: RuntimeDeps['now']): RateLimiter | undefined =>
  config.routes.some((route) => route.rateLimit) ? createRateLimiterFor(config.redis, now) : undefined;

/** Throws ConfigError when a key file went missing or bad since the config was checked. */
const createSigner = (config: Config): Promise<AssertionSigner> =>
  createAssertionSigner(config.server.publicUrl ?? `http://${config.server.host}:${config.server.port}`, {
    keys: loadAssertionKeys(config.assertion),
  });

function buildTargets(config: Config, routing: CompiledRouting, signer: AssertionSigner, deps: RuntimeDeps) {
  return createTargets(config.targets, {
    signer,
    metrics: deps.metrics,
    isTrustedPeer: deps.isTrustedPeer,
    dispatcher: deps.dispatcher,
    publicUrl: config.server.publicUrl ? new URL(config.server.publicUrl) : undefined,
    maxMessageBytes: config.server.bodyLimitBytes,
    executions: {
      routes: config.routes,
      publicUrl: config.server.publicUrl,
      redis: config.redis,
      executionsRoute: routing.executions,
    },
  });
}

export const closeTargets = (targets: ReadonlyMap<string, Target>): Promise<void> =>
  Promise.all([...targets.values()].map((target) => target.close?.())).then(() => undefined);

/** The first runtime, at start. */
export async function buildRuntime(config: Config, deps: RuntimeDeps): Promise<Runtime> {
  const routing = compileRouting(config.routes, config.targets);
  const signer = await createSigner(config);
  return {
    config,
    routing,
    targets: buildTargets(config, routing, signer, deps),
    verifier: deps.createVerifier(config.issuers),
    limiter: createLimiter(config, deps.now),
    signer,
  };
}

/** What a reload built anew, and so what it retires of the runtime before. */
export interface Rebuilt {
  readonly runtime: Runtime;
  readonly verifier: boolean;
  readonly limiter: boolean;
}

/**
 * The runtime after `current` for `next`. Routing and targets are always rebuilt; the verifier
 * only when `issuers` changed (and its keys are fetched before it serves, so /readyz does not
 * flap), the rate limiter only when a route's `rateLimit` appeared, changed or went, the assertion
 * signer whenever `assertion.keys` is set (its files are read again: a rotated secret takes
 * effect) — a generated key is kept, so a reload does not change what upstreams verify. On
 * failure, what was built is closed and the error thrown.
 */
export async function rebuildRuntime(current: Runtime, next: Config, deps: RuntimeDeps): Promise<Rebuilt> {
  const routing = compileRouting(next.routes, next.targets);
  const keepSigner = !next.assertion.keys && !current.config.assertion.keys;
  const signer = keepSigner ? current.signer : await createSigner(next);
  const targets = buildTargets(next, routing, signer, deps);
  const newVerifier = !isDeepStrictEqual(current.config.issuers, next.issuers);
  const newLimiter = !isDeepStrictEqual(rateLimits(current.config), rateLimits(next));
  let verifier = current.verifier;
  try {
    if (newVerifier) {
      verifier = deps.createVerifier(next.issuers);
      await verifier.warm();
    }
    const limiter = newLimiter ? createLimiter(next, deps.now) : current.limiter;
    return {
      runtime: { config: next, routing, targets, verifier, limiter, signer },
      verifier: newVerifier,
      limiter: newLimiter,
    };
  } catch (err) {
    await closeTargets(targets);
    if (newVerifier) verifier.close();
    throw err;
  }
}
