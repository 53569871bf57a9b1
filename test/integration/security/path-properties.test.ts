/**
 * Path normalization through the real front: for a sample of generated request targets (fixed
 * seed), sent byte for byte to a gateway with real upstreams, the path the policy judged (the
 * audit record's) is the path the upstream received, up to the target's documented mapping
 * (`url` base path + `stripPrefix`), and no two different canonical paths reach the same
 * upstream path.
 *
 * The stripped target has a base path (`/up`). With an empty one, the bare prefix and the prefix
 * with a trailing slash (`/p`, `/p/`) both reach `/`: no prefix-stripping map can keep them
 * apart there, so a config that judges the two differently (an exact `/p` route before `/p/*`)
 * is the one place this property does not hold.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { type EchoedRequest, type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { normalizeRequestTarget } from '../../../src/policy/normalize-path.ts';
import { startGateway, type TestGateway } from '../../support/gateway.ts';
import { rawGet } from '../../support/raw-http.ts';
import { requestTarget, SEED } from '../../support/paths.ts';

let stripped: EchoUpstream;
let plain: EchoUpstream;
let gateway: TestGateway;

before(async () => {
  stripped = await startEchoUpstream();
  plain = await startEchoUpstream();
  gateway = await startGateway({
    issuers: [],
    targets: {
      stripped: { type: 'http', url: `${stripped.url}/up`, stripPrefix: '/p' },
      plain: { type: 'http', url: plain.url },
    },
    routes: [
      { name: 'p', path: '/p/*', methods: ['GET'], target: 'stripped', public: true },
      { name: 'rest', path: '/*', methods: ['GET'], target: 'plain', public: true },
    ],
  });
});

after(async () => {
  await gateway.close();
  await stripped.close();
  await plain.close();
});

/** ASCII targets (a request line holds no raw UTF-8), half of them under the stripped prefix. */
const sample = fc
  .sample(fc.tuple(fc.boolean(), requestTarget), { seed: SEED, numRuns: 160 })
  .map(([under, target]) => (under ? `/p${target}` : target))
  .filter((target) => /^[\u0021-\u007e]+$/.test(target));

describe('a sample of request targets through the gateway', () => {
  it('reaches each upstream on exactly the path the policy judged', async () => {
    const reached = new Map<string, string>();
    let forwarded = 0;
    for (const target of sample) {
      const res = await rawGet(gateway.url, target);
      let expected: string | undefined;
      try {
        expected = normalizeRequestTarget(target).path;
      } catch {
        expected = undefined;
      }
      if (expected === undefined) {
        assert.equal(res.status, 400, `${target} is refused: ${res.raw}`);
        continue;
      }
      assert.equal(res.status, 200, `${target}: ${res.raw.slice(0, 300)}`);
      forwarded++;
      const record = await gateway.auditFor(res.headers['x-request-id']!);
      assert.equal(record.http.path, expected, `what the policy judged for ${target}`);
      const echoed = JSON.parse(res.body) as EchoedRequest;
      const upstreamPath = echoed.url.split('?')[0]!;
      const mapped = record.http.route === 'p' ? `/up${expected === '/p' ? '' : expected.slice(2)}` : expected;
      assert.equal(upstreamPath, mapped, `what the upstream received for ${target}`);
      const key = `${record.http.route}:${upstreamPath}`;
      const earlier = reached.get(key);
      assert.ok(earlier === undefined || earlier === expected, `${earlier} and ${expected} both reach ${key}`);
      reached.set(key, expected);
    }
    assert.ok(forwarded > 40, `only ${forwarded} of ${sample.length} forwarded`);
  });
});
