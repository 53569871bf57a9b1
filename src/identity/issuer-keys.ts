/**
 * One issuer's signing keys: discovery, JWKS fetch, cache. Keys come only from the configured
 * `jwksUri` or the issuer's own discovery document, never from a token (`jku`, `x5u`, `jwk`,
 * `x5c` are refused before a key is looked up, RFC 8725 §3.10).
 *
 * Availability rules (DESIGN.md "Security invariants" → JWKS):
 * - stale-while-error: fetched keys stay usable while the IdP is down, however old; past
 *   `jwksCacheMaxAgeSeconds` they are refreshed in the background and kept if that fails;
 * - an unknown `kid` triggers a refetch at most once per `jwksCooldownSeconds`, outage or not,
 *   and concurrent callers share the one fetch in flight;
 * - a JWKS without a usable key never replaces good keys.
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWK, type JWSHeaderParameters } from 'jose';
import type { FlattenedJWSInput } from 'jose';
import { isSecureOrLoopback } from '../config/schema.ts';
import type { IssuerConfig } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import {
  createProviderFetch,
  discoveryUrl,
  fetchDiscovery,
  fetchProviderJson,
  ProviderError,
  type ProviderFetch,
} from './provider-fetch.ts';

export type JwksRefreshResult = 'ok' | 'error';

/** Told about every fetch attempt, for `stepgate_jwks_refresh_total{issuer,result}` and logs. */
export type JwksRefreshListener = (issuerName: string, result: JwksRefreshResult, error?: unknown) => void;

export interface IssuerKeysOptions {
  readonly onRefresh?: JwksRefreshListener | undefined;
  /** Clock in milliseconds since the epoch (tests move it); `Date.now` by default. */
  readonly now?: (() => number) | undefined;
  /** Time limit of each discovery or JWKS request. */
  readonly fetchTimeoutMs?: number | undefined;
  /**
   * Told when a fetch changed the usable keys (added or removed any), with the `kid`s of the keys
   * that left (`''` for a key without one; a key whose material changed under its `kid` left).
   */
  readonly onKeysChanged?: ((removedKids: ReadonlySet<string>) => void) | undefined;
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;
type ResolvedKey = Awaited<ReturnType<KeyResolver>>;

export interface IssuerKeys {
  /** A jose key resolver for `jwtVerify`: the key named by the header, from this issuer only. */
  readonly resolve: (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<ResolvedKey>;
  /** Keys have been fetched at least once. */
  isReady(): boolean;
  /** Why the last discovery or JWKS fetch failed, until one succeeds again. */
  lastError(): ProviderError | undefined;
  /** Counts the fetches that changed the keys: a verification that saw it move may be stale. */
  readonly generation: number;
  /** Fetches keys if none are held or they are stale, within the cooldown. Never throws. */
  warm(): Promise<void>;
  /** Aborts a fetch in flight; no fetch starts afterwards. */
  close(): void;
}

const DEFAULT_FETCH_TIMEOUT_MS = 5_000;
const KEY_TYPES = new Set(['RSA', 'EC', 'OKP']);

/** A key as a JWKS names it: its `kid` and its public material. */
function keyIdentity(jwk: JWK): string {
  return JSON.stringify([jwk.kid ?? '', jwk.kty, jwk.crv, jwk.n, jwk.e, jwk.x, jwk.y]);
}

/** Which key type each allowed algorithm needs (RFC 7518 §3.1, RFC 8037). */
function keyTypeOf(alg: string): string {
  if (alg.startsWith('ES')) return 'EC';
  if (alg === 'EdDSA' || alg === 'Ed25519') return 'OKP';
  return 'RSA';
}

/** A public signing key this issuer may use: no private parts, not marked for encryption. */
function isUsableKey(jwk: unknown, algorithms: readonly string[], keyTypes: ReadonlySet<string>): jwk is JWK {
  if (typeof jwk !== 'object' || jwk === null) return false;
  const key = jwk as Record<string, unknown>;
  if (typeof key['kty'] !== 'string' || !KEY_TYPES.has(key['kty']) || !keyTypes.has(key['kty'])) return false;
  if ('d' in key) return false;
  if (key['use'] !== undefined && key['use'] !== 'sig') return false;
  if (key['alg'] !== undefined && !algorithms.includes(key['alg'] as string)) return false;
  if (key['kid'] !== undefined && typeof key['kid'] !== 'string') return false;
  const ops = key['key_ops'];
  return ops === undefined || (Array.isArray(ops) && ops.includes('verify'));
}

/** Discovery gives the JWKS URL; it must be https (http only on loopback). */
async function discoverJwksUri(fetchFn: ProviderFetch, issuer: string, signal: AbortSignal): Promise<string> {
  const doc = await fetchDiscovery(fetchFn, issuer, signal);
  const jwksUri = doc['jwks_uri'];
  if (typeof jwksUri !== 'string' || !URL.canParse(jwksUri)) {
    throw new ProviderError('bad_document', discoveryUrl(issuer), 'the discovery document has no jwks_uri');
  }
  if (!isSecureOrLoopback(jwksUri)) {
    throw new ProviderError(
      'bad_document',
      discoveryUrl(issuer),
      `the discovered jwks_uri ${jwksUri} must be https (http only on loopback)`,
    );
  }
  return jwksUri;
}

export function createIssuerKeys(issuer: IssuerConfig, options: IssuerKeysOptions = {}): IssuerKeys {
  const now = options.now ?? Date.now;
  const timeoutMs = options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const cooldownMs = issuer.jwksCooldownSeconds * 1000;
  const maxAgeMs = issuer.jwksCacheMaxAgeSeconds * 1000;
  const keyTypes = new Set(issuer.algorithms.map(keyTypeOf));
  const closing = new AbortController();
  const fetchFn = createProviderFetch(issuer.caFile);
  let lastError: ProviderError | undefined;

  let keys: KeyResolver | undefined;
  /** The usable keys of the last good JWKS, to tell which keys a new one drops. */
  let published: readonly JWK[] = [];
  let generation = 0;
  let fetchedAt = 0;
  let lastAttemptAt: number | undefined;
  let inFlight: Promise<void> | undefined;
  let discoveredJwksUri: string | undefined;

  /** A listener that throws must not turn a good fetch into a failed one. */
  const notify = (result: JwksRefreshResult, error?: unknown): void => {
    try {
      options.onRefresh?.(issuer.name, result, error);
    } catch {
      // metrics and logs are best-effort here
    }
  };

  const notifyChanged = (removedKids: ReadonlySet<string>): void => {
    try {
      options.onKeysChanged?.(removedKids);
    } catch {
      // the listener's failure is its own; the new keys are in place
    }
  };

  const mayAttempt = (): boolean => lastAttemptAt === undefined || now() - lastAttemptAt >= cooldownMs;

  async function fetchKeys(): Promise<void> {
    const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]);
    let jwksUri = issuer.jwksUri ?? discoveredJwksUri;
    try {
      jwksUri ??= await discoverJwksUri(fetchFn, issuer.issuer, signal);
      const doc = await fetchProviderJson(fetchFn, jwksUri, signal);
      const listed = (doc as { keys?: unknown } | null)?.keys;
      if (!Array.isArray(listed)) throw new ProviderError('bad_document', jwksUri, 'the JWKS has no "keys" array');
      const usable = listed.filter((k) => isUsableKey(k, issuer.algorithms, keyTypes));
      if (usable.length === 0) {
        throw new ProviderError(
          'no_keys',
          jwksUri,
          `the JWKS holds no signing key for the allowed algorithms (${issuer.algorithms.join(', ')})`,
        );
      }
      keys = createLocalJWKSet({ keys: usable } satisfies JSONWebKeySet);
      const current = new Set(usable.map(keyIdentity));
      const before = new Set(published.map(keyIdentity));
      const removed = new Set(published.filter((k) => !current.has(keyIdentity(k))).map((k) => k.kid ?? ''));
      // The first keys change nothing: nothing was verified before them.
      const changed = published.length > 0 && (removed.size > 0 || [...current].some((k) => !before.has(k)));
      published = usable;
      fetchedAt = now();
      if (changed) {
        generation++;
        notifyChanged(removed);
      }
      discoveredJwksUri = issuer.jwksUri ? undefined : jwksUri;
      lastError = undefined;
      notify('ok');
    } catch (error) {
      // Rediscover next time: the JWKS may have moved.
      discoveredJwksUri = undefined;
      if (closing.signal.aborted) return;
      lastError =
        error instanceof ProviderError ? error : new ProviderError('network', jwksUri ?? discoveryUrl(issuer.issuer), String(error), { cause: error });
      notify('error', lastError);
    }
  }

  /** One fetch at a time; callers arriving while it runs wait for the same one. */
  function refresh(): Promise<void> {
    if (inFlight) return inFlight;
    if (closing.signal.aborted) return Promise.resolve();
    lastAttemptAt = now();
    inFlight = fetchKeys().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  function refreshIfStale(): void {
    if (!inFlight && now() - fetchedAt >= maxAgeMs && mayAttempt()) void refresh();
  }

  async function resolve(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<ResolvedKey> {
    if (!keys) {
      if (inFlight) await inFlight;
      else if (mayAttempt()) await refresh();
      if (!keys) {
        throw new GatewayError(
          'SG_ERR_IDP_UNAVAILABLE',
          `signing keys of issuer "${issuer.name}" are unavailable`,
        );
      }
    } else {
      refreshIfStale();
    }
    const held = keys;
    try {
      return await held(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // Unknown kid: perhaps a rotation. Refetch, bounded by the cooldown.
      if (inFlight) await inFlight;
      else if (mayAttempt()) await refresh();
      if (keys === held) throw error;
      return keys(header, token);
    }
  }

  return {
    resolve,
    isReady: () => keys !== undefined,
    lastError: () => lastError,
    get generation() {
      return generation;
    },
    async warm() {
      if (inFlight) return inFlight;
      if ((!keys || now() - fetchedAt >= maxAgeMs) && mayAttempt()) return refresh();
    },
    close() {
      closing.abort();
    },
  };
}
