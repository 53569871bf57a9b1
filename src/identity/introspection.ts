/**
 * OAuth 2.0 Token Introspection (RFC 7662) for an issuer with `introspection`: tokens that are not
 * a JWS (opaque ones, which many providers issue by default) are judged by the provider's
 * introspection endpoint, and with `tokens: all` so are JWTs, after their local verification, so
 * that a token revoked at the provider is refused here too.
 *
 * - The endpoint is `introspection.endpoint`, else the discovery document's
 *   `introspection_endpoint` (RFC 8414 §2); the gateway authenticates as its client with
 *   `client_secret_basic` (RFC 6749 §2.3.1).
 * - `active: false` is a 401 (§2.2). An active answer must name this issuer when it has `iss`,
 *   hold one of the configured audiences in `aud`, carry an `exp` and a `sub` (or a `client_id`,
 *   which then is the `sub`), and not describe a refresh or ID token; its members are the
 *   token's claims (read by the issuer's preset).
 * - Results are cached by a hash of the token: an active one until `exp` and at most
 *   `cacheSeconds`, an inactive one `negativeCacheSeconds`, in a bounded map, and with `redis`
 *   also in Redis, sealed (AES-GCM, key from the client secret) so every replica shares them and
 *   nobody who can write to Redis can make a token active.
 * - An endpoint that cannot be reached or answers nonsense is a 503 (`SG_ERR_IDP_UNAVAILABLE`),
 *   never an acceptance.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { JWTPayload } from 'jose';
import { type IssuerConfig, isSecureOrLoopback } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { createRedisClient } from '../redis.ts';
import { createProviderFetch, discoveryUrl, fetchDiscovery, ProviderError, toProviderError } from './provider-fetch.ts';
import { createSealer, deriveKey } from './sessions/seal.ts';

export interface IntrospectorOptions {
  readonly redis?: { readonly url: string; readonly keyPrefix: string } | undefined;
  readonly now?: (() => number) | undefined;
  readonly fetchTimeoutMs?: number | undefined;
  /** Told when the endpoint (or discovery) fails, for logs. */
  readonly onError?: ((error: ProviderError) => void) | undefined;
  /** In-memory entries at most (default 10 000). */
  readonly maxEntries?: number | undefined;
}

export interface Introspector {
  /** The claims of an active token; throws 401 `SG_ERR_INVALID_TOKEN` for an inactive one. */
  introspect(token: string): Promise<JWTPayload>;
  close(): Promise<void>;
}

type Result = { readonly active: true; readonly claims: JWTPayload } | { readonly active: false };

/** Payload `typ` (Keycloak) and `token_type_hint`-like values that are not access tokens. */
const NOT_ACCESS = new Set(['id', 'refresh', 'offline', 'logout', 'refresh_token', 'id_token']);

const inactive = (detail = 'the token is not active (introspection)') =>
  new GatewayError('SG_ERR_INVALID_TOKEN', detail);

/** Checks an active answer (RFC 7662 §2.2) against this issuer; returns the token's claims. */
function claimsOf(body: Record<string, unknown>, issuer: IssuerConfig, nowSeconds: number): Result {
  if (body['active'] !== true) return { active: false };
  const { active: _active, ...claims } = body;
  if (claims['iss'] !== undefined && claims['iss'] !== issuer.issuer) return { active: false };
  const aud = claims['aud'];
  const auds = Array.isArray(aud) ? aud : [aud];
  if (!auds.some((a) => typeof a === 'string' && issuer.audiences.includes(a))) return { active: false };
  // RFC 7662 makes `sub` optional; a client-credentials token is about its client (RFC 9068 §2.2).
  if (typeof claims['sub'] !== 'string' || claims['sub'] === '') {
    if (typeof claims['client_id'] !== 'string' || claims['client_id'] === '') return { active: false };
    claims['sub'] = claims['client_id'];
  }
  if (typeof claims['exp'] !== 'number' || claims['exp'] + issuer.clockSkewSeconds <= nowSeconds) {
    return { active: false };
  }
  for (const member of ['typ', 'token_type']) {
    const value = claims[member];
    if (typeof value === 'string' && NOT_ACCESS.has(value.toLowerCase())) return { active: false };
  }
  return { active: true, claims: { ...claims, iss: issuer.issuer } as JWTPayload };
}

export function createIntrospector(issuer: IssuerConfig, options: IntrospectorOptions = {}): Introspector {
  const config = issuer.introspection;
  if (!config) throw new TypeError(`issuer "${issuer.name}" has no introspection`);
  const now = options.now ?? Date.now;
  const timeoutMs = options.fetchTimeoutMs ?? 5000;
  const maxEntries = options.maxEntries ?? 10_000;
  const fetchFn = createProviderFetch(issuer.caFile);
  const authorization = `Basic ${Buffer.from(
    `${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`,
  ).toString('base64')}`;
  const memory = new Map<string, { result: Result; until: number }>();
  const sealer = createSealer(deriveKey(config.clientSecret, 'introspection cache v1'));
  const redis: Redis | undefined = options.redis
    ? createRedisClient({ ...options.redis, commandTimeoutMs: 500, lazyConnect: true })
    : undefined;
  let endpoint: Promise<string> | undefined = config.endpoint ? Promise.resolve(config.endpoint) : undefined;
  const inFlight = new Map<string, Promise<Result>>();

  const fail = (error: ProviderError): GatewayError => {
    options.onError?.(error);
    return new GatewayError('SG_ERR_IDP_UNAVAILABLE', `token introspection failed: ${error.message}`, { cause: error });
  };

  function introspectionEndpoint(): Promise<string> {
    endpoint ??= fetchDiscovery(fetchFn, issuer.issuer, AbortSignal.timeout(timeoutMs))
      .then((doc) => {
        const url = doc['introspection_endpoint'];
        if (typeof url !== 'string' || !URL.canParse(url)) {
          throw new ProviderError('bad_document', discoveryUrl(issuer.issuer), 'the discovery document has no introspection_endpoint');
        }
        // Tokens are sent there: https only (http on loopback), as for every issuer URL.
        if (!isSecureOrLoopback(url)) {
          throw new ProviderError('bad_document', discoveryUrl(issuer.issuer), `the introspection_endpoint ${url} must be https`);
        }
        return url;
      })
      .catch((err: unknown) => {
        endpoint = undefined;
        throw err;
      });
    return endpoint;
  }

  async function ask(token: string): Promise<Result> {
    let url = config!.endpoint ?? discoveryUrl(issuer.issuer);
    try {
      url = await introspectionEndpoint();
      const response = await fetchFn(url, {
        method: 'POST',
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      });
      const text = await response.text();
      if (response.status !== 200) throw new ProviderError('http_status', url, `POST ${url} answered HTTP ${response.status}`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new ProviderError('bad_json', url, `POST ${url} answered something that is not JSON`, { cause: err });
      }
      if (typeof body !== 'object' || body === null || typeof (body as { active?: unknown }).active !== 'boolean') {
        throw new ProviderError('bad_document', url, `POST ${url} answered no "active" member`);
      }
      return claimsOf(body as Record<string, unknown>, issuer, Math.floor(now() / 1000));
    } catch (err) {
      throw fail(err instanceof ProviderError ? err : toProviderError(err, url));
    }
  }

  const ttlMs = (result: Result): number => {
    if (!result.active) return config.negativeCacheSeconds * 1000;
    const untilExp = (result.claims.exp as number) * 1000 - now();
    return Math.max(0, Math.min(untilExp, config.cacheSeconds * 1000));
  };

  function remember(key: string, result: Result, ms: number): void {
    if (ms <= 0) return;
    if (memory.size >= maxEntries) memory.delete(memory.keys().next().value!);
    memory.set(key, { result, until: now() + ms });
  }

  async function fromRedis(key: string): Promise<Result | undefined> {
    const sealed = await redis?.get(`introspection:${key}`).catch(() => null);
    if (!sealed) return undefined;
    const result = sealer.open(sealed, key) as Result | undefined;
    return result && typeof result === 'object' && 'active' in result ? result : undefined;
  }

  async function lookUp(token: string, key: string): Promise<Result> {
    const shared = await fromRedis(key);
    if (shared) {
      remember(key, shared, ttlMs(shared));
      return shared;
    }
    const result = await ask(token);
    const ms = ttlMs(result);
    remember(key, result, ms);
    if (redis && ms > 0) {
      await redis.set(`introspection:${key}`, sealer.seal(result, key), 'PX', ms).catch(() => undefined);
    }
    return result;
  }

  return {
    async introspect(token) {
      const key = createHash('sha256').update(token).digest('base64url');
      const cached = memory.get(key);
      let result: Result;
      if (cached && cached.until > now()) {
        result = cached.result;
      } else {
        if (cached) memory.delete(key);
        let pending = inFlight.get(key);
        if (!pending) {
          pending = lookUp(token, key).finally(() => inFlight.delete(key));
          inFlight.set(key, pending);
        }
        result = await pending;
      }
      if (!result.active) throw inactive();
      return result.claims;
    },
    async close() {
      memory.clear();
      await redis?.quit().catch(() => undefined);
    },
  };
}
