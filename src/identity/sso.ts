/**
 * The browser login flow against the `sso` issuer, on openid-client (a certified OpenID Relying
 * Party library): discovery, the authorization code flow with PKCE S256 (RFC 7636), `state`,
 * `nonce` (OIDC Core §3.1.2.1), the authorization response's `iss` (RFC 9207, checked by
 * openid-client whenever the IdP sends it or advertises it), code exchange, refresh (RFC 6749
 * §6), revocation (RFC 7009) and RP-initiated logout (OIDC RP-Initiated Logout 1.0). Everything
 * else about sessions lives in `sessions/`.
 *
 * Checked here beyond openid-client:
 * - the discovery document's `issuer` equals the configured issuer exactly, as for bearer tokens
 *   (OIDC Discovery 1.0 §4.3; openid-client compares them as URLs, so `https://idp` and
 *   `https://idp/` would pass discovery and fail only after the user logged in);
 * - the ID token's signature, with the issuer's own keys and only an algorithm of its allow-list.
 *   openid-client validates the ID token's claims (`iss`, `aud`, `exp`, `nonce`) but, as OIDC
 *   Core §3.1.3.7 permits for a token received over TLS from the token endpoint, not its
 *   signature, and it accepts any algorithm the IdP advertises (HS256 among them at Keycloak).
 *
 * One mapping from openid-client's errors to the catalog (`toGatewayError`): a refused login is a
 * 400 `SG_ERR_LOGIN_FAILED`, a refused refresh token means the session is over (401
 * `SG_ERR_TOKEN_EXPIRED`), and an IdP that cannot be reached is a 503 `SG_ERR_IDP_UNAVAILABLE`.
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import type { IssuerConfig } from '../config/schema.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import type { IssuerKeys } from './issuer-keys.ts';
import {
  createProviderFetch,
  discoveryUrl,
  fetchDiscovery,
  fetchProviderJson,
  issuerMismatch,
  ProviderError,
  toProviderError,
} from './provider-fetch.ts';

export interface SsoClientOptions {
  readonly issuer: IssuerConfig;
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly scopes: readonly string[];
  /** `<publicUrl>/.stepgate/callback`, registered at the IdP. */
  readonly redirectUri: string;
  /** Seconds per request to the IdP (default 5). */
  readonly timeoutSeconds?: number;
  /** The issuer's signing keys: ID tokens are verified with these. */
  readonly keys: IssuerKeys;
  /** Told when discovery fails (logs, per issuer). */
  readonly onDiscoveryError?: ((error: ProviderError) => void) | undefined;
}

/** What must survive, in the browser, between the redirect to the IdP and the callback. */
export interface LoginChecks {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

export interface TokenSet {
  readonly accessToken: string;
  readonly refreshToken?: string | undefined;
  readonly idToken?: string | undefined;
  /** `expires_in` of the token response, in seconds. */
  readonly expiresIn?: number | undefined;
  /** The validated ID token's claims (signature and algorithm, `iss`, `aud`, `exp`, `nonce` checked). */
  readonly idClaims?: { readonly sub: string; readonly sid?: string | undefined } | undefined;
}

export interface SsoClient {
  /** The IdP's authorization URL for a new login, and the checks its callback must pass. */
  beginLogin(): Promise<{ url: URL; checks: LoginChecks }>;
  /** Exchanges the code of a callback URL, after checking `state`, `iss`, then `nonce` and PKCE. */
  completeLogin(callbackUrl: URL, checks: LoginChecks): Promise<TokenSet>;
  /** A refresh token grant; `SG_ERR_TOKEN_EXPIRED` when the IdP refuses it (`invalid_grant`). */
  refresh(refreshToken: string): Promise<TokenSet>;
  /** Revokes a refresh token where the IdP offers revocation; never throws. */
  revoke(refreshToken: string): Promise<void>;
  /** The IdP's logout URL (with `id_token_hint`), or `undefined` when it has none. */
  endSessionUrl(params: {
    idTokenHint?: string | undefined;
    postLogoutRedirectUri: string;
    state?: string;
  }): Promise<URL | undefined>;
}

const INVALID_GRANT = 'invalid_grant';
const REACHABLE_FOR_MS = 10_000;

function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return true;
    if (e instanceof TypeError && e.message === 'fetch failed') return true;
  }
  return false;
}

/** The one mapping from openid-client to the catalog; details never carry token contents. */
export function toGatewayError(err: unknown, during: 'login' | 'refresh' | 'discovery'): GatewayError {
  if (isGatewayError(err)) return err;
  if (isNetworkError(err)) {
    return new GatewayError('SG_ERR_IDP_UNAVAILABLE', 'the identity provider cannot be reached', {
      cause: err,
    });
  }
  if (err instanceof oidc.ResponseBodyError) {
    if (during === 'refresh' && err.error === INVALID_GRANT) {
      return new GatewayError('SG_ERR_TOKEN_EXPIRED', 'session expired: the identity provider ended it', {
        cause: err,
      });
    }
    if (during === 'login' && err.status < 500) {
      return new GatewayError(
        'SG_ERR_LOGIN_FAILED',
        `the identity provider refused the login (${err.error})`,
        {
          cause: err,
        },
      );
    }
    return new GatewayError('SG_ERR_IDP_UNAVAILABLE', `the identity provider answered ${err.error}`, {
      cause: err,
    });
  }
  if (err instanceof oidc.AuthorizationResponseError) {
    return new GatewayError('SG_ERR_LOGIN_FAILED', `the identity provider answered ${err.error}`, {
      cause: err,
    });
  }
  if (during === 'login' && err instanceof oidc.ClientError) {
    // oauth4webapi's own message names the check that failed ('unexpected ID Token "nonce"
    // claim value', 'response parameter "iss" missing'); neither carries a value.
    const why = err.cause instanceof Error ? err.cause.message : err.message;
    return new GatewayError('SG_ERR_LOGIN_FAILED', `login response refused: ${why}`, { cause: err });
  }
  // A discovery document or token response that is not what the spec says: the IdP is broken.
  return new GatewayError('SG_ERR_IDP_UNAVAILABLE', 'the identity provider answered unexpectedly', {
    cause: err,
  });
}

function tokenSet(response: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): TokenSet {
  const claims = response.claims();
  return {
    accessToken: response.access_token,
    refreshToken: response.refresh_token,
    idToken: response.id_token,
    expiresIn: response.expiresIn(),
    idClaims: claims
      ? { sub: claims.sub, sid: typeof claims['sid'] === 'string' ? claims['sid'] : undefined }
      : undefined,
  };
}

/** Refuses an ID token unless its algorithm is allowed and its signature is the issuer's. */
async function verifyIdToken(idToken: string | undefined, options: SsoClientOptions): Promise<void> {
  const { issuer } = options;
  if (!idToken) throw new GatewayError('SG_ERR_LOGIN_FAILED', 'the identity provider sent no ID token');
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(idToken).alg;
  } catch (err) {
    throw new GatewayError('SG_ERR_LOGIN_FAILED', 'the ID token is malformed', { cause: err });
  }
  if (typeof alg !== 'string' || !(issuer.algorithms as readonly string[]).includes(alg)) {
    throw new GatewayError(
      'SG_ERR_LOGIN_FAILED',
      `the ID token is signed with ${String(alg)}, which issuer "${issuer.name}" does not allow ` +
        `(issuers[].algorithms: ${issuer.algorithms.join(', ')})`,
    );
  }
  try {
    await jwtVerify(idToken, options.keys.resolve, {
      algorithms: [...issuer.algorithms],
      issuer: issuer.issuer,
      audience: options.clientId,
      clockTolerance: issuer.clockSkewSeconds,
    });
  } catch (err) {
    if (isGatewayError(err)) throw err;
    const why = err instanceof joseErrors.JWSSignatureVerificationFailed ? 'its signature does not verify' : 'it is not valid';
    throw new GatewayError('SG_ERR_LOGIN_FAILED', `the ID token was refused: ${why}`, { cause: err });
  }
}

export function createSsoClient(options: SsoClientOptions): SsoClient {
  const issuerUrl = new URL(options.issuer.issuer);
  const timeout = options.timeoutSeconds ?? 5;
  const scope = options.scopes.join(' ');
  const fetchFn = createProviderFetch(options.issuer.caFile);
  let configuration: Promise<oidc.Configuration> | undefined;

  /**
   * Why discovery failed, in the words the bearer side uses: openid-client's own errors (an
   * issuer it compares as a URL, a document it refuses) are explained by fetching the document
   * the gateway's way.
   */
  const discoveryFailed = async (err: unknown): Promise<GatewayError> => {
    let failure = err instanceof ProviderError ? err : toProviderError(err, discoveryUrl(options.issuer.issuer));
    if (!(err instanceof ProviderError) && !isNetworkError(err)) {
      failure = await fetchDiscovery(fetchFn, options.issuer.issuer, AbortSignal.timeout(timeout * 1000)).then(
        () => failure,
        (explained: unknown) => (explained instanceof ProviderError ? explained : failure),
      );
    }
    options.onDiscoveryError?.(failure);
    return new GatewayError('SG_ERR_IDP_UNAVAILABLE', `sign-in is unavailable: ${failure.message}`, { cause: err });
  };

  /** Discovery on first use, kept once it succeeded; a failure is retried by the next login. */
  function discover(): Promise<oidc.Configuration> {
    configuration ??= oidc
      .discovery(issuerUrl, options.clientId, options.clientSecret, undefined, {
        timeout,
        [oidc.customFetch]: (url: string, init: oidc.CustomFetchOptions) =>
          fetchFn(url, init as RequestInit),
        // Plain http only on loopback: the config schema refuses it elsewhere.
        ...(issuerUrl.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch(async (err: unknown) => {
        throw await discoveryFailed(err);
      })
      .then(async (config) => {
        const mismatch = issuerMismatch(options.issuer.issuer, config.serverMetadata().issuer);
        if (mismatch) {
          throw await discoveryFailed(new ProviderError('issuer_mismatch', discoveryUrl(options.issuer.issuer), mismatch));
        }
        config.timeout = timeout;
        answeredAt = Date.now();
        return config;
      })
      .catch((err: unknown) => {
        configuration = undefined;
        throw err;
      });
    return configuration;
  }

  /**
   * Before a browser is sent to the IdP, the IdP must answer (its discovery document, at most
   * every 10 s): a stopped IdP is a page here saying so, not a browser error at an address the
   * person cannot do anything about.
   */
  let answeredAt = Number.NEGATIVE_INFINITY;
  async function checkReachable(): Promise<void> {
    if (Date.now() - answeredAt < REACHABLE_FOR_MS) return;
    try {
      await fetchProviderJson(fetchFn, discoveryUrl(options.issuer.issuer), AbortSignal.timeout(timeout * 1000));
    } catch (err) {
      throw await discoveryFailed(err);
    }
    answeredAt = Date.now();
  }

  return {
    async beginLogin() {
      const config = await discover();
      await checkReachable();
      const checks = {
        state: oidc.randomState(),
        nonce: oidc.randomNonce(),
        codeVerifier: oidc.randomPKCECodeVerifier(),
      };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: options.redirectUri,
        scope,
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      });
      return { url, checks };
    },

    async completeLogin(callbackUrl, checks) {
      const config = await discover();
      try {
        const response = await oidc.authorizationCodeGrant(config, callbackUrl, {
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          pkceCodeVerifier: checks.codeVerifier,
          idTokenExpected: true,
        });
        await verifyIdToken(response.id_token, options);
        return tokenSet(response);
      } catch (err) {
        throw toGatewayError(err, 'login');
      }
    },

    async refresh(refreshToken) {
      const config = await discover();
      try {
        return tokenSet(await oidc.refreshTokenGrant(config, refreshToken));
      } catch (err) {
        throw toGatewayError(err, 'refresh');
      }
    },

    async revoke(refreshToken) {
      try {
        const config = await discover();
        if (!config.serverMetadata().revocation_endpoint) return;
        await oidc.tokenRevocation(config, refreshToken, { token_type_hint: 'refresh_token' });
      } catch {
        // Best effort: the session is gone here either way.
      }
    },

    async endSessionUrl({ idTokenHint, postLogoutRedirectUri, state }) {
      const config = await discover();
      if (!config.serverMetadata().end_session_endpoint) return undefined;
      return oidc.buildEndSessionUrl(config, {
        ...(idTokenHint ? { id_token_hint: idTokenHint } : { client_id: options.clientId }),
        post_logout_redirect_uri: postLogoutRedirectUri,
        ...(state ? { state } : {}),
      });
    },
  };
}
