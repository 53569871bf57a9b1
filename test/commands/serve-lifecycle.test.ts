/**
 * `stepgate serve` as a user runs it: a real process. SIGTERM stops accepting, lets the request
 * in flight finish, flushes the audit log and exits 0.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyAuditFile } from '../../src/audit/verify.ts';
import { startIssuer, type TestIssuer } from '../support/issuer.ts';
import { serve } from '../support/serve-process.ts';

let issuer: TestIssuer;
let slow: Server;
let slowUrl: string;

before(async () => {
  issuer = await startIssuer();
  slow = createServer((_req, res) => setTimeout(() => res.end('done'), 600));
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
});

after(async () => {
  slow.closeAllConnections();
  await new Promise((resolve) => slow.close(resolve));
  await issuer.close();
});

describe('stepgate serve', () => {
  it('on SIGTERM finishes the request in flight, flushes the audit log and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-serve-'));
    const auditFile = join(dir, 'audit.jsonl');
    const configFile = join(dir, 'gateway.yaml');
    writeFileSync(
      configFile,
      [
        'server: { host: 127.0.0.1, port: 0 }',
        'admin: { host: 127.0.0.1, port: 0 }',
        `issuers: [{ name: ci, issuer: "${issuer.issuer}", audiences: [stepgate], jwksUri: "${issuer.jwksUri}" }]`,
        `targets: { slow: { type: http, url: "${slowUrl}" } }`,
        'routes: [{ name: slow, path: /slow, target: slow, allow: { scopes: [x] } }]',
        `audit: { sinks: [{ type: file, path: "${auditFile}" }] }`,
      ].join('\n'),
    );
    const gateway = serve(configFile);
    const url = await gateway.listening;

    const token = await issuer.sign({ sub: 'deployer', scope: 'x' });
    const arrived = once(slow, 'request');
    const inFlight = fetch(`${url}/slow`, { headers: { authorization: `Bearer ${token}` } });
    await arrived; // at the upstream, which answers 600 ms later
    gateway.child.kill('SIGTERM');

    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'done');
    assert.equal((await gateway.exited).code, 0, gateway.output());
    await assert.rejects(fetch(`${url}/slow`), 'no longer accepting');

    const records = readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(records.length, 1);
    assert.equal(records[0].status, 200);
    assert.equal(records[0].caller.sub, 'deployer');
    assert.equal((await verifyAuditFile(auditFile)).ok, true);
  });
});
