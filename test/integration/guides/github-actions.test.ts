/**
 * docs/github-actions.md, tried: its gateway config (the issuer moved to a local server that
 * serves a JWKS, as GitHub's does) with tokens shaped exactly like GitHub Actions' (every claim
 * GitHub documents for its OIDC tokens, its `typ`/`x5t` header). The main-branch production job
 * is allowed; each refusal in the guide's table happens as the guide says.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { guideGatewayConfig } from '../../support/guides.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';

let github: TestIssuer;
let upstream: EchoUpstream;
let gateway: TestGateway;

/** A job's token as GitHub documents it ("Understanding the OIDC token"), for acme/app. */
function jobClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const ref = (overrides['ref'] as string | undefined) ?? 'refs/heads/main';
  const environment = 'environment' in overrides ? overrides['environment'] : 'production';
  const workflowRef = `acme/app/.github/workflows/deploy.yml@${ref}`;
  const claims: Record<string, unknown> = {
    jti: randomUUID(),
    sub: environment ? `repo:acme/app:environment:${String(environment)}` : `repo:acme/app:ref:${ref}`,
    aud: 'stepgate',
    ref,
    sha: 'c7b8e9d0a1f2e3d4c5b6a7980f1e2d3c4b5a6978',
    repository: 'acme/app',
    repository_owner: 'acme',
    repository_owner_id: '1001',
    repository_visibility: 'private',
    repository_id: '5001',
    run_id: '6010001',
    run_number: '42',
    run_attempt: '1',
    runner_environment: 'github-hosted',
    actor_id: '2001',
    actor: 'octocat',
    workflow: 'deploy',
    head_ref: '',
    base_ref: '',
    event_name: 'push',
    ref_protected: 'true',
    ref_type: 'branch',
    workflow_ref: workflowRef,
    workflow_sha: 'c7b8e9d0a1f2e3d4c5b6a7980f1e2d3c4b5a6978',
    job_workflow_ref: workflowRef,
    job_workflow_sha: 'c7b8e9d0a1f2e3d4c5b6a7980f1e2d3c4b5a6978',
    iss: github.issuer,
    nbf: now - 5,
    exp: now + 300,
    iat: now,
    ...(environment ? { environment } : {}),
    ...overrides,
  };
  if (environment === undefined) delete claims['environment'];
  return claims;
}

const ago = (seconds: number) => Math.floor(Date.now() / 1000) - seconds;

const sign = (claims: Record<string, unknown>) =>
  github.sign(claims, { typ: 'JWT', x5t: 'cEKO5aPkJ6cZ6T4qXo9LqhO2uwU', kid: github.key.kid });

before(async () => {
  [github, upstream] = await Promise.all([startIssuer(), startEchoUpstream()]);
  const config = JSON.parse(
    JSON.stringify(guideGatewayConfig('github-actions.md')).replaceAll(GITHUB, github.issuer),
  ) as Record<string, unknown> & { targets: Record<string, { url: string }> };
  config.targets['deploy']!.url = upstream.url;
  gateway = await startGateway(config);
  await waitReady(gateway);
});

after(async () => {
  await gateway.close();
  await Promise.all([github.close(), upstream.close()]);
});

const deploy = async (token: string) => {
  const res = await fetch(`${gateway.url}/workflows/deploy`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{"sha":"c7b8e9d"}',
  });
  const body = await res.text();
  return { status: res.status, body, requestId: res.headers.get('x-request-id')! };
};

describe('docs/github-actions.md, tried with GitHub-shaped tokens', () => {
  it('the main-branch production job of deploy.yml starts a deploy, audited with its claims', async () => {
    const res = await deploy(await sign(jobClaims()));
    assert.equal(res.status, 200, res.body);
    const echoed = JSON.parse(res.body) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-stepgate-subject'], 'repo:acme/app:environment:production');
    assert.equal(echoed.headers['x-stepgate-client'], 'acme/app/.github/workflows/deploy.yml@refs/heads/main');
    const record = await gateway.auditFor(res.requestId);
    assert.equal(record.caller?.issuer, 'github');
    assert.deepEqual(record.caller?.claims, {
      repository: 'acme/app',
      ref: 'refs/heads/main',
      environment: 'production',
      job_workflow_ref: 'acme/app/.github/workflows/deploy.yml@refs/heads/main',
      run_id: '6010001',
      actor: 'octocat',
    });
  });

  for (const [what, claims, code, names] of [
    ['runs on another branch', { ref: 'refs/heads/feature' }, 'SG_ERR_POLICY_DENIED', /ref/],
    ['has no environment', { environment: undefined }, 'SG_ERR_POLICY_DENIED', /environment/],
    [
      'is another workflow file of the same repository',
      { job_workflow_ref: 'acme/app/.github/workflows/sneaky.yml@refs/heads/main' },
      'SG_ERR_POLICY_DENIED',
      /job_workflow_ref/,
    ],
    ['asked for another audience', { aud: 'sts.amazonaws.com' }, 'SG_ERR_WRONG_AUDIENCE', /audience/],
    [
      'is older than its 5 minutes',
      { iat: ago(400), nbf: ago(400), exp: ago(100) },
      'SG_ERR_TOKEN_EXPIRED',
      /expired/,
    ],
  ] as const) {
    it(`a job that ${what} is refused (${code})`, async () => {
      const res = await deploy(await sign(jobClaims(claims)));
      assert.equal(res.status, code === 'SG_ERR_POLICY_DENIED' ? 403 : 401, res.body);
      const problem = JSON.parse(res.body) as { code: string; detail: string };
      assert.equal(problem.code, code);
      assert.match(problem.detail, names);
      assert.equal((await gateway.auditFor(res.requestId)).decision, 'deny');
    });
  }
});
