/**
 * `_method` in the query or in a form body is how Laravel, Symfony and Rails let a POST act as a
 * DELETE: refused with a 400 before anything is forwarded, however the name is spelled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { coreConfig } from '../../support/configs.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';
import { rawRequest } from '../../support/raw-http.ts';

let issuer: TestIssuer;
let upstream: EchoUpstream;
let gateway: TestGateway;
let auth: string;

before(async () => {
  issuer = await startIssuer();
  upstream = await startEchoUpstream();
  gateway = await startGateway(coreConfig(issuer.issuer, issuer.jwksUri, upstream.url));
  await waitReady(gateway);
  auth = `Authorization: Bearer ${await issuer.sign({ sub: 'alice', scope: 'orders:write' })}`;
});

after(async () => {
  await gateway.close();
  await upstream.close();
  await issuer.close();
});

function post(target: string, body = '', headers: string[] = []) {
  const host = new URL(gateway.url).host;
  const lines = [`POST ${target} HTTP/1.1`, `Host: ${host}`, auth, ...headers];
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', body);
  return rawRequest(gateway.url, lines.join('\r\n'));
}

const FORM = 'Content-Type: application/x-www-form-urlencoded';
const multipart = (name: string, extra = '') =>
  [
    '--XyZ',
    `Content-Disposition: form-data; name=${name}${extra}`,
    '',
    'DELETE',
    '--XyZ--',
    '',
  ].join('\r\n');
const MULTIPART = 'Content-Type: multipart/form-data; boundary=XyZ';

const refused: [string, string, string, string[]][] = [
  ['a query _method', '/api/orders/1?_method=DELETE', '', []],
  ['any case', '/api/orders/1?_METHOD=delete', '', []],
  ['percent-encoded', '/api/orders/1?%5Fmethod=DELETE', '', []],
  ['among others', '/api/orders/1?a=1&_method=PUT&b=2', '', []],
  ['as PHP mangles it', '/api/orders/1?.method=DELETE', '', []],
  ['as an array', '/api/orders/1?_method[]=DELETE', '', []],
  ['a form field', '/api/orders/1', 'name=x&_method=DELETE', [FORM]],
  ['a form field with + and escapes', '/api/orders/1', 'a=b+c&%5f%4Dethod=DELETE', [FORM]],
  ['a form body without a content type (Rack reads it)', '/api/orders/1', '_method=DELETE', []],
  ['a multipart field', '/api/orders/1', multipart('"_method"'), [MULTIPART]],
  ['a multipart field, unquoted', '/api/orders/1', multipart('_method'), [MULTIPART]],
  ['a multipart field in RFC 8187 form', '/api/orders/1', multipart('x; name*=UTF-8\'\'_method'), [MULTIPART]],
];

describe('a method override outside the headers', () => {
  for (const [name, target, body, headers] of refused) {
    it(`${name} is refused with a 400 and never forwarded`, async () => {
      const before = upstream.received.length;
      const res = await post(target, body, headers);
      assert.equal(res.status, 400, res.raw);
      const problem = JSON.parse(res.body) as { code: string; requestId: string; detail: string };
      assert.equal(problem.code, 'SG_ERR_METHOD_OVERRIDE');
      assert.match(problem.detail, /_method/);
      const record = await gateway.auditFor(problem.requestId);
      assert.equal(record.reason, 'bad_request');
      assert.equal(record.forwarded, false);
      assert.equal(upstream.received.length, before);
    });
  }
});

describe('what only looks like one', () => {
  const forwarded: [string, string, string, string[]][] = [
    ['a value that says _method', '/api/orders/1?x=_method', '', []],
    ['a longer name', '/api/orders/1?my_method=1&_methods=2', '', []],
    ['a JSON body', '/api/orders/1', '{"_method":"DELETE"}', ['Content-Type: application/json']],
    ['a file called _method.txt', '/api/orders/1', multipart('"file"; filename="_method.txt"'), [MULTIPART]],
  ];
  for (const [name, target, body, headers] of forwarded) {
    it(`${name} is forwarded as sent`, async () => {
      const res = await post(target, body, headers);
      assert.equal(res.status, 200, res.raw);
      const echoed = JSON.parse(res.body) as { method: string; body: string; url: string };
      assert.equal(echoed.method, 'POST');
      assert.equal(echoed.body, body);
    });
  }
});
