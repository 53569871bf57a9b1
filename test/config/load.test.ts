import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfigFile, parseConfig, parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

const minimal = (overrides: Record<string, unknown> = {}) => ({
  issuers: [{ name: 'kc', issuer: 'https://sso.example.com/realms/x', audiences: ['stepgate'] }],
  targets: { orders: { type: 'http', url: 'http://127.0.0.1:3000' } },
  routes: [{ name: 'r', path: '/api/*', target: 'orders', allow: { scopes: ['a'] } }],
  ...overrides,
});

function problems(doc: unknown, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(doc, env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'SG_ERR_CONFIG_INVALID');
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

describe('config', () => {
  it('accepts the example config of the design', () => {
    const config = loadConfigFile('config/gateway.yaml', {});
    assert.equal(config.routes.length, 7);
    assert.equal(config.issuers[0]!.preset, 'keycloak');
    assert.ok(Object.isFrozen(config.routes[0]), 'the config is frozen');
  });

  it('fills named defaults', () => {
    const config = parseConfig(minimal(), {});
    assert.equal(config.server.port, 8080);
    assert.equal(config.admin.host, '127.0.0.1');
    assert.deepEqual(config.routes[0]!.auth, ['bearer']);
    assert.deepEqual(config.routes[0]!.methods, ['GET', 'HEAD']);
    assert.equal(config.audit.failClosed, true);
    assert.ok(config.server.requestTimeoutMs > 0, 'a request time-out is always set');
  });

  it('reports every problem in one pass, each with its key path', () => {
    const found = problems(
      minimal({
        routes: [
          { name: 'r', path: '/api/*', target: 'orders', allow: { scopes: ['a'] } },
          { name: 'typo', path: '/x', target: 'ordres', alow: { scopes: ['a'] } },
          { name: 'r3', path: '/y', target: 'orders', allow: { scopes: ['a'], claimz: {} } },
        ],
      }),
    );
    assert.deepEqual(found, [
      'routes[1].alow: unknown key (did you mean "allow"?)',
      'routes[2].allow.claimz: unknown key (did you mean "claims"?)',
      'routes[1].target: no target named "ordres"',
      'routes[1].allow: is required unless the route is public: nothing is allowed by accident',
    ]);
  });

  it('rejects a dangling target, an unknown issuer and an allow with nothing in it', () => {
    const found = problems(
      minimal({
        routes: [
          { name: 'a', path: '/a', target: 'nope', allow: { scopes: ['x'] } },
          { name: 'b', path: '/b', target: 'orders', issuers: ['okta'], allow: { scopes: ['x'] } },
          { name: 'c', path: '/c', target: 'orders', allow: {} },
          { name: 'd', path: '/d', target: 'orders' },
          { name: 'e', path: '/e', target: 'orders', allow: { anyOf: [{}] } },
        ],
      }),
    );
    assert.deepEqual(found, [
      'routes[0].target: no target named "nope"',
      'routes[1].issuers[0]: no issuer named "okta"',
      'routes[2].allow: must hold at least one condition',
      'routes[3].allow: is required unless the route is public: nothing is allowed by accident',
      'routes[4].allow.anyOf[0]: must hold at least one condition',
    ]);
  });

  it('refuses http issuer URLs except on loopback, none/HS algorithms and empty audiences', () => {
    const found = problems(
      minimal({
        issuers: [
          { name: 'a', issuer: 'http://sso.example.com', audiences: ['s'] },
          {
            name: 'b',
            issuer: 'http://127.0.0.1:8080/realms/x',
            audiences: ['s'],
            jwksUri: 'http://evil.example/jwks',
          },
          { name: 'c', issuer: 'https://c.example', audiences: [], algorithms: ['HS256'] },
          { name: 'd', issuer: 'https://d.example', audiences: ['s'], algorithms: ['none'] },
        ],
      }),
    );
    assert.equal(found.length, 5, found.join('\n'));
    assert.ok(found.includes('issuers[2].audiences: must name at least one audience'));
    assert.ok(found.some((p) => p.startsWith('issuers[2].algorithms[0]:')));
    assert.ok(found.some((p) => p.startsWith('issuers[3].algorithms[0]:')));
    assert.ok(found.includes('issuers[0].issuer: must be https (http only on loopback)'));
    assert.ok(found.includes('issuers[1].jwksUri: must be https (http only on loopback)'));
  });

  it('refuses route paths the normalizer would rewrite', () => {
    const found = problems(
      minimal({ routes: [{ name: 'r', path: '/a/../b', target: 'orders', public: true }] }),
    );
    assert.deepEqual(found, ['routes[0].path: must not hold empty or dot segments']);
    const star = problems(
      minimal({ routes: [{ name: 'r', path: '/a*/b', target: 'orders', public: true }] }),
    );
    assert.deepEqual(star, ['routes[0].path: "*" is allowed only as a trailing "/*"']);
  });

  it('reads ${VAR} and ${VAR:-default}; a missing variable is an error naming its key', () => {
    const text = [
      'server: { port: "${PORT}", publicUrl: "https://${HOST:-gw.example.com}" }',
      'issuers: [{ name: kc, issuer: "${ISSUER}", audiences: [stepgate] }]',
      'targets: { o: { type: http, url: "http://127.0.0.1:1" } }',
      'routes: [{ name: r, path: /a, target: o, allow: { scopes: [x] } }]',
    ].join('\n');
    const config = parseConfigText(text, { PORT: '9999', ISSUER: 'https://sso.example.com' });
    assert.equal(config.server.port, 9999);
    assert.equal(config.server.publicUrl, 'https://gw.example.com');
    assert.throws(
      () => parseConfigText(text, { PORT: '1' }),
      (err: ConfigError) =>
        err.problems.some((p) => p.path === 'issuers[0].issuer' && /ISSUER is not set/.test(p.message)),
    );
  });

  it('cannot be injected through a variable', () => {
    const text =
      'targets: { o: { type: http, url: "http://127.0.0.1:1" } }\nroutes: []\naudit: { claims: ["${C}"] }';
    const evil = 'email"]\nroutes: [{ name: evil, path: /, target: o, public: true }]';
    const config = parseConfigText(text, { C: evil });
    assert.equal(config.routes.length, 0);
    assert.deepEqual(config.audit.claims, [evil]);
    assert.throws(() => parseConfigText('a: [', {}), /not valid YAML/);
  });
});
