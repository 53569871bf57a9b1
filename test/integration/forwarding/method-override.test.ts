/**
 * `_method` in the query or in a form body is how Laravel, Symfony and Rails let a POST act as a
 * DELETE: refused with a 400 before anything is forwarded, however the name is spelled.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { coreConfig } from '../../support/configs.ts';
import { rawRequest } from '../../support/raw-http.ts';
import { withGateway } from '../../support/with-gateway.ts';

let auth: string;
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl),
  setup: async () => {
    auth = `Authorization: Bearer ${await stack.issuer.sign({ sub: 'alice', scope: 'orders:write' })}`;
  },
});

function post(target: string, body = '', headers: string[] = []) {
  const host = new URL(stack.gateway.url).host;
  const lines = [`POST ${target} HTTP/1.1`, `Host: ${host}`, auth, ...headers];
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', body);
  return rawRequest(stack.gateway.url, lines.join('\r\n'));
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
      const before = stack.upstream.received.length;
      const res = await post(target, body, headers);
      assert.equal(res.status, 400, res.raw);
      const problem = JSON.parse(res.body) as { code: string; requestId: string; detail: string };
      assert.equal(problem.code, 'SG_ERR_METHOD_OVERRIDE');
      assert.match(problem.detail, /_method/);
      const record = await stack.gateway.auditFor(problem.requestId);
      assert.equal(record.reason, 'bad_request');
      assert.equal(record.forwarded, false);
      assert.equal(stack.upstream.received.length, before);
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
