/**
 * The session manager on a fake clock, with a fake IdP and verifier: idle and absolute
 * time-outs, when a refresh happens (and how often), what a refused refresh or an IdP outage
 * does, and the checks at login.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../../../src/errors.ts';
import { identityFromClaims } from '../../../src/identity/presets.ts';
import { parseCookies } from '../../../src/identity/sessions/cookies.ts';
import { createCookieSessionStore } from '../../../src/identity/sessions/cookie-store.ts';
import { createSessionManager, type SessionState } from '../../../src/identity/sessions/manager.ts';
import { createSealer, deriveKey } from '../../../src/identity/sessions/seal.ts';
import { SessionStoreUnavailable, type SessionStore } from '../../../src/identity/sessions/types.ts';
import type { TokenSet } from '../../../src/identity/sso.ts';
import type { BearerVerifier } from '../../../src/identity/verify-bearer.ts';
import { issuerConfig } from '../../support/issuer.ts';

const ISSUER = issuerConfig({ name: 'kc', issuer: 'https://sso.example.com', preset: 'keycloak' });

/** Tokens are `at.<sub>.<exp seconds>.<n>`; the verifier reads them back (or refuses `bad`). */
function fakeVerifier(clock: { now: number }): Pick<BearerVerifier, 'verify'> {
  return {
    async verify(token, allowed) {
      if (allowed && !allowed.includes('kc')) throw new GatewayError('SG_ERR_WRONG_ISSUER');
      const [kind, sub, exp] = token.split('.');
      if (kind === 'aud') throw new GatewayError('SG_ERR_WRONG_AUDIENCE', 'token audience is not accepted');
      if (kind !== 'at') throw new GatewayError('SG_ERR_INVALID_TOKEN');
      if (Number(exp) * 1000 + 30_000 < clock.now) throw new GatewayError('SG_ERR_TOKEN_EXPIRED');
      return identityFromClaims(
        ISSUER,
        { iss: ISSUER.issuer, sub, exp: Number(exp), scope: 'a b' },
        'bearer',
        token,
      );
    },
  };
}

function setup(
  options: {
    refresh?: (rt: string) => Promise<TokenSet>;
    store?: SessionStore;
    ttl?: number;
    idle?: number;
  } = {},
) {
  const clock = { now: Date.UTC(2026, 0, 1) };
  let n = 0;
  const tokens = (sub = 'alice', lifetime = 300): TokenSet => ({
    accessToken: `at.${sub}.${Math.floor(clock.now / 1000) + lifetime}.${n++}`,
    refreshToken: `rt.${n}`,
    idToken: 'id',
    expiresIn: lifetime,
    idClaims: { sub, sid: 'sid-1' },
  });
  const refreshes: string[] = [];
  const manager = createSessionManager({
    store: options.store ?? createCookieSessionStore({ now: () => clock.now }),
    sso: {
      refresh: async (rt) => {
        refreshes.push(rt);
        return options.refresh ? options.refresh(rt) : tokens();
      },
    },
    verifier: fakeVerifier(clock),
    issuer: 'kc',
    sealer: createSealer(deriveKey('s'.repeat(32), 'session cookie v1')),
    ttlSeconds: options.ttl ?? 8 * 3600,
    idleSeconds: options.idle ?? 3600,
    now: () => clock.now,
  });
  /** A browser: keeps whatever cookies the manager sets. */
  let jar = new Map<string, string>();
  const apply = (setCookie: readonly string[]) => {
    const next = new Map(jar);
    for (const c of setCookie) {
      const [pair] = c.split(';');
      const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
      if (c.includes('Max-Age=0')) next.delete(name);
      else next.set(name, value);
    }
    jar = next;
  };
  return {
    clock,
    tokens,
    refreshes,
    manager,
    async login(set = tokens()) {
      const started = await manager.start(set, jar);
      apply(started.setCookie);
      return started;
    },
    async request(): Promise<SessionState> {
      const state = await manager.resume(parseCookies([...jar].map(([k, v]) => `${k}=${v}`).join('; ')));
      if (state.kind !== 'none') apply(state.setCookie);
      return state;
    },
    advance(seconds: number) {
      clock.now += seconds * 1000;
    },
  };
}

const codeOf = (state: SessionState) => (state.kind === 'ended' ? state.error.code : state.kind);

describe('session manager', () => {
  it('turns a session into a session identity with the token’s scopes', async () => {
    const s = setup();
    await s.login();
    const state = await s.request();
    assert.equal(state.kind, 'active');
    if (state.kind !== 'active') return;
    assert.equal(state.identity.authMethod, 'session');
    assert.deepEqual(state.identity.scopes, ['a', 'b']);
    assert.equal(state.record.sid, 'sid-1');
  });

  it('ends a session after the idle time-out, and keeps an active one alive', async () => {
    const s = setup({ idle: 600 });
    await s.login();
    for (let i = 0; i < 10; i++) {
      s.advance(400);
      assert.equal((await s.request()).kind, 'active', `request ${i}`);
    }
    s.advance(601);
    assert.equal(codeOf(await s.request()), 'SG_ERR_TOKEN_EXPIRED');
  });

  it('ends a session at the absolute time-out, however active', async () => {
    const s = setup({ ttl: 3600, idle: 1800 });
    await s.login();
    for (let i = 0; i < 5; i++) {
      s.advance(700);
      assert.equal((await s.request()).kind, 'active');
    }
    s.advance(200);
    assert.equal(codeOf(await s.request()), 'SG_ERR_TOKEN_EXPIRED');
  });

  it('refreshes a minute before expiry, not before, and once', async () => {
    const s = setup();
    await s.login();
    s.advance(230);
    await s.request();
    assert.equal(s.refreshes.length, 0);
    s.advance(20); // 50 s left
    const [a, b, c] = await Promise.all([s.request(), s.request(), s.request()]);
    assert.equal(s.refreshes.length, 1);
    for (const state of [a, b, c]) assert.equal(state.kind, 'active');
    await s.request();
    assert.equal(s.refreshes.length, 1, 'the new token is good for a while');
  });

  it('ends the session when the IdP refuses the refresh token', async () => {
    const s = setup({
      refresh: async () => {
        throw new GatewayError('SG_ERR_TOKEN_EXPIRED', 'session expired: the identity provider ended it');
      },
    });
    await s.login();
    s.advance(299);
    assert.equal(codeOf(await s.request()), 'SG_ERR_TOKEN_EXPIRED');
  });

  it('rides out an IdP outage while the token is valid, then answers 503', async () => {
    const s = setup({
      refresh: async () => {
        throw new GatewayError('SG_ERR_IDP_UNAVAILABLE');
      },
    });
    await s.login();
    s.advance(280);
    assert.equal((await s.request()).kind, 'active');
    s.advance(30);
    await assert.rejects(
      s.request(),
      (err) => err instanceof GatewayError && err.code === 'SG_ERR_IDP_UNAVAILABLE',
    );
  });

  it('refuses a login whose tokens disagree or are not for this gateway', async () => {
    const s = setup();
    await assert.rejects(
      s.login({ ...s.tokens('alice'), idClaims: { sub: 'mallory' } }),
      (err) =>
        err instanceof GatewayError &&
        err.code === 'SG_ERR_LOGIN_FAILED' &&
        /different subjects/.test(err.detail),
    );
    await assert.rejects(
      s.login({ ...s.tokens(), accessToken: 'aud.alice.1.1' }),
      (err) =>
        err instanceof GatewayError && err.code === 'SG_ERR_LOGIN_FAILED' && /audience/.test(err.detail),
    );
  });

  it('reports a store that cannot answer as a 503', async () => {
    let down = false;
    const store = createCookieSessionStore();
    const flaky: SessionStore = {
      ...store,
      async read(payload) {
        if (down) throw new SessionStoreUnavailable('down');
        return store.read(payload);
      },
      async write(record, expiresAt) {
        if (down) throw new SessionStoreUnavailable('down');
        return store.write(record, expiresAt);
      },
    };
    const s = setup({ store: flaky });
    await s.login();
    down = true;
    const is503 = (err: unknown) =>
      err instanceof GatewayError && err.code === 'SG_ERR_SESSION_STORE_UNAVAILABLE';
    await assert.rejects(s.request(), is503, 'not an ended session: that would send the browser to log in');
    await assert.rejects(s.login(), is503);
  });
});
