/**
 * A runtime: everything a request is served with that a config reload replaces — the config, its
 * compiled routing, the targets, the bearer verifier, the rate limiter and the assertion signer —
 * built from one config and never changed afterwards. A request pins the runtime live when it
 * arrives (`request.stepgate.runtime`), so a reload mid-request cannot pair a route of one config
 * with a policy of another.
 */
import type { Dispatcher } from 'undici';
import type { Config } from '../config/schema.ts';
import type { BearerVerifier } from '../identity/verify-bearer.ts';
import type { GatewayMetrics } from '../metrics/metrics.ts';
import type { CompiledRouting } from '../policy/routing.ts';
import type { RateLimiter } from '../ratelimit/limiter.ts';
import type { AssertionSigner } from '../targets/assertion.ts';
import type { Target } from '../targets/registry.ts';

export interface Runtime {
  readonly config: Config;
  readonly routing: CompiledRouting;
  /** The configured targets by name, and the executions reader under its route's target name. */
  readonly targets: ReadonlyMap<string, Target>;
  readonly verifier: BearerVerifier;
  /** Present when a route has a `rateLimit`. */
  readonly limiter: RateLimiter | undefined;
  /** Signs `X-Stepgate-Assertion` and publishes its JWKS (`assertion.keys`, else a generated key). */
  readonly signer: AssertionSigner;
}

/** What building a runtime needs that outlives any one config. */
export interface RuntimeDeps {
  readonly metrics: GatewayMetrics;
  /** The pooled upstream connections of every HTTP target, kept across reloads. */
  readonly dispatcher: Dispatcher;
  /** `server.trustProxy`, fixed at start. */
  readonly isTrustedPeer: (address: string | undefined) => boolean;
  /** A verifier for `issuers` (one fingerprint key and provider monitor for the process). */
  readonly createVerifier: (issuers: Config['issuers']) => BearerVerifier;
  /** The gateway's clock (`GatewayDeps.now`), for in-memory rate limits. */
  readonly now?: (() => number) | undefined;
}
