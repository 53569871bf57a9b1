/**
 * One token, one fingerprint (issue 8, item 9). Without a `jti` a token is audited under a keyed
 * fingerprint of its decoded signature. The 16 base64url spellings of one RS256 signature (its
 * last character has 4 unused bits) must not become 16 callers: the canonical one is accepted,
 * the 15 others are refused as malformed (and so never cached either), and an ECDSA signature's
 * twin (r, n − s), which verifies, is audited under the same `tokenId`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

let rs: TestIssuer;
let es: TestIssuer;
let upstream: EchoUpstream;
let gateway: TestGateway;

before(async () => {
  [rs, es, upstream] = await Promise.all([startIssuer(), startIssuer({ alg: 'ES256' }), startEchoUpstream()]);
  gateway = await startGateway({
    issuers: [
      { name: 'rs', issuer: rs.issuer, audiences: ['stepgate'], jwksUri: rs.jwksUri },
      { name: 'es', issuer: es.issuer, audiences: ['stepgate'], jwksUri: es.jwksUri },
    ],
    targets: { api: { type: 'http', url: upstream.url } },
    routes: [{ name: 'read', path: '/api/*', methods: ['GET'], target: 'api', allow: { scopes: ['read'] } }],
  });
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  await Promise.all([upstream.close(), rs.close(), es.close()]);
});

/** Every spelling of `token` that decodes to the same signature bytes (its own included). */
function spellings(token: string): string[] {
  const last = ALPHABET.indexOf(token.at(-1)!);
  const spare = (token.split('.')[2]!.length % 4 === 2 ? 16 : 4) - 1;
  const out: string[] = [];
  for (let bits = 0; bits <= spare; bits++) out.push(token.slice(0, -1) + ALPHABET[(last & ~spare) | bits]);
  return out;
}

async function get(token: string) {
  const res = await fetch(`${gateway.url}/api/x`, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  const record = await gateway.auditFor(res.headers.get('x-request-id')!);
  return { status: res.status, record };
}

describe('token fingerprints', () => {
  it('16 spellings of one RS256 token without jti: one is accepted, one tokenId is audited', async () => {
    const token = await rs.sign({ sub: 'alice', scope: 'read', jti: undefined });
    const all = spellings(token);
    assert.equal(all.length, 16);
    assert.ok(all.includes(token));
    const tokenIds = new Set<string>();
    for (const spelling of all) {
      const { status, record } = await get(spelling);
      if (spelling === token) {
        assert.equal(status, 200);
        assert.equal(record.decision, 'allow');
      } else {
        assert.equal(status, 401, 'a non-canonical spelling is refused');
        assert.equal(record.reason, 'invalid_token');
      }
      if (record.caller) tokenIds.add(record.caller.tokenId);
    }
    assert.equal(tokenIds.size, 1);
    assert.match([...tokenIds][0]!, /^fp:[0-9a-f]{16}$/);
    // Asked again, every spelling is judged the same: nothing cached lets one through.
    for (const spelling of all) assert.equal((await get(spelling)).status, spelling === token ? 200 : 401);
  });

  it('an ES256 signature and its (r, n − s) twin both verify and share one tokenId', async () => {
    const token = await es.sign({ sub: 'bob', scope: 'read', jti: undefined });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const bytes = Buffer.from(signature, 'base64url');
    const s = BigInt(`0x${bytes.subarray(32).toString('hex')}`);
    const twinS = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex');
    const twin = `${header}.${payload}.${Buffer.concat([bytes.subarray(0, 32), twinS]).toString('base64url')}`;
    assert.notEqual(twin, token);
    const first = await get(token);
    const second = await get(twin);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200, 'ECDSA verification takes either s');
    assert.equal(second.record.caller?.tokenId, first.record.caller?.tokenId);
    // Two tokens are still two fingerprints.
    const other = await get(await es.sign({ sub: 'bob', scope: 'read', jti: undefined }));
    assert.notEqual(other.record.caller?.tokenId, first.record.caller?.tokenId);
  });
});
