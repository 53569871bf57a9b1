/**
 * `stepgate serve` with a `decision:` section: the decision listener starts with the gateway, on
 * its own address, says where in the start-up log line, and stops with it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { rawRequest } from '../support/decision.ts';
import { serve } from '../support/serve-process.ts';

it('serves decisions on decision.host:port beside the gateway, and exits 0 on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-serve-decision-'));
  const configFile = join(dir, 'gateway.yaml');
  writeFileSync(
    configFile,
    [
      'server: { host: 127.0.0.1, port: 0 }',
      'admin: { host: 127.0.0.1, port: 0 }',
      'decision: { host: 127.0.0.1, port: 0, trustedPeers: [127.0.0.1], traefik: {} }',
      'targets: { web: { type: http, url: "http://127.0.0.1:9" } }',
      'routes: [{ name: status, path: /status, target: web, public: true }]',
      'audit: { sinks: [{ type: stdout }] }',
    ].join('\n'),
  );
  const gateway = serve(configFile);
  const listening = await gateway.announced;
  assert.notEqual(listening.decisionUrl, listening.url);
  const answer = await rawRequest(listening.decisionUrl!, {
    method: 'GET',
    path: '/traefik',
    headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/status' },
  });
  assert.equal(answer.status, 200);
  gateway.child.kill('SIGTERM');
  assert.equal((await gateway.exited).code, 0);
  // The audit line (its members in canonical order: see src/audit/chain.ts).
  const records = gateway.output().split('\n').filter((l) => l.includes('"policyVersion"')).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(records.some((r) => r['mode'] === 'decision' && r['decision'] === 'allow' && r['reason'] === 'public'));
});
