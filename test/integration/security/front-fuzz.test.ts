/**
 * A bounded fuzz of the HTTP front: a few thousand malformed or odd requests over raw sockets —
 * request lines, methods, targets, header names, values and bytes, duplicate headers, chunked
 * framing, bodies, pipelining, early resets — against a real gateway and a real upstream. None
 * may get a 5xx, crash the gateway or log an error; every request the gateway saw is audited
 * exactly once and counted once in `stepgate_requests_total`.
 *
 * Deterministic: the cases come from a fixed seed (printed with any failure, with the case).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { coreConfig } from '../../support/configs.ts';
import { eventually } from '../../support/gateway.ts';
import { openRaw } from '../../support/raw-http.ts';
import { requestTarget } from '../../support/paths.ts';
import { withGateway } from '../../support/with-gateway.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 8_000_813);
const CASES = Number(process.env['FUZZ_CASES'] ?? 1600);
const PARALLEL = 32;

let goodToken: string;
/** Requests Node handed to the gateway (each must have one record). */
let dispatched = 0;
const stack = withGateway({
  upstream: true,
  config: ({ issuer, upstreamUrl }) => {
    const config = coreConfig(issuer.issuer, issuer.jwksUri, upstreamUrl);
    const routes = [...(config['routes'] as object[]), { name: 'any', path: '/*', methods: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'], target: 'orders', public: true }];
    return { ...config, routes, server: { publicUrl: 'https://gw.example.com', requestTimeoutMs: 3000 } };
  },
  setup: async () => {
    goodToken = await stack.issuer.sign({ sub: 'fuzz', scope: 'orders:read orders:write', groups: ['a,b'], email: 'f@x' });
    const count = () => dispatched++;
    stack.gateway.app.server.on('request', count);
    stack.gateway.app.server.on('checkExpectation', count);
    if (process.env['FUZZ_SLOW']) stack.gateway.app.server.on('clientError', (err: NodeJS.ErrnoException) => process.stdout.write(`# clientError ${err.code}\n`));
  },
});

/** Mostly well-formed, sometimes odd: a field is odd one time in ten. */
const usually = <T>(common: fc.Arbitrary<T>, odd: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 9, arbitrary: common }, { weight: 1, arbitrary: odd });

const method = usually(
  fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
  fc.constantFrom('TRACE', 'CONNECT', 'PROPFIND', 'PURGE', 'get', 'G ET', 'GÉT', ''),
);
/** Targets Node's parser lets through (the rest are its 400s, a smaller share of the cases). */
const nodeAccepts = requestTarget.filter((t) => /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$/.test(t));
const target = fc.oneof(
  { weight: 4, arbitrary: nodeAccepts.map((t) => `/api/orders${t}`) },
  { weight: 3, arbitrary: nodeAccepts },
  { weight: 1, arbitrary: requestTarget },
  { weight: 1, arbitrary: fc.constantFrom('*', 'http://evil.example/x', 'https://gw.example.com/api/orders/1', 'gw.example.com:443', '//x', '/public/status', '/api/orders/1?_method=DELETE', '', '/a b', '/\u00e9', '/%00', '/.well-known/stepgate/jwks.json') },
);
const version = usually(fc.constant('HTTP/1.1'), fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/0.9', ''));
const headerName = usually(
  fc.constantFrom(
    'X-Custom', 'X-Stepgate-Subject', 'X_Stepgate_Groups', 'X-Forwarded-For', 'X-Forwarded-Host', 'Forwarded', 'True-Client-IP', 'Proxy',
    'Connection', 'Keep-Alive', 'TE', 'Upgrade', 'Expect', 'Cookie', 'Content-Type', 'Accept', 'X-HTTP-Method-Override', 'X-Request-Id',
    'Idempotency-Key', 'Trailer', 'X-Real-IP', 'X-Original-URL',
  ),
  fc.constantFrom('Bad Name', 'Bad:Name', '', 'X-\u00ff', 'Transfer-Encoding', 'Content-Length', 'Host', 'Authorization'),
);
const headerValue = usually(
  fc.oneof(
    fc.constantFrom('x', '', ' padded ', 'close', 'keep-alive', 'X-Stepgate-Subject, Authorization', '100-continue', 'teapot',
      'chunked', 'multipart/form-data; boundary=B', 'application/x-www-form-urlencoded', 'Bearer x.y.z', 'Basic Zm9vOmJhcg==',
      '__Host-stepgate-session=v1.x', 'evil.example', '10.0.0.1, 10.0.0.2', 'h2c', 'a\u00ff\u0080b'),
    fc.string({ maxLength: 20 }),
  ),
  fc.oneof(
    fc.constantFrom('gzip, chunked', '-1', '99999999999999999999'),
    fc.uint8Array({ maxLength: 12 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  ),
);
const body = fc.oneof(
  fc.constant(''),
  fc.constantFrom('_method=DELETE', '{"a":1}', '--B\r\nContent-Disposition: form-data; name="_method"\r\n\r\nPUT\r\n--B--\r\n', 'hello'),
  fc.string({ maxLength: 64 }),
);
const framing = usually(fc.constantFrom('length', 'length', 'chunked', 'none'), fc.constantFrom('bad-chunked', 'short-length', 'both'));
const ending = usually(
  fc.constantFrom('close', 'close', 'keep-alive', 'pipelined'),
  fc.constantFrom('reset-after-write', 'reset-half', 'reset-on-first-byte'),
);
const auth = fc.constantFrom('good', 'good', 'none', 'garbage', 'two');

const fuzzCase = fc.record({
  method,
  target,
  version,
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }),
  body,
  framing,
  ending,
  auth,
  hostless: usually(fc.constant(false), fc.constant(true)),
  lineEnding: usually(fc.constant('\r\n'), fc.constant('\n')),
});
type FuzzCase = typeof fuzzCase extends fc.Arbitrary<infer T> ? T : never;

function render(c: FuzzCase, host: string): Buffer {
  const eol = c.lineEnding;
  const lines = [`${c.method} ${c.target} ${c.version}`.trimEnd()];
  if (!c.hostless) lines.push(`Host: ${host}`);
  if (c.auth === 'good' || c.auth === 'two') lines.push(`Authorization: Bearer ${goodToken}`);
  if (c.auth === 'two') lines.push('Authorization: Bearer other');
  if (c.auth === 'garbage') lines.push('Authorization: Bearer \u00ff.\u0000');
  for (const [name, value] of c.headers) lines.push(`${name}: ${value}`);
  const data = Buffer.from(c.body, 'utf8');
  let payload = data.toString('latin1');
  if (c.framing === 'length' || c.framing === 'both') lines.push(`Content-Length: ${data.length}`);
  if (c.framing === 'short-length') lines.push(`Content-Length: ${data.length + 7}`);
  if (c.framing === 'chunked' || c.framing === 'both' || c.framing === 'bad-chunked') {
    lines.push('Transfer-Encoding: chunked');
    payload =
      c.framing === 'bad-chunked'
        ? `${data.length.toString(16)}x${eol}${payload}${eol}0${eol}${eol}`
        : `${data.length > 0 ? `${data.length.toString(16)}${eol}${payload}${eol}` : ''}0${eol}${eol}`;
  }
  if (c.ending !== 'keep-alive') lines.push('Connection: close');
  const one = `${lines.join(eol)}${eol}${eol}${payload}`;
  const text = c.ending === 'pipelined' ? `${one.replace(`Connection: close${eol}`, '')}${one}` : one;
  return Buffer.from(text, 'latin1');
}

/** Status codes of every response on the connection (a 100 Continue included). */
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));

async function run(c: FuzzCase, host: string): Promise<number[]> {
  const conn = await openRaw(stack.gateway.url);
  const bytes = render(c, host);
  if (c.ending === 'reset-half') {
    conn.socket.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
    await new Promise((resolve) => setImmediate(resolve));
    conn.reset();
    return [];
  }
  conn.socket.write(bytes);
  if (c.ending === 'reset-after-write') {
    conn.reset();
    return [];
  }
  if (c.ending === 'reset-on-first-byte') {
    await conn.until((text) => text.length > 0, 4000).catch(() => '');
    conn.reset();
    return statuses(conn.received());
  }
  // Keep-alive connections stay open after the answer: end them once one has come in full.
  await conn.until((text) => /\r\n\r\n/.test(text) && (c.ending !== 'keep-alive' || text.length > 0), 4000).catch(() => '');
  if (c.ending === 'keep-alive') await new Promise((resolve) => setTimeout(resolve, 5));
  if (c.ending !== 'keep-alive') await conn.closed(2000);
  conn.socket.destroy();
  return statuses(conn.received());
}

describe('the HTTP front under a bounded fuzz', () => {
  it(`answers ${CASES} odd requests without a 5xx, a crash or an error, each audited and counted once (seed ${SEED})`, async () => {
    const cases = fc.sample(fuzzCase, { seed: SEED, numRuns: CASES });
    const host = new URL(stack.gateway.url).host;
    const started = Date.now();
    let next = 0;
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < cases.length) {
          const index = next++;
          const c = cases[index]!;
          const t0 = Date.now();
          const got = await run(c, host);
          if (process.env['FUZZ_SLOW'] && Date.now() - t0 > 500) process.stdout.write(`# slow ${Date.now() - t0}ms ${c.ending} ${JSON.stringify(render(c, host).toString('latin1').slice(0, 300))}\n`);
          const bad = got.filter((status) => status >= 500);
          if (bad.length > 0) failures.push(`case ${index} (seed ${SEED}) got ${bad}: ${JSON.stringify(render(c, host).toString('latin1'))}`);
        }
      }),
    );
    assert.deepEqual(failures.slice(0, 5), [], `${failures.length} cases got a 5xx`);

    const records = await eventually(async () => {
      const all = (await stack.gateway.auditRecords()).filter((r) => r.phase !== 'intent');
      const seen = all.filter((r) => r.http.method !== '-').length;
      return seen === dispatched ? all : undefined;
    }, `one record per dispatched request (seed ${SEED})`).catch(async (err: unknown) => {
      const all = (await stack.gateway.auditRecords()).filter((r) => r.http.method !== '-');
      throw new Error(`${String(err)}: ${all.length} records for ${dispatched} requests`);
    });
    assert.equal(new Set(records.map((r) => r.requestId)).size, records.length, 'no request recorded twice');
    assert.equal(await stack.gateway.requestsCounted(), records.length, 'each record counted once');
    assert.ok(dispatched > CASES / 3, `only ${dispatched} requests reached the gateway`);
    assert.doesNotMatch(stack.gateway.logs.text(), /"level":50/, 'no error logged');
    // Still serving.
    const res = await fetch(`${stack.gateway.url}/api/orders/1`, { headers: { authorization: `Bearer ${goodToken}` } });
    assert.equal(res.status, 200);
    process.stdout.write(`# fuzz: ${CASES} cases, ${dispatched} requests dispatched, ${records.length} records, ${Date.now() - started} ms\n`);
  });
});
