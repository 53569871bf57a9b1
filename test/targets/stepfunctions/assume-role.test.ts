/**
 * AssumeRole parameters from claims, fitted to STS's limits, and the per-caller session cache
 * (against the local STS, which enforces those limits and checks SigV4).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Identity } from '../../../src/identity/types.ts';
import {
  assumeRoleInput,
  createRoleSessions,
  sessionTagKey,
  sessionTagValue,
  stsName,
} from '../../../src/targets/stepfunctions/assume-role.ts';
import { startTestStepFunctions, TEST_AWS, type TestStepFunctions } from '../../support/stepfunctions.ts';

const ROLE = 'arn:aws:iam::123456789012:role/deployer';

function identity(sub: string, claims: Record<string, unknown> = {}): Identity {
  return {
    issuer: 'ci',
    iss: 'https://issuer.example.com',
    sub,
    clientId: undefined,
    scopes: [],
    roles: [],
    groups: [],
    claims: { sub, ...claims },
    authMethod: 'bearer',
    tokenId: 'j',
    expiresAt: 0,
  };
}

describe('fitting claims to STS', () => {
  const names: [string, RegExp][] = [
    ['alice', /^alice$/],
    ['dev@example.com', /^dev@example\.com$/],
    ['a', /^a\.[a-z2-7]{16}$/],
    ['aws:root', /^aws_root\.[a-z2-7]{16}$/],
    ['AWS:x', /^AWS_x\.[a-z2-7]{16}$/],
    ['repo:acme/app:ref:refs/heads/main', /^repo_acme_app_ref_refs_heads_main\.[a-z2-7]{16}$/],
    ['x'.repeat(100), /^x{47}\.[a-z2-7]{16}$/],
    ['a"b\nc\u0000d\u2028e', /^a_b_c_d_e\.[a-z2-7]{16}$/],
  ];
  for (const [value, expected] of names) {
    it(`SourceIdentity ${JSON.stringify(value).slice(0, 40)} → ${expected}`, () => {
      const fitted = stsName(value);
      assert.match(fitted, expected);
      assert.match(fitted, /^[\w+=,.@-]{2,64}$/);
    });
  }

  it('a value that had to change never equals one that did not', () => {
    assert.notEqual(stsName('a/b'), stsName('a_b'));
    assert.notEqual(stsName('a/b'), stsName('a:b'));
    // A verbatim value that looks fitted is fitted too, so it cannot be taken for another's.
    for (const fitted of [stsName("o'brien@corp.com"), sessionTagValue("o'brien@corp.com")]) {
      assert.notEqual(stsName(fitted), fitted);
      assert.notEqual(sessionTagValue(fitted), fitted);
      assert.notEqual(stsName(fitted.toUpperCase()).toLowerCase(), fitted);
    }
  });

  it('tags keep STS’s wider alphabet (letters, spaces, : / = + - @) and its lengths', () => {
    assert.equal(sessionTagValue('acme/app'), 'acme/app');
    assert.equal(sessionTagValue('Ünïcode wörds: a=b+c@d'), 'Ünïcode wörds: a=b+c@d');
    assert.equal(sessionTagValue(''), '');
    assert.match(sessionTagValue('a"b,c'), /^a_b_c\.[a-z2-7]{16}$/);
    assert.equal(sessionTagValue('v'.repeat(300)).length, 256);
    assert.equal(sessionTagKey('https://example.com/claims/team'), 'https://example.com/claims/team');
    assert.equal(sessionTagKey('k'.repeat(200)).length, 128);
  });

  it('builds the AssumeRole input: SourceIdentity from the configured claim, tags only for present scalar claims', () => {
    const input = assumeRoleInput(
      {
        assumeRoleArn: ROLE,
        sourceIdentity: 'actor',
        sessionTags: ['repository', 'missing', 'list', 'run_attempt', 'Repository'],
      },
      identity('repo:acme/app:ref:refs/heads/main', {
        actor: 'octocat',
        repository: 'acme/app',
        list: ['a'],
        run_attempt: 2,
      }),
    );
    assert.equal(input.SourceIdentity, 'octocat');
    assert.equal(input.RoleArn, ROLE);
    assert.match(input.RoleSessionName!, /^[\w+=,.@-]{2,64}$/);
    assert.deepEqual(input.Tags, [
      { Key: 'repository', Value: 'acme/app' },
      { Key: 'run_attempt', Value: '2' },
    ]);
    assert.equal(input.DurationSeconds, 900);
  });

  it('refuses a caller without the SourceIdentity claim', () => {
    assert.throws(() => assumeRoleInput({ assumeRoleArn: ROLE, sourceIdentity: 'email' }, identity('x')), {
      code: 'SG_ERR_POLICY_DENIED',
    });
  });
});

describe('the session cache', () => {
  let sfn: TestStepFunctions;
  before(async () => {
    sfn = await startTestStepFunctions({ allowedRoles: [ROLE] });
  });
  after(() => sfn.close());

  it('reuses a caller’s session until shortly before it expires, then assumes again', async () => {
    let now = Date.now();
    const made: string[] = [];
    const sessions = createRoleSessions(
      { assumeRoleArn: ROLE, stsEndpoint: sfn.url, durationSeconds: 900 },
      {
        region: sfn.region,
        timeoutMs: 2000,
        now: () => now,
        make: (credentials) => {
          made.push(credentials.accessKeyId);
          return credentials.accessKeyId;
        },
        stsConfig: { credentials: { ...TEST_AWS } },
      },
    );
    try {
      const first = await sessions.get(identity('alice'));
      assert.equal(await sessions.get(identity('alice')), first);
      now += 600_000; // 10 of 15 minutes: still fresh
      assert.equal(await sessions.get(identity('alice')), first);
      now += 120_000; // 3 minutes left: renewed
      const second = await sessions.get(identity('alice'));
      assert.notEqual(second, first);
      assert.equal(made.length, 2);
      await sessions.get(identity('bob'));
      assert.equal(made.length, 3);
      assert.equal(sessions.size, 2);
    } finally {
      sessions.close();
    }
  });
});
