import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stepgate, tempDir } from '../support/run-cli.ts';

const KEYCLOAK = 'https://sso.example.com/realms/platform';

async function claimsFile(claims: unknown): Promise<string> {
  const path = join(await tempDir(), 'claims.json');
  await writeFile(path, JSON.stringify(claims));
  return path;
}

/** An unsigned JWT: base64url header and payload, empty signature. explain only decodes it. */
function unsignedToken(payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
}

const explain = (...args: string[]) => stepgate(['explain', '--config', 'config/gateway.yaml', ...args]);

describe('stepgate explain --claims', () => {
  test('allowed → exit 0, prints the route, the caller and the decision', async () => {
    const claims = await claimsFile({
      iss: KEYCLOAK,
      sub: 'alice',
      azp: 'orders-ui',
      scope: 'openid orders:read',
    });
    const result = await explain('--method', 'get', '--path', '/api/orders/42', '--claims', claims);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^request: {2}GET \/api\/orders\/42$/m);
    assert.match(result.stdout, /^route: {4}orders-read \(routes\[0\], target orders\)$/m);
    assert.match(result.stdout, /^caller: {3}keycloak\/alice \(client orders-ui\)$/m);
    assert.match(result.stdout, /^decision: allow \(allowed\)$/m);
    assert.doesNotMatch(result.stdout, /not verified/, 'the token note is for --token only');
  });

  test('a missing scope → exit 1 naming the scope', async () => {
    const claims = await claimsFile({ iss: KEYCLOAK, sub: 'alice', scope: 'openid' });
    const result = await explain('--method', 'GET', '--path', '/api/orders/42', '--claims', claims);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^decision: deny \(insufficient_scope\) — scopes: missing "orders:read"$/m);
  });

  test('no route → exit 1, no_route', async () => {
    const claims = await claimsFile({ iss: KEYCLOAK, sub: 'alice', scope: 'orders:read' });
    const result = await explain('--method', 'GET', '--path', '/api/users/1', '--claims', claims);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^route: {4}\(none\)$/m);
    assert.match(result.stdout, /^decision: deny \(no_route\)$/m);
  });

  test('a refused path (encoded slash) → exit 1, bad_request, no route', async () => {
    const claims = await claimsFile({ iss: KEYCLOAK, sub: 'alice', scope: 'orders:read' });
    const result = await explain('--method', 'GET', '--path', '/api/..%2f', '--claims', claims);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^path: {5}\(refused\)$/m);
    assert.match(result.stdout, /^decision: deny \(bad_request\)/m);
  });

  test('without claims: an anonymous request (public allowed, others missing_token)', async () => {
    const status = await explain('--method', 'GET', '--path', '/public/status');
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^decision: allow \(public\)$/m);
    const orders = await explain('--method', 'GET', '--path', '/api/orders/42');
    assert.equal(orders.code, 1);
    assert.match(orders.stdout, /^decision: deny \(missing_token\)$/m);
  });

  // Regression: `null` in the claims file used to be read as "no claims" (an anonymous request).
  test('a claims file that is not a JSON object → exit 2', async () => {
    for (const claims of [null, ['alice'], 'alice']) {
      const result = await explain(
        '--method',
        'GET',
        '--path',
        '/public/status',
        '--claims',
        await claimsFile(claims),
      );
      assert.equal(result.code, 2, JSON.stringify(claims));
      assert.match(result.stderr, /must be a JSON object/);
      assert.equal(result.stdout, '');
    }
  });

  test('an unreadable claims file → exit 2', async () => {
    const result = await explain(
      '--method',
      'GET',
      '--path',
      '/x',
      '--claims',
      join(await tempDir(), 'nope.json'),
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cannot read the claims in .*nope\.json/);
  });
});

describe('stepgate explain --token', () => {
  test('decodes an unsigned token, says it did not verify it', async () => {
    const token = unsignedToken({
      iss: 'https://acme.okta.com/oauth2/default',
      sub: '00u1bob',
      cid: '0oa1portal',
      scp: ['orders:read'],
      exp: 1,
    });
    const result = await explain('--method', 'GET', '--path', '/api/orders/42', '--token', token);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^caller: {3}okta\/00u1bob \(client 0oa1portal\)$/m);
    assert.match(result.stdout, /^decision: allow \(allowed\)$/m);
    assert.match(result.stdout, /^note: .*decoded, not verified/m);
  });

  test('a github-actions token on a keycloak/okta-only route → wrong_issuer', async () => {
    const token = unsignedToken({
      iss: 'https://token.actions.githubusercontent.com',
      sub: 'repo:acme/app:ref:refs/heads/main',
      repository: 'acme/app',
      ref: 'refs/heads/main',
    });
    const result = await explain('--method', 'GET', '--path', '/api/orders/42', '--token', token);
    assert.equal(result.code, 1);
    assert.match(
      result.stdout,
      /^decision: deny \(wrong_issuer\) — issuer "github" is not one of keycloak, okta$/m,
    );
  });

  test('a string that is not a JWT → exit 2', async () => {
    const result = await explain('--method', 'GET', '--path', '/x', '--token', 'opaque-token');
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cannot decode the token/);
  });
});

describe('stepgate explain usage errors → exit 2 with usage', () => {
  const cases: [string, string[], RegExp][] = [
    ['no --path', ['--method', 'GET'], /explain needs --method and --path/],
    ['no --method', ['--path', '/x'], /explain needs --method and --path/],
    [
      'both --claims and --token',
      ['--method', 'GET', '--path', '/x', '--claims', 'c.json', '--token', 't'],
      /not both/,
    ],
    ['an unknown option', ['--method', 'GET', '--path', '/x', '--verbose'], /Unknown option '--verbose'/],
    ['a stray argument', ['--method', 'GET', '--path', '/x', 'extra'], /unexpected argument "extra"/],
  ];
  for (const [name, args, message] of cases) {
    test(name, async () => {
      const result = await explain(...args);
      assert.equal(result.code, 2);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /usage:\n {2}stepgate serve/);
      assert.equal(result.stdout, '');
    });
  }

  test('an --issuer the config does not name → exit 2 listing the configured ones', async () => {
    const result = await explain('--method', 'GET', '--path', '/api/orders/1', '--issuer', 'keycloack');
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /--issuer: no issuer named "keycloack" \(configured: keycloak, okta, github\)/,
    );
  });
});
