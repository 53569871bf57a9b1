/**
 * Bearer JWT verification (RFC 9068 access tokens, RFC 8725 best practices). The issuer is chosen
 * by the exact unverified `iss`; the signature is then checked with that issuer's keys only
 * (signature.ts: jose picks the key, node:crypto checks it), and every claim is read from the
 * verified payload (jwt-claims.ts, then the access-token rules here). jose's errors are translated
 * here, at this one boundary, into the gateway's codes; no `detail` ever quotes the token.
 *
 * Hot path: a token verified in the last minute is served from the verified-token cache
 * (token-cache.ts) for the cost of one map lookup. Otherwise, once keys are cached, a request
 * costs two base64url+JSON decodes (header and payload, to pick the issuer), one signature check
 * and, when there is no usable `jti`, one HMAC of the decoded signature (token-fingerprint.ts).
 *
 * Rejections that will not change are remembered the same way (a smaller cache of their own, so
 * junk cannot push out good tokens): a client retrying with an expired token, or a forged one,
 * costs a lookup rather than a signature check each time. A rejection that could turn into an
 * acceptance — a `kid` not fetched yet, `nbf` or `iat` ahead, the IdP unreachable — is never
 * remembered, and an issuer's are forgotten whenever its keys change.
 */
import { createSecretKey } from 'node:crypto';
import { errors, type JWTPayload } from 'jose';
import type { IssuerConfig } from '../config/schema.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import { MAX_TOKEN_LENGTH } from './bearer-token.ts';
import { createIntrospector, type Introspector } from './introspection.ts';
import { createIssuerKeys, type IssuerKeys, type JwksRefreshListener } from './issuer-keys.ts';
import type { ProviderError } from './provider-fetch.ts';
import { type ClaimRules, checkRegisteredClaims } from './jwt-claims.ts';
import { identityFromClaims } from './presets.ts';
import { verifySignature } from './signature.ts';
import { isCanonicalBase64url, opaqueTokenFingerprint, tokenFingerprint } from './token-fingerprint.ts';
import {
  DEFAULT_TOKEN_CACHE_CHARS,
  DEFAULT_TOKEN_CACHE_ENTRIES,
  TokenCache,
  type TokenCacheOptions,
  type TokenCacheStats,
} from './token-cache.ts';
import type { Identity } from './types.ts';

export interface BearerVerifierOptions {
  /** HMAC key for token fingerprints (`tokenId` when a token has no usable `jti`). */
  readonly fingerprintKey: string | Uint8Array;
  readonly onJwksRefresh?: JwksRefreshListener | undefined;
  /** Clock in milliseconds since the epoch, for claims and key caching; `Date.now` by default. */
  readonly now?: (() => number) | undefined;
  /** Time limit of each discovery or JWKS request (default 5 s). */
  readonly fetchTimeoutMs?: number | undefined;
  /** Bounds of the verified-token cache (defaults in token-cache.ts); `false` turns it off. */
  readonly cache?: TokenCacheOptions | false | undefined;
  /** Shares introspection results between replicas (issuers with `introspection`). */
  readonly redis?: { readonly url: string; readonly keyPrefix: string } | undefined;
  readonly onIntrospectionError?: ((issuer: string, error: ProviderError) => void) | undefined;
}

export interface BearerVerifier {
  /**
   * The identity of a bearer token, or a `GatewayError` (401 codes; `SG_ERR_IDP_UNAVAILABLE`, 503,
   * when the issuer's keys were never fetched and cannot be). `allowedIssuers` are config names.
   */
  verify(token: string, allowedIssuers?: readonly string[]): Promise<Identity>;
  /** Every issuer's keys have been fetched at least once (for `/readyz`). */
  isReady(): boolean;
  /** Per issuer: keys fetched at least once, and why the last fetch failed (if it did). */
  issuerStatus(): IssuerStatus[];
  /** Entries, hits and misses of the caches of verified and of rejected tokens. */
  cacheStats(): { readonly verified: TokenCacheStats; readonly rejected: TokenCacheStats };
  /** Fetches keys of every issuer that has none (or stale ones); never throws. */
  warm(): Promise<void>;
  /** An issuer introspects opaque tokens: bearer tokens need not be JWTs. */
  readonly acceptsOpaque: boolean;
  close(): void;
}

export interface IssuerStatus {
  readonly name: string;
  readonly ready: boolean;
  readonly error?: { readonly cause: string; readonly url: string; readonly detail: string } | undefined;
}

interface IssuerEntry {
  readonly config: IssuerConfig;
  readonly keys: IssuerKeys;
  /** With `introspection.tokens: all`: JWTs are introspected too, after local verification. */
  readonly introspector: Introspector | undefined;
  readonly algorithms: ReadonlySet<string>;
  readonly claimRules: ClaimRules;
}

/** Header members that would let a token choose its own key (RFC 8725 §3.10). */
const KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;
/** `typ` values of an access token (RFC 9068 §2.1) or a plain JWT (RFC 7519 §5.1). */
const ACCESS_TOKEN_TYPES = new Set(['jwt', 'application/jwt', 'at+jwt', 'application/at+jwt']);
/** Payload `typ` values Keycloak gives tokens that are not access tokens. */
const NON_ACCESS_PAYLOAD_TYPES = new Set(['id', 'refresh', 'offline', 'logout']);
const SEGMENT = /^[A-Za-z0-9_-]+$/;
const SAFE_JTI = /^[A-Za-z0-9._~:+=-]{1,128}$/;

const invalid = (detail: string, cause?: unknown): GatewayError =>
  new GatewayError('SG_ERR_INVALID_TOKEN', detail, cause === undefined ? {} : { cause });

/** Refusals that the same token may not get later (time passing): never remembered. */
const notYet = new WeakSet<object>();

/**
 * Whether a failed verification would fail the same way for the same token bytes as long as the
 * issuer's keys stay as they are. Anything not known to be lasting is treated as passing.
 */
function isLasting(error: unknown): boolean {
  if (isGatewayError(error)) return error.code !== 'SG_ERR_IDP_UNAVAILABLE' && !notYet.has(error);
  if (error instanceof errors.JWTClaimValidationFailed) return error.claim !== 'nbf' && error.claim !== 'iat';
  return (
    error instanceof errors.JWSSignatureVerificationFailed ||
    error instanceof errors.JWTExpired ||
    error instanceof errors.JOSEAlgNotAllowed ||
    error instanceof errors.JOSENotSupported ||
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid
  );
}

/** UTF-8 that does not decode is refused, as jose refuses it (RFC 7515 §5.2 step 3). */
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeSegment(segment: string | undefined, what: string): Record<string, unknown> {
  if (segment === undefined || !SEGMENT.test(segment)) throw invalid(`malformed token ${what}`);
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    throw invalid(`token ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`token ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Three base64url segments whose first is a JSON object with an `alg`: a JWS, not an opaque token. */
function looksLikeJws(parts: readonly string[]): boolean {
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p))) return false;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

/** Without the payload: jose's claim errors carry it, and logs must not. */
function claimCause(error: errors.JWTClaimValidationFailed | errors.JWTExpired): Error {
  return new Error(`${error.code}: ${error.message}`);
}

/** The one mapping from jose (and anything unexpected) to the gateway's codes. */
function toGatewayError(error: unknown): GatewayError {
  if (isGatewayError(error)) return error;
  if (error instanceof errors.JWTExpired) {
    return new GatewayError('SG_ERR_TOKEN_EXPIRED', 'token has expired', { cause: claimCause(error) });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const cause = claimCause(error);
    if (error.claim === 'aud') {
      return new GatewayError('SG_ERR_WRONG_AUDIENCE', 'token audience is not accepted', { cause });
    }
    if (error.claim === 'iss') {
      return new GatewayError('SG_ERR_WRONG_ISSUER', 'token issuer is not accepted', { cause });
    }
    const problem = error.reason === 'missing' ? 'is missing' : 'is not valid';
    return invalid(`token claim "${error.claim}" ${problem}`, cause);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return invalid('signature verification failed', error);
  if (error instanceof errors.JWKSNoMatchingKey)
    return invalid('no key of the issuer matches the token', error);
  if (error instanceof errors.JOSEAlgNotAllowed) return invalid('token algorithm is not allowed', error);
  if (error instanceof errors.JOSENotSupported) return invalid('token uses an unsupported feature', error);
  return invalid('malformed token', error);
}

/** Claims an access token must satisfy beyond the registered ones (RFC 9068 §4, RFC 8725 §3.11). */
function checkVerifiedPayload(payload: JWTPayload, entry: IssuerEntry, nowSeconds: number): void {
  if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid('token claim "sub" is not valid');
  if (typeof payload.iat === 'number' && payload.iat > nowSeconds + entry.claimRules.skewSeconds) {
    const error = invalid('token claim "iat" is in the future');
    notYet.add(error);
    throw error;
  }
  const typ = payload['typ'];
  if (
    Object.hasOwn(payload, 'nonce') ||
    Object.hasOwn(payload, 'at_hash') ||
    Object.hasOwn(payload, 'c_hash') ||
    (typeof typ === 'string' && NON_ACCESS_PAYLOAD_TYPES.has(typ.toLowerCase()))
  ) {
    throw invalid('not an access token (ID, refresh or logout token)');
  }
}

/** Routes may restrict issuers (`routes[].issuers`); checked on every request, cached or not. */
function checkIssuerAllowed(identity: Identity, allowedIssuers: readonly string[] | undefined): void {
  if (allowedIssuers && !allowedIssuers.includes(identity.issuer)) {
    throw new GatewayError('SG_ERR_WRONG_ISSUER', 'token issuer is not accepted on this route');
  }
}

export function createBearerVerifier(
  issuers: readonly IssuerConfig[],
  options: BearerVerifierOptions,
): BearerVerifier {
  const now = options.now ?? Date.now;
  const fingerprintKey = createSecretKey(
    typeof options.fingerprintKey === 'string' ? Buffer.from(options.fingerprintKey) : options.fingerprintKey,
  );
  const cacheOptions = options.cache === false ? { maxEntries: 0 } : (options.cache ?? {});
  const cache = new TokenCache<Identity>(cacheOptions);
  const rejections = new TokenCache<GatewayError>({
    ...cacheOptions,
    maxEntries: Math.ceil((cacheOptions.maxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES) / 4),
    maxChars: Math.ceil((cacheOptions.maxChars ?? DEFAULT_TOKEN_CACHE_CHARS) / 4),
  });
  const byIss = new Map<string, IssuerEntry>();
  const allAlgorithms = new Set<string>();
  /** The one issuer that introspects opaque tokens (the config allows one at most). */
  let opaque: { readonly config: IssuerConfig; readonly introspector: Introspector } | undefined;
  const introspectors: Introspector[] = [];
  for (const config of issuers) {
    if (byIss.has(config.issuer)) {
      throw new TypeError(
        `issuers "${byIss.get(config.issuer)!.config.name}" and "${config.name}" share one iss`,
      );
    }
    for (const alg of config.algorithms) allAlgorithms.add(alg);
    const introspector = config.introspection
      ? createIntrospector(config, {
          redis: options.redis,
          now: options.now,
          onError: (error) => options.onIntrospectionError?.(config.name, error),
        })
      : undefined;
    if (introspector) {
      introspectors.push(introspector);
      opaque ??= { config, introspector };
    }
    byIss.set(config.issuer, {
      config,
      introspector: config.introspection?.tokens === 'all' ? introspector : undefined,
      keys: createIssuerKeys(config, {
        onRefresh: options.onJwksRefresh,
        now: options.now,
        fetchTimeoutMs: options.fetchTimeoutMs,
        onKeysChanged: (removedKids) => {
          cache.dropKeys(config.name, removedKids);
          rejections.dropIssuer(config.name);
        },
      }),
      algorithms: new Set(config.algorithms),
      claimRules: Object.freeze({
        issuer: config.issuer,
        audiences: Object.freeze([...config.audiences]),
        skewSeconds: config.clockSkewSeconds,
      }),
    });
  }
  const entries = [...byIss.values()];

  /** An opaque token (not a JWS): the introspecting issuer says whether it is active, and whose. */
  async function introspectOpaque(token: string, allowedIssuers?: readonly string[]): Promise<Identity> {
    if (!opaque) throw invalid('token is not a compact JWS');
    // Never sent to an issuer the route does not accept.
    if (allowedIssuers && !allowedIssuers.includes(opaque.config.name)) {
      throw new GatewayError('SG_ERR_WRONG_ISSUER', 'token issuer is not accepted on this route');
    }
    const claims = await opaque.introspector.introspect(token);
    const tokenId = typeof claims.jti === 'string' && SAFE_JTI.test(claims.jti) ? claims.jti : opaqueTokenFingerprint(fingerprintKey, token);
    return Object.freeze(identityFromClaims(opaque.config, claims, 'bearer', tokenId));
  }

  /** With `tokens: all`, a verified JWT must also still be active at its issuer (not revoked). */
  async function checkActive(identity: Identity, token: string): Promise<void> {
    const entry = byIss.get(identity.iss);
    if (entry?.introspector) await entry.introspector.introspect(token);
  }

  async function verifyToken(token: string, allowedIssuers?: readonly string[]): Promise<Identity> {
    if (typeof token !== 'string') throw invalid('token is not a string');
    if (token.length > MAX_TOKEN_LENGTH) throw invalid('token too large');
    const parts = token.split('.');
    if (opaque && !looksLikeJws(parts)) return introspectOpaque(token, allowedIssuers);
    if (parts.length !== 3) throw invalid('token is not a compact JWS');
    // One token, one spelling: base64url's spare bits would give each signature 4 or 16 (RFC
    // 4648 §3.5), each verifying, each cached and audited on its own.
    if (!parts.every(isCanonicalBase64url)) throw invalid('token is not canonical base64url');
    const header = decodeSegment(parts[0], 'header');
    for (const member of KEY_HEADERS) {
      if (Object.hasOwn(header, member)) throw invalid(`token header "${member}" is not accepted`);
    }
    const alg = header['alg'];
    if (typeof alg !== 'string' || !allAlgorithms.has(alg)) throw invalid('token algorithm is not allowed');
    if (header['kid'] !== undefined && typeof header['kid'] !== 'string')
      throw invalid('token "kid" is not a string');
    const typ = header['typ'];
    if (typ !== undefined && (typeof typ !== 'string' || !ACCESS_TOKEN_TYPES.has(typ.toLowerCase()))) {
      throw invalid('token "typ" is not JWT or at+jwt');
    }
    // Decoded once: the issuer is picked from it, and once the signature holds it is the claims.
    const payload: JWTPayload = decodeSegment(parts[1], 'payload');
    const { iss } = payload;
    const entry = typeof iss === 'string' ? byIss.get(iss) : undefined;
    if (!entry) throw new GatewayError('SG_ERR_WRONG_ISSUER', 'token issuer is not configured');
    if (!entry.algorithms.has(alg)) throw invalid('token algorithm is not allowed for its issuer');

    const nowSeconds = Math.floor(now() / 1000);
    const keysGeneration = entry.keys.generation;
    try {
      await verifySignature(parts, header, entry.keys);
      checkRegisteredClaims(payload, entry.claimRules, nowSeconds);
      checkVerifiedPayload(payload, entry, nowSeconds);
    } catch (error) {
      // Only what cost a signature check is worth remembering; the checks above are cheaper.
      if (isLasting(error) && entry.keys.generation === keysGeneration) {
        const origin = { issuer: entry.config.name, kid: '', expMs: Number.POSITIVE_INFINITY };
        rejections.set(token, toGatewayError(error), origin, now());
      }
      throw error;
    }
    const jti = payload.jti;
    const tokenId =
      typeof jti === 'string' && SAFE_JTI.test(jti) ? jti : tokenFingerprint(fingerprintKey, alg, parts[2]!);
    // Shared by every request that presents this token while it is cached: nobody may change it.
    const identity = Object.freeze(identityFromClaims(entry.config, payload, 'bearer', tokenId));
    // A key removed while this verification ran may be the one that verified it: not cached then.
    if (entry.keys.generation === keysGeneration) {
      const kid = typeof header['kid'] === 'string' ? header['kid'] : '';
      cache.set(
        token,
        identity,
        { issuer: entry.config.name, kid, expMs: (payload.exp as number) * 1000 },
        now(),
      );
    }
    checkIssuerAllowed(identity, allowedIssuers);
    await checkActive(identity, token);
    return identity;
  }

  return {
    async verify(token, allowedIssuers) {
      try {
        if (typeof token === 'string') {
          const nowMs = now();
          const cached = cache.get(token, nowMs);
          if (cached) {
            checkIssuerAllowed(cached, allowedIssuers);
            await checkActive(cached, token);
            return cached;
          }
          const rejected = rejections.get(token, nowMs);
          if (rejected) throw rejected;
        }
        return await verifyToken(token, allowedIssuers);
      } catch (error) {
        throw toGatewayError(error);
      }
    },
    isReady: () => entries.every((e) => e.keys.isReady()),
    issuerStatus: () =>
      entries.map((e) => {
        const error = e.keys.lastError();
        return {
          name: e.config.name,
          ready: e.keys.isReady(),
          error: error && { cause: error.kind, url: error.url, detail: error.message },
        };
      }),
    cacheStats: () => ({ verified: cache.stats(), rejected: rejections.stats() }),
    acceptsOpaque: opaque !== undefined,
    async warm() {
      await Promise.all(entries.map((e) => e.keys.warm()));
    },
    close() {
      cache.clear();
      rejections.clear();
      for (const e of entries) e.keys.close();
      for (const introspector of introspectors) void introspector.close();
    },
  };
}
