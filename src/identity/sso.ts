/**
 * The browser login flow against the `sso` issuer, on openid-client (a certified OpenID Relying
 * Party library): discovery, the authorization code flow with PKCE S256 (RFC 7636), `state`,
 * `nonce` (OIDC Core §3.1.2.1), the authorization response's `iss` (RFC 9207, checked by
 * openid-client whenever the IdP sends it or advertises it), code exchange with ID token
 * validation, refresh (RFC 6749 §6), revocation (RFC 7009) and RP-initiated logout (OIDC
 * RP-Initiated Logout 1.0). Everything else about sessions lives in `sessions/`.
 *
 * One mapping from openid-client's errors to the catalog (`toGatewayError`): a refused login is a
 * 400 `SG_ERR_LOGIN_FAILED`, a refused refresh token means the session is over (401
 * `SG_ERR_TOKEN_EXPIRED`), and an IdP that cannot be reached is a 503 `SG_ERR_IDP_UNAVAILABLE`.
 */
import * as oidc from 'openid-client';
import type { IssuerConfig } from '../config/schema.ts';
import { GatewayError, isGatewayError } from '../errors.ts';

export interface SsoClientOptions {
  readonly issuer: IssuerConfig;
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly scopes: readonly string[];
  /** `<publicUrl>/.stepgate/callback`, registered at the IdP. */
  readonly redirectUri: string;
  /** Seconds per request to the IdP (default 5). */
  readonly timeoutSeconds?: number;
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
  /** The validated ID token's claims (signature, `iss`, `aud`, `exp`, `nonce` checked). */
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

export function createSsoClient(options: SsoClientOptions): SsoClient {
  const issuerUrl = new URL(options.issuer.issuer);
  const timeout = options.timeoutSeconds ?? 5;
  const scope = options.scopes.join(' ');
  let configuration: Promise<oidc.Configuration> | undefined;

  /** Discovery on first use, kept once it succeeded; a failure is retried by the next login. */
  function discover(): Promise<oidc.Configuration> {
    configuration ??= oidc
      .discovery(issuerUrl, options.clientId, options.clientSecret, undefined, {
        timeout,
        // Plain http only on loopback: the config schema refuses it elsewhere.
        ...(issuerUrl.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .then((config) => {
        config.timeout = timeout;
        return config;
      })
      .catch((err: unknown) => {
        configuration = undefined;
        throw toGatewayError(err, 'discovery');
      });
    return configuration;
  }

  return {
    async beginLogin() {
      const config = await discover();
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
