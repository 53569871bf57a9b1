/**
 * credentials.assumeRoleArn against an STS-compatible endpoint that checks SigV4 and STS's own
 * limits: executions are started by an assumed-role session whose SourceIdentity and session tags
 * are the caller's claims (fitted to STS's alphabet), cached per caller.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { githubActionsClaims } from '../../support/issuer.ts';
import { auditOf, call, stepFunctionsConfig, TEST_AWS, useTestAwsCredentials } from '../../support/stepfunctions.ts';
import { withGateway } from '../../support/with-gateway.ts';

const ROLE = 'arn:aws:iam::123456789012:role/deployer';

function config(overrides: Record<string, unknown> = {}) {
  return stepFunctionsConfig(stack.issuer, stack.sfn, {
    deploy: {
      credentials: {
        assumeRoleArn: ROLE,
        sessionTags: ['repository', 'environment', 'note'],
        stsEndpoint: stack.sfn.url,
        ...overrides,
      },
    },
  });
}

const stack = withGateway({ sfn: { allowedRoles: [ROLE] }, config: () => config() });

async function deploy(gw: TestGateway, claims: Record<string, unknown>) {
  const t = await stack.issuer.sign({ scope: 'deploy:start', ...claims });
  return call(gw, '/workflows/deploy', { token: t, body: { version: '1' } });
}

const assumeCalls = () => stack.sfn.issued.length;

describe('assume-role per caller', () => {
  it('starts the execution as an assumed-role session that names the caller', async () => {
    const { res, json } = await deploy(stack.gateway, {
      sub: 'alice',
      repository: 'acme/app',
      environment: 'production',
    });
    assert.equal(res.status, 202);
    const execution = await stack.sfn.finished(json<{ executionArn: string }>().executionArn);
    assert.match(execution.startedBy.arn, /^arn:aws:sts::123456789012:assumed-role\/deployer\//);
    assert.equal(execution.startedBy.sourceIdentity, 'alice');
    assert.deepEqual(execution.startedBy.sessionTags, { repository: 'acme/app', environment: 'production' });
    const session = stack.sfn.issued.at(-1)!;
    assert.equal(session.roleArn, ROLE);
    assert.equal(session.principal.sourceIdentity, 'alice');
    // The gateway's own keys signed AssumeRole; the session's keys signed StartExecution.
    const assume = stack.sfn.calls.filter((c) => c.operation === 'AssumeRole').at(-1)!;
    assert.equal(assume.accessKeyId, TEST_AWS.accessKeyId);
    assert.equal(execution.startedBy.accessKeyId, session.accessKeyId);
  });

  it('caches the session per caller; another caller or other claims get their own', async () => {
    const before = assumeCalls();
    await deploy(stack.gateway, { sub: 'carol', repository: 'acme/app', environment: 'staging' });
    await deploy(stack.gateway, { sub: 'carol', repository: 'acme/app', environment: 'staging' });
    assert.equal(assumeCalls(), before + 1, 'one AssumeRole for two requests');
    await deploy(stack.gateway, { sub: 'dave', repository: 'acme/app', environment: 'staging' });
    assert.equal(assumeCalls(), before + 2);
    await deploy(stack.gateway, { sub: 'carol', repository: 'acme/app', environment: 'production' });
    assert.equal(assumeCalls(), before + 3, 'a session never carries another token’s tags');
    const parallel = await Promise.all(
      [1, 2, 3].map(() => deploy(stack.gateway, { sub: 'erin', repository: 'acme/app' })),
    );
    assert.deepEqual(
      parallel.map((p) => p.res.status),
      [202, 202, 202],
    );
    assert.equal(assumeCalls(), before + 4, 'concurrent first requests share one AssumeRole');
  });

  it('fits GitHub Actions subjects and hostile claims into what STS accepts, distinctly', async () => {
    const hostile = 'x"y\nz\u0000w\u2028 <script> ' + 'long'.repeat(100) + ' 🚀';
    const gh = githubActionsClaims({ note: hostile });
    const first = await deploy(stack.gateway, gh);
    assert.equal(first.res.status, 202, first.text);
    const execution = await stack.sfn.finished(first.json<{ executionArn: string }>().executionArn);
    const source = execution.startedBy.sourceIdentity!;
    assert.match(source, /^[\w+=,.@-]{2,64}$/);
    assert.ok(source.startsWith('repo_acme_app_ref_refs_heads_main.'), source);
    const tags = execution.startedBy.sessionTags!;
    assert.equal(tags['repository'], 'acme/app');
    assert.equal(tags['environment'], 'production');
    assert.ok(tags['note']!.length <= 256);
    assert.match(tags['note']!, /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u);
    const lookalike = await deploy(stack.gateway, { ...gh, sub: 'repo_acme_app_ref_refs_heads_main' });
    const other = await stack.sfn.finished(lookalike.json<{ executionArn: string }>().executionArn);
    assert.notEqual(
      other.startedBy.sourceIdentity,
      source,
      'a sanitized value never equals another caller’s',
    );
  });

  it('a claim that spells another caller’s fitted value gets its own SourceIdentity and tags', async () => {
    const byEmail = await startGateway(config({ sourceIdentity: 'email', sessionTags: ['email', 'team'] }));
    try {
      await waitReady(byEmail);
      const startedBy = async (claims: Record<string, unknown>) => {
        const { res, json } = await deploy(byEmail, claims);
        assert.equal(res.status, 202);
        return (await stack.sfn.finished(json<{ executionArn: string }>().executionArn)).startedBy;
      };
      const victim = await startedBy({ sub: 'victim', email: "o'brien@corp.com", team: "o'brien@corp.com" });
      assert.match(victim.sourceIdentity!, /^o_brien@corp\.com\.[a-z2-7]{10,16}$/);
      assert.match(victim.sessionTags!['email']!, /^o_brien@corp\.com\.[a-z2-7]{10,16}$/);
      // The attacker's claims are exactly the victim's fitted values, and the shorter spelling
      // of issue 8; both fit STS's alphabets as they are.
      for (const spelling of [victim.sourceIdentity!, victim.sessionTags!['email']!, 'o_brien@corp.com.5ei4kdc2uq']) {
        for (const value of [spelling, spelling.toUpperCase()]) {
          const attacker = await startedBy({ sub: 'attacker', email: value, team: value });
          assert.notEqual(attacker.sourceIdentity?.toLowerCase(), victim.sourceIdentity!.toLowerCase(), value);
          assert.notEqual(attacker.sessionTags!['email'], victim.sessionTags!['email'], value);
          assert.notEqual(attacker.sessionTags!['team'], victim.sessionTags!['team'], value);
        }
      }
      // A claim that fits and does not look fitted is still kept as it is.
      assert.equal((await startedBy({ sub: 'plain', email: 'dev@corp.com' })).sourceIdentity, 'dev@corp.com');
    } finally {
      await byEmail.close();
    }
  });

  it('the session also reads the caller’s executions', async () => {
    const started = await deploy(stack.gateway, { sub: 'alice', repository: 'acme/app' });
    const t = await stack.issuer.sign({ sub: 'alice', scope: 'deploy:start', repository: 'acme/app' });
    const { res } = await call(stack.gateway, started.json<{ statusUrl: string }>().statusUrl, { token: t });
    assert.equal(res.status, 200);
  });

  it('a role STS will not give: 502, audited, nothing started', async () => {
    const denied = await startGateway(config({ assumeRoleArn: 'arn:aws:iam::123456789012:role/admin' }));
    try {
      await waitReady(denied);
      const before = stack.sfn.executions('deploy').length;
      const { res, json } = await deploy(denied, { sub: 'mallory' });
      assert.equal(res.status, 502);
      assert.equal(json<{ code: string }>().code, 'SG_ERR_AWS_ACCESS_DENIED');
      assert.equal(stack.sfn.executions('deploy').length, before);
      const { intent, outcome } = await auditOf(denied, res.headers.get('x-request-id')!);
      assert.ok(intent, 'the intent came before any AWS call');
      assert.equal(outcome.target?.error, 'AccessDenied');
    } finally {
      await denied.close();
    }
  });

  it('a missing SourceIdentity claim is refused, never an anonymous session', async () => {
    const strict = await startGateway(config({ sourceIdentity: 'email' }));
    try {
      await waitReady(strict);
      const before = assumeCalls();
      const { res } = await deploy(strict, { sub: 'no-email' });
      assert.equal(res.status, 403);
      assert.equal(assumeCalls(), before);
      const ok = await deploy(strict, { sub: 'has-email', email: 'dev@example.com' });
      assert.equal(ok.res.status, 202);
      const execution = await stack.sfn.finished(ok.json<{ executionArn: string }>().executionArn);
      assert.equal(execution.startedBy.sourceIdentity, 'dev@example.com');
    } finally {
      await strict.close();
    }
  });

  it('the STS endpoint checks the signature: wrong gateway keys are refused (502)', async () => {
    process.env['AWS_SECRET_ACCESS_KEY'] = 'not-the-secret';
    const forged = await startGateway(config());
    try {
      await waitReady(forged);
      const before = assumeCalls();
      const { res, json } = await deploy(forged, { sub: 'alice' });
      assert.equal(res.status, 502);
      assert.equal(json<{ code: string }>().code, 'SG_ERR_AWS_ACCESS_DENIED');
      assert.equal(assumeCalls(), before);
      const refused = stack.sfn.calls.filter((c) => c.operation === 'AssumeRole').at(-1)!;
      assert.equal(refused.errorCode, 'SignatureDoesNotMatch');
    } finally {
      useTestAwsCredentials();
      await forged.close();
    }
  });
});
