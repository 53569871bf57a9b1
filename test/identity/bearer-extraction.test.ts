import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { bearerChallenge, extractBearer } from '../../src/identity/bearer-token.ts';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';

/** Headers as Node builds them: `headers` keeps the first Authorization, `rawHeaders` all. */
function request(...pairs: [string, string][]): [IncomingHttpHeaders, string[]] {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of pairs) headers[name.toLowerCase()] ??= value;
  return [headers, pairs.flat()];
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'no error';
}

describe('bearer token extraction (RFC 6750)', () => {
  it('reads the token of a Bearer header', () => {
    assert.equal(extractBearer(...request(['Authorization', `Bearer ${JWT}`]), ''), JWT);
  });

  it('compares the scheme case-insensitively', () => {
    assert.equal(extractBearer(...request(['authorization', `bearer ${JWT}`]), ''), JWT);
    assert.equal(extractBearer(...request(['AUTHORIZATION', `BEARER ${JWT}`]), ''), JWT);
  });

  it('refuses two Authorization headers, even if both hold the same token', () => {
    const code = codeOf(() =>
      extractBearer(...request(['Authorization', `Bearer ${JWT}`], ['authorization', `Bearer ${JWT}`]), ''),
    );
    assert.equal(code, 'SG_ERR_INVALID_TOKEN');
  });

  it('refuses a token in the query string, with or without a header', () => {
    assert.equal(
      codeOf(() => extractBearer(...request(), `access_token=${JWT}`)),
      'SG_ERR_BAD_REQUEST',
    );
    assert.equal(
      codeOf(() => extractBearer(...request(), `?a=1&access%5Ftoken=${JWT}`)),
      'SG_ERR_BAD_REQUEST',
    );
    const withHeader = request(['Authorization', `Bearer ${JWT}`]);
    assert.equal(
      codeOf(() => extractBearer(...withHeader, `x=1&access_token=${JWT}`)),
      'SG_ERR_BAD_REQUEST',
    );
    assert.equal(extractBearer(...withHeader, 'my_access_token_count=3'), JWT);
  });

  it('no header, or another scheme, is a missing token', () => {
    assert.equal(
      codeOf(() => extractBearer(...request(), '')),
      'SG_ERR_MISSING_TOKEN',
    );
    assert.equal(
      codeOf(() => extractBearer(...request(['Authorization', 'Basic dTpw']), '')),
      'SG_ERR_MISSING_TOKEN',
    );
    assert.equal(
      codeOf(() => extractBearer(...request(['Authorization', `Bearer2 ${JWT}`]), '')),
      'SG_ERR_MISSING_TOKEN',
    );
  });

  it('refuses tokens that are not a b64token shaped like a compact JWS', () => {
    for (const value of [
      'Bearer',
      'Bearer ',
      'Bearer opaque-token-value',
      `Bearer ${JWT}.more.parts`,
      `Bearer ${JWT} extra`,
      'Bearer a.b.',
      'Bearer a"b.c.d',
      `Bearer ${'a'.repeat(20_000)}.b.c`,
      'Bearer\tabc.def.ghi',
    ]) {
      assert.equal(
        codeOf(() => extractBearer(...request(['Authorization', value]), '')),
        'SG_ERR_INVALID_TOKEN',
        value,
      );
    }
  });
});

describe('bearer challenge (RFC 6750 §3)', () => {
  it('names the realm, and the error when there is one', () => {
    assert.equal(bearerChallenge(), 'Bearer realm="stepgate"');
    assert.equal(
      bearerChallenge('invalid_token', 'token has expired'),
      'Bearer realm="stepgate", error="invalid_token", error_description="token has expired"',
    );
    assert.equal(
      bearerChallenge('insufficient_scope'),
      'Bearer realm="stepgate", error="insufficient_scope"',
    );
  });

  it('never lets a description break out of its quotes or the header', () => {
    const value = bearerChallenge('invalid_token', 'a "quoted" \\ value\r\nSet-Cookie: x=1 é');
    assert.doesNotMatch(value, /[\r\n\\]/);
    assert.equal(value.match(/"/g)?.length, 6);
  });
});
