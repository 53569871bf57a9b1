/**
 * `stepgate serve` as an operator meets it (issue 8, item 12), as a real process: after SIGTERM
 * it is gone once the last request is answered, not after the whole `shutdownGraceMs`, though a
 * keep-alive client stays connected and AWS and Redis clients are open; it leaves a final signed
 * checkpoint. A port in use is one line naming the key, and a non-zero exit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { verifyAuditFile } from '../../src/audit/verify.ts';
import { startIssuer, type TestIssuer } from '../support/issuer.ts';
import { serve } from '../support/serve-process.ts';
import { startTestStepFunctions, TEST_AWS, type TestStepFunctions } from '../support/stepfunctions.ts';

let issuer: TestIssuer;
let sfn: TestStepFunctions;
let slow: Server;
let slowUrl: string;

before(async () => {
  issuer = await startIssuer();
  sfn = await startTestStepFunctions();
  slow = createServer((_req, res) => setTimeout(() => res.end('done'), 500));
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  slowUrl = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
});

after(async () => {
  slow.closeAllConnections();
  await new Promise((resolve) => slow.close(resolve));
  await sfn.close();
  await issuer.close();
});

/** GET or POST over `agent`, answered as status and body. */
function send(agent: Agent, url: string, init: { method?: string; token?: string; body?: string } = {}) {
  return new Promise<{ status: number; body: string; at: number }>((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (init.token) headers['authorization'] = `Bearer ${init.token}`;
    const req = request(url, { agent, method: init.method ?? 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, at: performance.now() }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

describe('stepgate serve stops promptly', () => {
  it('exits within 2 s of answering the last request, with a keep-alive client, AWS and Redis open and a 60 s grace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-shutdown-'));
    const auditFile = join(dir, 'audit.jsonl');
    const keyFile = join(dir, 'checkpoint.pem');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const redis = process.env['STEPGATE_TEST_REDIS_URL'];
    const configFile = join(dir, 'gateway.yaml');
    writeFileSync(
      configFile,
      [
        'server: { host: 127.0.0.1, port: 0, shutdownGraceMs: 60000 }',
        'admin: { host: 127.0.0.1, port: 0 }',
        `issuers: [{ name: ci, issuer: "${issuer.issuer}", audiences: [stepgate], jwksUri: "${issuer.jwksUri}" }]`,
        ...(redis ? [`redis: { url: "${redis}", keyPrefix: "stepgate-shutdown-${process.pid}:" }`] : []),
        'targets:',
        `  slow: { type: http, url: "${slowUrl}" }`,
        `  deploy: { type: stepfunctions, stateMachineArn: "${sfn.stateMachineArn('deploy')}", region: ${sfn.region}, endpoint: "${sfn.url}" }`,
        'routes:',
        '  - { name: slow, path: /slow, target: slow, public: true }',
        '  - { name: limited, path: /limited, target: slow, public: true, rateLimit: { perCaller: 100, windowSeconds: 60 } }',
        '  - { name: deploy, path: /deploy, methods: [POST], target: deploy, allow: { scopes: [deploy] } }',
        `audit: { sinks: [{ type: file, path: "${auditFile}" }], checkpoints: { keyFile: "${keyFile}", everyRecords: 1000 } }`,
      ].join('\n'),
    );
    const gateway = serve(configFile, {
      AWS_ACCESS_KEY_ID: TEST_AWS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_AWS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    });
    const url = await gateway.listening;
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const other = new Agent({ keepAlive: true });
    try {
      // Open clients of every kind: an idle keep-alive connection, the AWS SDK's, Redis's.
      assert.equal((await send(keepAlive, `${url}/slow`)).status, 200);
      const token = await issuer.sign({ sub: 'deployer', scope: 'deploy' });
      const started = await send(other, `${url}/deploy`, { method: 'POST', token, body: '{}' });
      assert.equal(started.status, 202, started.body);
      assert.equal((await send(other, `${url}/limited`)).status, 200);

      const arrived = once(slow, 'request');
      const inFlight = send(other, `${url}/slow`);
      await arrived; // at the upstream, which answers 500 ms later
      gateway.child.kill('SIGTERM');
      const answered = await inFlight;
      assert.equal(answered.status, 200, 'the request in flight is answered');
      const { code, at } = await gateway.exited;
      assert.equal(code, 0, gateway.output());
      const ms = at - answered.at;
      assert.ok(ms < 2000, `exited ${Math.round(ms)} ms after the last answer`);
    } finally {
      keepAlive.destroy();
      other.destroy();
      gateway.child.kill('SIGKILL');
    }
    const lines = readFileSync(auditFile, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 6, 'five records (the start has an intent and an outcome) and the final checkpoint');
    assert.equal(JSON.parse(lines.at(-1)!).final, true);
    const verified = await verifyAuditFile(auditFile, { publicKey });
    assert.equal(verified.ok, true, verified.message);
  });
});

describe('stepgate serve on a port in use', () => {
  for (const key of ['server', 'admin'] as const) {
    it(`${key}.port: one line naming the key, no stack trace, exit non-zero`, async () => {
      const holder = createTcpServer();
      await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
      const port = (holder.address() as AddressInfo).port;
      try {
        const dir = mkdtempSync(join(tmpdir(), 'stepgate-port-'));
        const configFile = join(dir, 'gateway.yaml');
        writeFileSync(
          configFile,
          [
            `server: { host: 127.0.0.1, port: ${key === 'server' ? port : 0} }`,
            `admin: { host: 127.0.0.1, port: ${key === 'admin' ? port : 0} }`,
            `targets: { slow: { type: http, url: "${slowUrl}" } }`,
            'routes: [{ name: slow, path: /slow, target: slow, public: true }]',
            'audit: { sinks: [{ type: stdout }] }',
          ].join('\n'),
        );
        const gateway = serve(configFile);
        const { code } = await gateway.exited;
        assert.notEqual(code, 0);
        const stderrLines = gateway.output().trim().split('\n').filter((line) => !line.startsWith('{'));
        assert.deepEqual(stderrLines, [
          `stepgate: ${key}.port: 127.0.0.1:${port} is already in use; stop what holds it or choose another port`,
        ]);
      } finally {
        holder.close();
      }
    });
  }
});
