/** The gateway's cookies: __Host- attributes, chunks under 4 KB, and never shown to upstreams. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CHUNK_BYTES,
  chunkCount,
  clearChunked,
  parseCookies,
  readChunked,
  serializeCookie,
  withoutGatewayCookies,
  writeChunked,
} from '../../../src/identity/sessions/cookies.ts';
import { forwardedHeaders, responseHeaders } from '../../../src/targets/headers.ts';

const BASE = '__Host-stepgate-session';

function asRequest(setCookies: string[]): Map<string, string> {
  return parseCookies(setCookies.map((c) => c.split(';')[0]).join('; '));
}

describe('cookies', () => {
  it('are __Host- cookies: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain', () => {
    const cookie = serializeCookie(`${BASE}-0`, 'v1.abc', 60);
    assert.equal(cookie, `${BASE}-0=v1.abc; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax`);
    assert.ok(!/domain=/i.test(cookie));
    assert.throws(() => serializeCookie('other', 'x', 1), TypeError);
    assert.throws(() => serializeCookie(`${BASE}-0`, 'a;b', 1), TypeError);
  });

  it('are cut into chunks that each stay under 4096 bytes and read back whole', () => {
    const value = `v1.${'A'.repeat(CHUNK_BYTES * 2 + 123)}`;
    const cookies = writeChunked(BASE, value, 3600, 0);
    assert.equal(cookies.length, 3);
    for (const c of cookies) assert.ok(Buffer.byteLength(c) < 4096, `${Buffer.byteLength(c)} bytes`);
    assert.equal(readChunked(asRequest(cookies), BASE), value);
  });

  it('delete chunks a shorter value no longer needs', () => {
    const cookies = writeChunked(BASE, 'v1.short', 3600, 3);
    assert.equal(cookies.length, 3);
    assert.match(cookies[1]!, new RegExp(`^${BASE}-1=; Path=/; Max-Age=0;`));
    assert.match(cookies[2]!, new RegExp(`^${BASE}-2=; Path=/; Max-Age=0;`));
    assert.equal(clearChunked(BASE, 2).length, 2);
  });

  it('do not read with a gap or too many chunks', () => {
    const gap = new Map([
      [`${BASE}-0`, 'a'],
      [`${BASE}-2`, 'c'],
    ]);
    assert.equal(readChunked(gap, BASE), 'a');
    const many = new Map(Array.from({ length: 9 }, (_, i) => [`${BASE}-${i}`, 'x'] as [string, string]));
    assert.equal(readChunked(many, BASE), undefined);
    assert.equal(chunkCount(new Map(), BASE), 0);
    assert.throws(() => writeChunked(BASE, 'x'.repeat(CHUNK_BYTES * 6), 1, 0), RangeError);
  });

  it('parse the first of duplicate names and ignore junk', () => {
    const cookies = parseCookies(` a=1; a=2; junk; =x; b="q"; ${BASE}-0=v1.z`);
    assert.equal(cookies.get('a'), '1');
    assert.equal(cookies.get('b'), 'q');
    assert.equal(cookies.get(`${BASE}-0`), 'v1.z');
  });

  it('never reach an upstream, and an upstream cannot set them', () => {
    assert.equal(
      withoutGatewayCookies(`app=1; ${BASE}-0=v1.x; __Host-stepgate-login-abc=v1.y; theme=dark`),
      'app=1; theme=dark',
    );
    assert.equal(withoutGatewayCookies(`${BASE}-0=v1.x`), undefined);
    const out = forwardedHeaders(
      { cookie: `${BASE}-0=v1.x; app=1`, host: 'gw' },
      {
        identity: undefined,
        requestId: 'r',
        assertion: undefined,
        forwardAuthorization: false,
        trustedPeer: false,
        clientIp: '10.0.0.1',
        host: 'gw',
        protocol: 'https',
      },
    );
    assert.equal(out['cookie'], 'app=1');
    const back = responseHeaders({
      'set-cookie': [`${BASE}-0=evil; Path=/`, 'app=2; Path=/', ` ${BASE}-1=x`],
    });
    assert.deepEqual(back['set-cookie'], ['app=2; Path=/']);
    assert.equal(responseHeaders({ 'set-cookie': [`${BASE}-0=evil`] })['set-cookie'], undefined);
  });
});
