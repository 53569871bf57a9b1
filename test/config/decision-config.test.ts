/** The `decision` section: checked in one pass with key paths, and restart-only on reload. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/load.ts';
import { restartOnlyChanges } from '../../src/config/reload-check.ts';
import { ConfigError } from '../../src/errors.ts';

const base = {
  targets: { api: { type: 'http', url: 'http://127.0.0.1:3000' } },
  routes: [{ name: 'open', path: '/open', methods: ['GET'], target: 'api', public: true }],
};

function problems(decision: unknown): string[] {
  try {
    parseConfig({ ...base, decision }, {});
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

describe('decision config', () => {
  it('takes defaults for a protocol given as {}', () => {
    const config = parseConfig({ ...base, decision: { trustedPeers: ['10.0.0.0/8'], nginx: {} } }, {});
    assert.equal(config.decision?.port, 8081);
    assert.equal(config.decision?.nginx?.path, '/nginx');
    assert.ok(config.decision?.nginx?.upstreamHeaders.includes('x-stepgate-assertion'));
  });

  it('names every problem with its key path', () => {
    assert.deepEqual(problems({ trustedPeers: ['10.0.0.0/33', 'proxy.local'] }), [
      'decision.trustedPeers[0]: must be an IP address or CIDR',
      'decision.trustedPeers[1]: must be an IP address or CIDR',
      'decision: must enable at least one of envoy, nginx, traefik',
    ]);
    assert.deepEqual(problems({ trustedPeers: ['127.0.0.1'], envoy: { pathPrefix: '/x' }, nginx: { path: '/x/n' }, traefik: { path: '/x/n' } }), [
      'decision.traefik.path: must differ from decision.nginx.path',
      'decision.nginx.path: must not lie under decision.envoy.pathPrefix "/x"',
      'decision.traefik.path: must not lie under decision.envoy.pathPrefix "/x"',
    ]);
    assert.match(problems({ trustedPeers: [] })[0]!, /^decision\.trustedPeers: /);
    assert.match(problems({ trustedPeers: ['::1'], envoy: { pathPrefix: '/envoy/' } })[0]!, /^decision\.envoy\.pathPrefix: /);
    assert.match(problems({ trustedPeers: ['::1'], nginx: { upstreamHeaders: ['authorization'] } })[0]!, /^decision\.nginx\.upstreamHeaders\[0\]/);
  });

  it('needs a restart to change', () => {
    const before = parseConfig({ ...base, decision: { trustedPeers: ['10.0.0.0/8'], nginx: {} } }, {});
    const after = parseConfig({ ...base, decision: { trustedPeers: ['10.0.0.0/16'], nginx: {} } }, {});
    assert.deepEqual(restartOnlyChanges(before, after), [{ path: 'decision.trustedPeers', message: 'changes need a restart' }]);
  });
});
