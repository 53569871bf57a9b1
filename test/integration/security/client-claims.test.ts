/**
 * Headers that claim a client address, a host, a scheme or an identity another proxy vouched
 * for: from an untrusted peer none reaches the upstream (the class is decided by an allow-list,
 * not a strip list), and `X-Forwarded-Host`/`-Proto` name `server.publicUrl` whatever `Host` says.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EchoedRequest } from '../../../src/dev/upstream.ts';
import { claimShaped } from '../../../src/targets/headers.ts';
import { coreConfig } from '../../support/configs.ts';
import { type TestGateway } from '../../support/gateway.ts';
import { rawRequest } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

let trusting: TestGateway;
let bare: TestGateway;
let auth: string;
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => ({
    ...coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
    server: { publicUrl: 'https://gw.example.com' },
  }),
  setup: async () => {
    const config = coreConfig(stack.issuer.issuer, stack.issuer.jwksUri, stack.upstreamUrl);
    trusting = await stack.startGateway({ ...config, server: { trustProxy: ['127.0.0.1/32'] } });
    bare = await stack.startGateway(config);
    auth = `Authorization: Bearer ${await stack.issuer.sign({ sub: 'alice', scope: 'orders:read' })}`;
  },
});

async function echoed(gw: TestGateway, lines: string[], target = '/api/orders/1'): Promise<EchoedRequest> {
  const hasHost = lines.some((l) => /^host:/i.test(l));
  const head = [`GET ${target} HTTP/1.1`, ...(hasHost ? [] : [`Host: ${new URL(gw.url).host}`]), auth, ...lines];
  const res = await rawRequest(gw.url, [...head, 'Connection: close', '', ''].join('\r\n'));
  assert.equal(res.status, 200, res.raw);
  return JSON.parse(res.body) as EchoedRequest;
}

const CLAIMS = [
  'Proxy: http://evil.example:8080',
  'True-Client-IP: 10.9.9.9',
  'CF-Connecting-IP: 10.9.9.9',
  'Client-IP: 10.9.9.9',
  'X-Client-IP: 10.9.9.9',
  'X-Cluster-Client-IP: 10.9.9.9',
  'Fastly-Client-IP: 10.9.9.9',
  'X-Real-IP: 10.9.9.9',
  'X-ProxyUser-Ip: 10.9.9.9',
  'X-Forwarded: for=10.9.9.9',
  'Forwarded-For: 10.9.9.9',
  'X-Original-Forwarded-For: 10.9.9.9',
  'X-Original-Host: admin.internal',
  'X-Host: admin.internal',
  'X-HTTP-Host-Override: admin.internal',
  'X-Original-URI: /admin',
  'X-Forwarded-Prefix: /admin',
  'X-Url-Scheme: https',
  'Front-End-Https: on',
  'X-Remote-User: admin',
  'X-WEBAUTH-USER: admin',
  'X-Auth-Request-Email: admin@corp.example',
  'X-Forwarded-Client-Cert: By=spiffe://x',
  'X-SSL-Client-Cert: forged',
];
const names = CLAIMS.map((line) => line.slice(0, line.indexOf(':')).toLowerCase());

describe('a header that claims a client, a host or an identity', () => {
  it('never reaches the upstream from an untrusted peer', async () => {
    const seen = await echoed(bare, CLAIMS);
    for (const name of names) assert.equal(seen.headers[name], undefined, name);
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  });

  it('from a trusted proxy, passes only when it is a forwarding header stepgate extends', async () => {
    const seen = await echoed(trusting, [...CLAIMS, 'X-Forwarded-For: 203.0.113.7']);
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.7, 203.0.113.7');
    assert.equal(seen.headers['x-real-ip'], '10.9.9.9');
    assert.equal(seen.headers['x-forwarded-prefix'], '/admin');
    for (const name of ['proxy', 'true-client-ip', 'cf-connecting-ip', 'x-host', 'x-original-host', 'x-remote-user']) {
      assert.equal(seen.headers[name], undefined, name);
    }
  });

  it('is recognised by the shape of its name, not by a list of names', () => {
    for (const name of ['x-akamai-edge-ip', 'x-azure-clientip', 'x-envoy-external-address', 'x-forwarded-whatever']) {
      assert.equal(claimShaped(name), true, name);
    }
    for (const name of ['accept', 'user-agent', 'x-requested-with', 'x-client-version', 'traceparent', 'idempotency-key']) {
      assert.equal(claimShaped(name), false, name);
    }
  });

  it('keeps the application’s own headers', async () => {
    const seen = await echoed(bare, ['X-Requested-With: XMLHttpRequest', 'X-Api-Version: 2', 'X-Client-Version: 1.2']);
    assert.equal(seen.headers['x-requested-with'], 'XMLHttpRequest');
    assert.equal(seen.headers['x-api-version'], '2');
    assert.equal(seen.headers['x-client-version'], '1.2');
  });
});

describe('X-Forwarded-Host and X-Forwarded-Proto', () => {
  it('name server.publicUrl, whatever Host a client sends', async () => {
    const seen = await echoed(stack.gateway, ['Host: evil.example', 'X-Forwarded-Host: evil.example']);
    assert.equal(seen.headers['x-forwarded-host'], 'gw.example.com');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
  });

  it('name publicUrl for an absolute-form target too, whose authority replaces Host', async () => {
    const seen = await echoed(stack.gateway, ['Host: evil.example'], 'https://gw.example.com/api/orders/2');
    assert.equal(seen.url, '/orders/2');
    assert.equal(seen.headers['x-forwarded-host'], 'gw.example.com');
  });

  it('without publicUrl, name the Host the client addressed', async () => {
    const seen = await echoed(bare, ['Host: shop.example']);
    assert.equal(seen.headers['x-forwarded-host'], 'shop.example');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
  });
});
