import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpMethod, RouteConfig } from '../../src/config/schema.ts';
import { compileRoutes } from '../../src/policy/routes.ts';

function route(name: string, path: string, methods: HttpMethod[]): RouteConfig {
  return { name, path, methods, target: 't', auth: ['bearer'], public: false, allow: { scopes: ['s'] } };
}

const table = compileRoutes([
  route('order-write', '/api/orders/:id', ['PUT', 'DELETE']),
  route('orders-read', '/api/orders/*', ['GET']),
  route('orders-create', '/api/orders', ['POST']),
  route('head-only', '/probe', ['HEAD']),
  route('exact', '/exact', ['GET', 'POST']),
  route('execution', '/executions/:arn', ['GET']),
  route('nested', '/repos/:owner/:repo/runs/*', ['GET']),
  route('root', '/', ['GET']),
  route('catch-all', '/*', ['OPTIONS']),
]);

/** [method, canonical path, route name | undefined, params]. */
const CASES: readonly (readonly [string, string, string | undefined, Record<string, string>?])[] = [
  ['GET', '/api/orders', 'orders-read'], // `/x/*` also matches `/x`
  ['GET', '/api/orders/', 'orders-read'],
  ['GET', '/api/orders/42', 'orders-read'],
  ['GET', '/api/orders/42/lines/7', 'orders-read'],
  ['HEAD', '/api/orders/42', 'orders-read'], // HEAD is authorized as GET
  ['GET', '/api/ordersx', undefined], // a prefix ends at a segment boundary
  ['GET', '/api/order', undefined],
  ['GET', '/API/orders', undefined], // case-sensitive
  ['PUT', '/api/orders/42', 'order-write', { id: '42' }],
  ['DELETE', '/api/orders/a%20b', 'order-write', { id: 'a%20b' }],
  ['PUT', '/api/orders/42/lines', undefined], // `:id` is one segment
  ['PUT', '/api/orders/', undefined], // `:id` is never empty
  ['PUT', '/api/orders', undefined],
  ['POST', '/api/orders', 'orders-create'],
  ['POST', '/api/orders/42', undefined], // path matches, method does not: later routes tried, none fit
  ['PATCH', '/api/orders/42', undefined],
  ['HEAD', '/probe', 'head-only'],
  ['GET', '/probe', undefined], // a HEAD-only route does not allow GET
  ['GET', '/exact', 'exact'],
  ['HEAD', '/exact', 'exact'],
  ['GET', '/exact/', undefined], // exact means exact
  ['GET', '/exact/x', undefined],
  [
    'GET',
    '/executions/arn:aws:states:us-east-1:1:execution:d:x',
    'execution',
    {
      arn: 'arn:aws:states:us-east-1:1:execution:d:x',
    },
  ],
  ['GET', '/executions/', undefined],
  ['GET', '/repos/acme/app/runs', 'nested', { owner: 'acme', repo: 'app' }],
  ['GET', '/repos/acme/app/runs/1/logs', 'nested', { owner: 'acme', repo: 'app' }],
  ['GET', '/repos/acme/app/runsx', undefined],
  ['GET', '/repos/acme/runs', undefined],
  ['GET', '/', 'root'],
  ['OPTIONS', '/anything/at/all', 'catch-all'],
  ['OPTIONS', '/', 'catch-all'],
  ['GET', '/nothing', undefined],
  ['TRACE', '/api/orders', undefined],
  ['get', '/api/orders', undefined], // methods are case-sensitive (RFC 9110 §9.1)
];

describe('compileRoutes().match', () => {
  for (const [method, path, name, params] of CASES) {
    test(`${method} ${path} → ${name ?? 'no route'}`, () => {
      const match = table.match(method, path);
      assert.equal(match?.route.name, name);
      if (match) {
        assert.equal(match.index, table.routes.indexOf(match.route));
        assert.deepEqual({ ...match.params }, params ?? {});
      }
    });
  }
});

describe('compileRoutes', () => {
  test('first match wins in config order', () => {
    const t = compileRoutes([route('first', '/a/*', ['GET']), route('second', '/a/b', ['GET'])]);
    assert.equal(t.match('GET', '/a/b')?.route.name, 'first');
    assert.equal(t.match('GET', '/a/b')?.index, 0);
  });

  test('a method that does not fit continues to later routes', () => {
    const t = compileRoutes([route('read', '/a/*', ['GET']), route('write', '/a/*', ['POST'])]);
    assert.equal(t.match('POST', '/a/b')?.route.name, 'write');
    assert.equal(t.match('POST', '/a/b')?.index, 1);
  });

  test('params do not reach the prototype', () => {
    const t = compileRoutes([route('p', '/x/:__proto__', ['GET'])]);
    const match = t.match('GET', '/x/polluted');
    assert.equal(Object.getOwnPropertyDescriptor(match?.params, '__proto__')?.value, 'polluted');
    assert.equal(Object.getPrototypeOf(match?.params), null);
  });

  test('a route path the config loader refuses is misuse: TypeError at compile time', () => {
    for (const path of ['/a/*/b', '/a//b', '/a/../b', '/a*']) {
      assert.throws(() => compileRoutes([route('bad', path, ['GET'])]), TypeError, path);
    }
  });
});
