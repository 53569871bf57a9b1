/**
 * What a caller sees when argo-server (or the way to it) fails: each failure a catalog code
 * that names it, 502/503/504 for the gateway's side, a 400 for arguments argo-server judged,
 * the intent and the outcome audited, the service-account token re-read when its file changes,
 * and argo-server's TLS certificate checked against `caFile`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startLocalArgo } from '../../../src/dev/argo/server.ts';
import {
  ARGO_SERVICE_ACCOUNT,
  type ArgoStack,
  argoConfig,
  DEPLOY_TEMPLATE,
  RELEASE_TEMPLATE,
  startArgoStack,
  type TestArgo,
} from '../../support/argo.ts';
import { startGateway, type TestGateway } from '../../support/gateway.ts';
import { githubActionsClaims, type TestIssuer } from '../../support/issuer.ts';
import { auditOf, call } from '../../support/stepfunctions.ts';

let stack: ArgoStack;
let github: TestIssuer;
let ops: TestIssuer;
let argo: TestArgo;
let gateway: TestGateway;

before(async () => {
  stack = await startArgoStack({ deploy: { timeoutMs: 400 } });
  ({ github, ops, argo, gateway } = stack);
});

after(() => stack.close());

async function deploy(
  body: Record<string, unknown> = { version: '1.0.0' },
  headers: Record<string, string> = {},
  target: TestGateway = gateway,
) {
  const { res, json, text } = await call(target, '/argo/deploy', {
    token: await github.sign(githubActionsClaims()),
    body,
    headers,
  });
  const audit = await auditOf(target, res.headers.get('x-request-id')!);
  return { status: res.status, res, problem: json(), text, ...audit };
}

describe('argo-server refuses the gateway', () => {
  it('401 (its token is not accepted) is a 502 SG_ERR_ARGO_UNAUTHENTICATED, after the intent', async () => {
    argo.setServiceAccounts([{ token: 'someone-else', name: ARGO_SERVICE_ACCOUNT }]);
    try {
      const { status, problem, intent, outcome, text } = await deploy();
      assert.equal(status, 502);
      assert.equal(problem['code'], 'SG_ERR_ARGO_UNAUTHENTICATED');
      assert.ok(intent, 'the intent was recorded before argo-server was asked');
      assert.equal(outcome.decision, 'allow');
      assert.equal(outcome.reason, 'upstream_error');
      assert.equal(outcome.target?.error, 'Unauthenticated');
      assert.ok(!text.includes(argo.token) && !gateway.audit.text().includes(argo.token));
    } finally {
      argo.setServiceAccounts([{ token: argo.token, name: ARGO_SERVICE_ACCOUNT }]);
    }
  });

  it('403 (RBAC: may not create workflows) is a 502 SG_ERR_ARGO_FORBIDDEN', async () => {
    argo.setServiceAccounts([
      { token: argo.token, name: ARGO_SERVICE_ACCOUNT, can: { workflows: ['get', 'list'], workflowtemplates: ['get'] } },
    ]);
    try {
      const { status, problem, outcome } = await deploy();
      assert.equal(status, 502);
      assert.equal(problem['code'], 'SG_ERR_ARGO_FORBIDDEN');
      assert.ok(!String(problem['detail']).includes('system:serviceaccount'), 'RBAC internals stay in the log');
      assert.equal(outcome.target?.error, 'PermissionDenied');
    } finally {
      argo.setServiceAccounts([{ token: argo.token, name: ARGO_SERVICE_ACCOUNT }]);
    }
  });

  it('403 (RBAC: may not get the template) is a 502 SG_ERR_ARGO_FORBIDDEN', async () => {
    argo.setServiceAccounts([{ token: argo.token, name: ARGO_SERVICE_ACCOUNT, can: { workflows: ['create', 'get'] } }]);
    try {
      const { status, problem } = await deploy();
      assert.equal(status, 502);
      assert.equal(problem['code'], 'SG_ERR_ARGO_FORBIDDEN');
    } finally {
      argo.setServiceAccounts([{ token: argo.token, name: ARGO_SERVICE_ACCOUNT }]);
    }
  });

  it('a missing template is a 502 SG_ERR_ARGO_TEMPLATE_NOT_FOUND', async () => {
    argo.deleteTemplate('WorkflowTemplate', DEPLOY_TEMPLATE.namespace, 'deploy');
    try {
      const { status, problem, outcome } = await deploy();
      assert.equal(status, 502);
      assert.equal(problem['code'], 'SG_ERR_ARGO_TEMPLATE_NOT_FOUND');
      assert.equal(outcome.target?.error, 'NotFound');
    } finally {
      argo.putTemplate(DEPLOY_TEMPLATE);
    }
  });
});

describe('argo-server refuses the arguments', () => {
  it('a value outside the template’s enum is a 400 that says so', async () => {
    const { status, problem, outcome } = await deploy({ version: '1', environment: 'moon' });
    assert.equal(status, 400);
    assert.equal(problem['code'], 'SG_ERR_ARGO_INVALID_ARGUMENTS');
    assert.match(String(problem['detail']), /spec\.arguments\.environment\.value should be present in .*enum list/);
    assert.equal(outcome.target?.error, 'InvalidArgument');
  });

  it('a parameter the template requires and the body lacks is a 400', async () => {
    const { status, problem } = await deploy({ service: 'orders' });
    assert.equal(status, 400);
    assert.match(String(problem['detail']), /spec\.arguments\.version\.value .* is required/);
  });
});

describe('argo-server is not there, slow, or broken', () => {
  it('no answer within timeoutMs is a 504 SG_ERR_ARGO_TIMEOUT', async () => {
    argo.inject('submit', { kind: 'hang' });
    const { status, problem, outcome } = await deploy();
    assert.equal(status, 504);
    assert.equal(problem['code'], 'SG_ERR_ARGO_TIMEOUT');
    assert.equal(outcome.target?.error, 'Timeout');
  });

  it('a reset connection or an answer that is not JSON is a 502 SG_ERR_ARGO_UNAVAILABLE', async () => {
    for (const kind of ['reset', 'garbage'] as const) {
      argo.inject('submit', { kind });
      const { status, problem } = await deploy();
      assert.equal(status, 502, kind);
      assert.equal(problem['code'], 'SG_ERR_ARGO_UNAVAILABLE', kind);
    }
  });

  it('Unavailable (503) is a 503 SG_ERR_ARGO_BUSY with Retry-After', async () => {
    argo.inject('submit', { kind: 'error', status: 'Unavailable' });
    const { status, problem, res } = await deploy();
    assert.equal(status, 503);
    assert.equal(problem['code'], 'SG_ERR_ARGO_BUSY');
    assert.equal(res.headers.get('retry-after'), '1');
  });

  it('after a lost answer (created, then a 500), a retry with the same key gets that workflow', async () => {
    argo.inject('submit', { kind: 'fail-after' });
    const headers = { 'idempotency-key': 'lost-answer-1' };
    const count = argo.workflows().length;
    const lost = await deploy({ version: '3.0.0' }, headers);
    assert.equal(lost.status, 502);
    assert.equal(lost.problem['code'], 'SG_ERR_ARGO_UNAVAILABLE');
    assert.equal(argo.workflows().length, count + 1, 'it was created');
    const retry = await deploy({ version: '3.0.0' }, headers);
    assert.equal(retry.status, 202);
    assert.equal(retry.res.headers.get('idempotent-replayed'), 'true');
    assert.equal(argo.workflows().length, count + 1, 'not twice');
  });

  it('an argo-server nobody listens on is a 502 SG_ERR_ARGO_UNAVAILABLE', async () => {
    const closed = await startLocalArgo({ serviceAccounts: [] });
    await closed.close();
    const other = await startGateway(argoConfig(github, ops, { ...argo, url: closed.url }));
    try {
      const { status, problem, outcome } = await deploy(undefined, {}, other);
      assert.equal(status, 502);
      assert.equal(problem['code'], 'SG_ERR_ARGO_UNAVAILABLE');
      assert.equal(outcome.target?.error, 'ECONNREFUSED');
    } finally {
      await other.close();
    }
  });
});

describe('the service-account token file', () => {
  it('is read again when it changes (a rotation), and not otherwise', async () => {
    assert.equal((await deploy()).status, 202);
    const rotated = argo.rotateToken();
    const after = await deploy();
    assert.equal(after.status, 202, 'the new token was read');
    assert.equal(argo.calls.at(-1)!.serviceAccount, ARGO_SERVICE_ACCOUNT);
    assert.equal(readFileSync(argo.tokenFile, 'utf8'), rotated);
  });

  it('missing is a 503 SG_ERR_ARGO_TOKEN_UNAVAILABLE, and nothing is sent', async () => {
    const saved = readFileSync(argo.tokenFile, 'utf8');
    unlinkSync(argo.tokenFile);
    const asked = argo.calls.length;
    try {
      const { status, problem, intent } = await deploy();
      assert.equal(status, 503);
      assert.equal(problem['code'], 'SG_ERR_ARGO_TOKEN_UNAVAILABLE');
      assert.equal(intent, undefined);
      assert.equal(argo.calls.length, asked);
      writeFileSync(argo.tokenFile, '   \n');
      assert.equal((await deploy()).problem['code'], 'SG_ERR_ARGO_TOKEN_UNAVAILABLE', 'an empty token is none');
    } finally {
      writeFileSync(argo.tokenFile, saved);
    }
    assert.equal((await deploy()).status, 202);
  });
});

describe('an https argo-server', () => {
  let dir: string;
  let tlsArgo: Awaited<ReturnType<typeof startLocalArgo>>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stepgate-argo-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    tlsArgo = await startLocalArgo({
      tls: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      serviceAccounts: [{ token: argo.token, name: ARGO_SERVICE_ACCOUNT }],
      templates: [DEPLOY_TEMPLATE, RELEASE_TEMPLATE],
    });
  });
  after(async () => {
    await tlsArgo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is trusted only through caFile: without it 502 and nothing created, with it 202', async () => {
    tlsArgo.setServiceAccounts([{ token: argo.token, name: ARGO_SERVICE_ACCOUNT }]);
    const untrusting = await startGateway(argoConfig(github, ops, { ...argo, url: tlsArgo.url }));
    const trusting = await startGateway(
      argoConfig(github, ops, { ...argo, url: tlsArgo.url }, { deploy: { caFile: join(dir, 'cert.pem') } }),
    );
    try {
      const refused = await deploy(undefined, {}, untrusting);
      assert.equal(refused.status, 502);
      assert.equal(refused.problem['code'], 'SG_ERR_ARGO_UNAVAILABLE');
      assert.equal(tlsArgo.workflows().length, 0);
      const accepted = await deploy(undefined, {}, trusting);
      assert.equal(accepted.status, 202, JSON.stringify(accepted.problem));
      assert.equal(tlsArgo.workflows().length, 1);
    } finally {
      await Promise.all([untrusting.close(), trusting.close()]);
    }
  });
});
