/**
 * The audit record writer, as a property (issue 8, item 13): whatever claims a verified token
 * carries — lone surrogates, control characters, U+2028, huge strings, deep objects, keys such as
 * `__proto__`, tokens glued into text — and whatever the request's path, user agent and error
 * say, the real audit log (file sink, hash chain, signed checkpoints) writes exactly one
 * parseable, length-capped JSON line per record, never a token, and `stepgate audit verify
 * --key` says the file is intact.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createAuditLog } from '../../src/audit/audit-log.ts';
import { buildAuditRecord } from '../../src/audit/record.ts';
import { CAPS, cap, TRUNCATED_MARKER } from '../../src/audit/sanitize.ts';
import { verifyAuditFile } from '../../src/audit/verify.ts';
import type { Identity } from '../../src/identity/types.ts';

/** Real-looking compact tokens (a JOSE header, random payload and signature): none may be written. */
const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');
const TOKENS = [
  `${b64('{"alg":"RS256","typ":"at+jwt","kid":"k1"}')}.${b64(randomBytes(120))}.${b64(randomBytes(256))}`,
  `${b64('{"alg":"ES256"}')}.${b64(randomBytes(40))}.${b64(randomBytes(64))}`,
  // A JWE: five segments.
  `${b64('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.${b64(randomBytes(256))}.${b64(randomBytes(12))}.${b64(randomBytes(300))}.${b64(randomBytes(16))}`,
];
/** The parts no line may hold: the payload and signature segments are random and long. */
const SECRETS = TOKENS.flatMap((t) => t.split('.').slice(1).filter((s) => s.length >= 20));

/** Any UTF-16 code unit (lone surrogates included), with the troublemakers made likely. */
const codeUnit = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 3, arbitrary: fc.constantFrom('\u0000', '\n', '\r', '\u2028', '\u2029', '\u0085', '\u007f', '\ud800', '\udfff', '"', '\\', '.', '\u001b') },
  { weight: 4, arbitrary: fc.constantFrom(...'abcXYZ019-_/@ ') },
);
const text = fc.oneof(
  { weight: 8, arbitrary: fc.string({ unit: codeUnit, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 300_000 }).map((n) => 'x'.repeat(n)) },
  {
    weight: 2,
    // A token inside text: alone, after a separator, or glued to other base64url characters.
    arbitrary: fc
      .tuple(fc.string({ unit: codeUnit, maxLength: 8 }), fc.constantFrom(...TOKENS), fc.constantFrom('', ' ', 'abc', '.x', '"'))
      .map(([before, token, after]) => `${before}${token}${after}`),
  },
  { weight: 1, arbitrary: fc.constantFrom(...TOKENS.map((t) => `Bearer ${t}`)) },
);
const key = fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', 'a.b'));

/** JSON values as a verified payload holds them, nested up to 12 deep. */
const { value: claimValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 80 }),
    fc.dictionary(key, tie('value'), { maxKeys: 80 }),
  ),
}));

/** A payload as `JSON.parse` gives it: own `__proto__` keys included. */
const claims = fc
  .array(fc.tuple(key, claimValue), { maxLength: 12 })
  .map((entries) => JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`) as Record<string, unknown>);

const identity = fc.record({
  issuer: text,
  iss: text,
  sub: text,
  clientId: fc.option(text, { nil: undefined }),
  scopes: fc.array(text, { maxLength: 70 }),
  roles: fc.array(text, { maxLength: 5 }),
  groups: fc.array(text, { maxLength: 5 }),
  claims,
  authMethod: fc.constantFrom('bearer' as const, 'session' as const),
  tokenId: text,
  expiresAt: fc.integer(),
  frozen: fc.boolean(),
});

const request = fc.record({
  identity: fc.option(identity, { nil: undefined }),
  claimPaths: fc.array(fc.oneof(key, fc.constantFrom('__proto__', 'a.b', 'constructor.name')), { maxLength: 8 }),
  path: text,
  userAgent: text,
  failed: fc.option(text, { nil: undefined }),
  error: fc.option(text, { nil: undefined }),
  method: text,
});

/** Every string in a parsed record, keys included, with where it sits. */
function* strings(value: unknown, at = '$'): Generator<[string, string]> {
  if (typeof value === 'string') yield [at, value];
  else if (Array.isArray(value)) for (const [i, item] of value.entries()) yield* strings(item, `${at}[${i}]`);
  else if (value && typeof value === 'object') {
    for (const [k, item] of Object.entries(value)) {
      yield [`${at} key`, k];
      yield* strings(item, `${at}.${k}`);
    }
  }
}

const LONGEST = CAPS.path + TRUNCATED_MARKER.length;

/** Everything about one written line that must hold; returns the parsed record. */
function checkLine(line: string): Record<string, unknown> {
  assert.ok(Buffer.byteLength(line) < 1024 * 1024, 'a line fits what audit verify reads');
  assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/, 'control characters are escaped');
  for (const secret of SECRETS) assert.ok(!line.includes(secret), 'no token in the line');
  const parsed = JSON.parse(line) as Record<string, unknown>;
  for (const [where, value] of strings(parsed)) assert.ok(value.length <= LONGEST, `${where} is ${value.length} long`);
  return parsed;
}

describe('the audit record writer, for any input', () => {
  it('writes one parseable, capped line per record, never a token, and the file verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-audit-property-'));
    const path = join(dir, 'audit.jsonl');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    // The stdout sink gets the same lines as the file: each run reads what its record became.
    const stdout = new PassThrough();
    const written: string[] = [];
    stdout.on('data', (chunk: Buffer) => written.push(chunk.toString()));
    const log = createAuditLog(
      {
        sinks: [{ type: 'file', path }, { type: 'stdout' }],
        claims: [],
        failClosed: true,
        hashChain: true,
        checkpoints: {
          key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
          everyRecords: 7,
          everySeconds: 3600,
        },
      },
      { stdout },
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(request, async (input) => {
        const requestId = `req-${++n}`;
        const { frozen, ...fields } = input.identity ?? { frozen: false };
        const who = input.identity ? (fields as Identity) : undefined;
        if (who && frozen) Object.freeze(who);
        const record = buildAuditRecord(
          {
            requestId,
            decision: input.failed === undefined ? 'allow' : 'deny',
            reason: input.failed === undefined ? 'allowed' : 'policy_denied',
            ...(input.failed === undefined ? {} : { failed: input.failed }),
            status: 200,
            durationMs: 1.5,
            http: { method: input.method, path: input.path, route: 'r', sourceIp: '10.0.0.7', userAgent: input.userAgent },
            ...(who ? { identity: who } : {}),
            target: { name: 't', type: 'http', ...(input.error === undefined ? {} : { error: input.error }) },
            policyVersion: 'p'.repeat(64),
          },
          { claims: input.claimPaths },
        );
        await log.write(record);
        await new Promise((resolve) => setImmediate(resolve));
        const out = written.splice(0).join('');
        assert.ok(out.endsWith('\n'));
        const lines = out.slice(0, -1).split('\n').map(checkLine);
        const records = lines.filter((line) => line['type'] !== 'checkpoint');
        assert.equal(records.length, 1, 'exactly one line for the record');
        assert.equal(records[0]!['requestId'], requestId);
        // A short top-level string claim that was asked for is kept as it is (or as the marker
        // once the claims' size budget is spent), never lost, whatever its name.
        const claimsOut = (records[0]!['caller'] as { claims?: Record<string, unknown> } | undefined)?.claims;
        for (const path of input.claimPaths) {
          const value = who && Object.hasOwn(who.claims, path) ? who.claims[path] : undefined;
          const plain = (t: string) => t.length <= 100 && !t.includes('.');
          if (typeof value !== 'string' || !plain(value) || !plain(path)) continue;
          assert.ok(claimsOut && Object.hasOwn(claimsOut, path), `claim ${JSON.stringify(path)} is missing`);
          assert.ok([cap(value, CAPS.field), TRUNCATED_MARKER].includes(claimsOut[path] as string));
        }
      }),
      { numRuns: 300 },
    );
    await log.close();

    const verified = await verifyAuditFile(path, { publicKey });
    assert.equal(verified.ok, true, verified.message);
    assert.equal(verified.lines, n + Math.floor(n / 7) + 1, 'every record, a checkpoint every 7 and a final one');
    assert.equal(verified.lastCheckpoint?.final, true);
  });
});
