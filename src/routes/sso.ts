/**
 * Browser SSO endpoints (DESIGN.md "Browser SSO"), gateway-owned like the JWKS: they bypass
 * routing and policy (`config.internal`) but are audited like every request.
 *
 *   GET  /.stepgate/login?rd=        → the IdP (authorization code + PKCE S256, state, nonce)
 *   GET  /.stepgate/callback         → checks, code exchange, a new session → rd
 *   GET  /.stepgate/logout           → a page with a button; POST does it (same-origin only)
 *   POST /.stepgate/logout?rd=       → ends the session here, then at the IdP (id_token_hint)
 *   GET  /.stepgate/logged-out       → where the IdP sends the browser back
 *   GET  /.stepgate/whoami           → the caller's identity as JSON (session or bearer)
 *   GET  /.stepgate/                 → the page: who you are, your recent executions
 *   POST /.stepgate/backchannel-logout → OIDC Back-Channel Logout (Redis store only)
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, isGatewayError } from '../errors.ts';
import { extractBearer } from '../identity/bearer-token.ts';
import type { BrowserSso } from '../identity/sessions/index.ts';
import {
  clearLogin,
  findLogin,
  LOGIN_TTL_SECONDS,
  pruneLogins,
  saveLogin,
} from '../identity/sessions/login-state.ts';
import type { SessionRecord } from '../identity/sessions/types.ts';
import { callerKey, type Identity } from '../identity/types.ts';
import { problemFor } from '../plugins/errors.ts';
import {
  checkOrigin,
  isBrowserNavigation,
  redirectToLogin,
  requestCookies,
  sessionIdentity,
} from '../plugins/session.ts';
import {
  type ExecutionsSource,
  type ExecutionsView,
  pagePolicy,
  renderHomePage,
  renderLoggedOutPage,
  renderLoginFailedPage,
  renderLogoutPage,
} from './sso-page.ts';
import { PATHS, returnPath, SSO_BASE } from './sso-paths.ts';
import { createExecutionsSource } from '../targets/registry.ts';

export interface SsoRoutesOptions {
  readonly sso: BrowserSso;
  readonly sessionTtlSeconds: number;
  readonly sessionIdleSeconds: number;
  /** The caller's recent executions for the page; by default those of the request's targets. */
  readonly executions?: ExecutionsSource | undefined;
  readonly now?: () => number;
}

const RECENT_EXECUTIONS = 10;
const EXECUTIONS_TIMEOUT_MS = 2000;

function query(request: FastifyRequest): URLSearchParams {
  return new URLSearchParams(request.stepgate.search);
}

function html(reply: FastifyReply, policy: string, body: string): FastifyReply {
  return reply
    .header('content-security-policy', policy)
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .type('text/html; charset=utf-8')
    .send(body);
}

function whoamiBody(
  identity: Identity,
  record: SessionRecord | undefined,
  ttlSeconds: number,
  idleSeconds: number,
) {
  const claim = (name: string) =>
    typeof identity.claims[name] === 'string' ? identity.claims[name] : undefined;
  return {
    caller: callerKey(identity),
    issuer: identity.issuer,
    iss: identity.iss,
    sub: identity.sub,
    clientId: identity.clientId ?? null,
    authMethod: identity.authMethod,
    scopes: identity.scopes,
    roles: identity.roles,
    groups: identity.groups,
    email: claim('email') ?? null,
    name: claim('name') ?? null,
    preferredUsername: claim('preferred_username') ?? null,
    tokenExpiresAt: new Date(identity.expiresAt * 1000).toISOString(),
    ...(record
      ? {
          session: {
            createdAt: new Date(record.createdAt).toISOString(),
            expiresAt: new Date(record.createdAt + ttlSeconds * 1000).toISOString(),
            idleExpiresAt: new Date(record.lastSeenAt + idleSeconds * 1000).toISOString(),
          },
        }
      : {}),
  };
}

export default async function ssoRoutes(app: FastifyInstance, options: SsoRoutesOptions): Promise<void> {
  const { sso } = options;
  const now = options.now ?? Date.now;
  const policy = pagePolicy(new URL(sso.issuer.issuer).origin);
  const internal = (name: string) => ({ config: { internal: `sso-${name}` } });

  type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;
  /**
   * A login that fails shows a browser a page saying why (with the code and request id), and
   * gives anything else the problem document; the audit record is the same either way.
   */
  const forBrowsers = (handler: Handler): Handler => async (request, reply) => {
    try {
      return await handler(request, reply);
    } catch (err) {
      if (!isGatewayError(err) || !isBrowserNavigation(request)) throw err;
      request.stepgate.error = err;
      if (err.status >= 500) request.log.warn({ err }, 'browser login failed');
      return html(reply.code(err.status), policy, renderLoginFailedPage(problemFor(err, request.id)));
    }
  };

  app.get(PATHS.login, internal('login'), forBrowsers(async (request, reply) => {
    const rd = returnPath(query(request).get('rd'), sso.origin);
    const { url, checks } = await sso.client.beginLogin();
    reply.header('set-cookie', pruneLogins(sso.loginSealer, requestCookies(request)));
    reply.header(
      'set-cookie',
      saveLogin(sso.loginSealer, { ...checks, rd, expiresAt: now() + LOGIN_TTL_SECONDS * 1000 }),
    );
    reply.header('cache-control', 'no-store');
    return reply.redirect(url.href, 302);
  }));

  app.get(PATHS.callback, internal('callback'), forBrowsers(async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const state = query(request).get('state');
    if (!state) throw new GatewayError('SG_ERR_LOGIN_FAILED', 'the login response carries no state');
    // Whatever happens next, this login attempt is over.
    reply.header('set-cookie', clearLogin(state));
    const cookies = requestCookies(request);
    const login = findLogin(sso.loginSealer, cookies, state, now());
    if (!login) {
      throw new GatewayError(
        'SG_ERR_LOGIN_FAILED',
        'no login in progress for this state: it expired, was completed already, or began in another browser',
      );
    }
    if (!(await sso.consumeOnce(`login-state\0${state}`, LOGIN_TTL_SECONDS))) {
      throw new GatewayError('SG_ERR_LOGIN_FAILED', 'this login response was used already');
    }
    // The URL the IdP redirected to, as registered: openid-client checks state and iss on it.
    const callbackUrl = new URL(`${PATHS.callback}${request.stepgate.search}`, sso.origin);
    const tokens = await sso.client.completeLogin(callbackUrl, login);
    const session = await sso.sessions.start(tokens, cookies);
    request.stepgate.identity = session.identity;
    reply.header('set-cookie', session.setCookie);
    return reply.redirect(`${sso.origin}${returnPath(login.rd, sso.origin)}`, 302);
  }));

  app.get(PATHS.logout, internal('logout'), async (request, reply) => {
    return html(reply, policy, renderLogoutPage(returnPath(query(request).get('rd'), sso.origin)));
  });

  app.post(PATHS.logout, internal('logout'), async (request, reply) => {
    checkOrigin(request, sso.origin);
    const rd = returnPath(query(request).get('rd'), sso.origin);
    const { record, setCookie } = await sso.sessions.end(requestCookies(request));
    reply.header('set-cookie', setCookie).header('cache-control', 'no-store');
    const landing = `${sso.origin}${PATHS.loggedOut}?rd=${encodeURIComponent(rd)}`;
    if (!record) return reply.redirect(landing, 303);
    if (record.refreshToken) void sso.client.revoke(record.refreshToken);
    const idp = await sso.client
      .endSessionUrl({
        idTokenHint: record.idToken,
        postLogoutRedirectUri: `${sso.origin}${PATHS.loggedOut}`,
        state: rd,
      })
      .catch(() => undefined);
    return reply.redirect(idp?.href ?? landing, 303);
  });

  app.get(PATHS.loggedOut, internal('logged-out'), async (request, reply) => {
    const params = query(request);
    let rd: string;
    try {
      // The IdP hands back our `state`; a direct visit may carry `rd`.
      rd = returnPath(params.get('state') ?? params.get('rd'), sso.origin);
    } catch {
      rd = returnPath(undefined, sso.origin);
    }
    return html(reply, policy, renderLoggedOutPage(rd));
  });

  app.get(PATHS.whoami, internal('whoami'), async (request, reply) => {
    reply.header('cache-control', 'no-store');
    let identity: Identity;
    let record: SessionRecord | undefined;
    if (request.headers.authorization !== undefined) {
      identity = await request.stepgate.runtime.verifier.verify(
        extractBearer(request.headers, request.raw.rawHeaders, request.stepgate.search),
      );
    } else {
      const session = await sessionIdentity(request, reply, sso);
      if (!session.identity) throw session.error;
      ({ identity, record } = session);
    }
    request.stepgate.identity = identity;
    return whoamiBody(identity, record, options.sessionTtlSeconds, options.sessionIdleSeconds);
  });

  app.get(SSO_BASE, internal('home'), async (_request, reply) => reply.redirect(PATHS.home, 301));

  app.get(PATHS.home, internal('home'), async (request, reply) => {
    const session = await sessionIdentity(request, reply, sso);
    if (!session.identity) {
      if (isBrowserNavigation(request)) return redirectToLogin(request, reply, PATHS.home, session.error);
      throw session.error;
    }
    request.stepgate.identity = session.identity;
    const source = options.executions ?? createExecutionsSource(request.stepgate.runtime.targets);
    const executions = await listExecutions(source, callerKey(session.identity), sso.origin);
    return html(
      reply,
      policy,
      renderHomePage(session.identity, session.record, options.sessionTtlSeconds, executions),
    );
  });

  const backchannelLogout = sso.backchannelLogout;
  if (backchannelLogout) {
    app.post(PATHS.backchannelLogout, internal('backchannel-logout'), async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const type = request.headers['content-type'] ?? '';
      if (
        !type.toLowerCase().startsWith('application/x-www-form-urlencoded') ||
        !Buffer.isBuffer(request.body)
      ) {
        throw new GatewayError('SG_ERR_BAD_REQUEST', 'expected a form with logout_token');
      }
      const token = new URLSearchParams(request.body.toString('utf8')).get('logout_token');
      if (!token) throw new GatewayError('SG_ERR_BAD_REQUEST', 'expected a form with logout_token');
      const ended = await backchannelLogout(token);
      request.log.info({ ended }, 'back-channel logout');
      return reply.code(200).send();
    });
  }
}

/** A status URL on this gateway, as a path; anything else is not linked. */
function localPath(url: string | undefined, origin: string): string | undefined {
  if (url === undefined) return undefined;
  if (url.startsWith(`${origin}/`)) return url.slice(origin.length);
  return url.startsWith('/') && !url.startsWith('//') ? url : undefined;
}

/** The caller's executions, or why there are none to show; never fails the page. */
async function listExecutions(
  source: ExecutionsSource,
  caller: string,
  origin: string,
): Promise<ExecutionsView> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const items = await Promise.race([
      source.recentExecutions(caller, RECENT_EXECUTIONS),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), EXECUTIONS_TIMEOUT_MS);
      }),
    ]);
    return { kind: 'list', items: items.map((e) => ({ ...e, statusUrl: localPath(e.statusUrl, origin) })) };
  } catch {
    return { kind: 'error' };
  } finally {
    clearTimeout(timer);
  }
}
