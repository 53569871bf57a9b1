/**
 * The local endpoint verifies SigV4 for real: a correctly signed call is accepted, and every
 * kind of forgery is refused — over real sockets, with the AWS SDK and with hand-made requests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac } from 'node:crypto';
import { startTestStepFunctions, TEST_AWS, type TestStepFunctions } from '../../support/stepfunctions.ts';

let sfn: TestStepFunctions;

before(async () => {
  sfn = await startTestStepFunctions();
});
after(() => sfn.close());

const client = (
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
  region = sfn.region,
) => new SFNClient({ endpoint: sfn.url, region, credentials, maxAttempts: 1 });

class Sha256 {
  readonly #h;
  constructor(secret?: unknown) {
    this.#h = secret === undefined ? createHash('sha256') : createHmac('sha256', secret as Uint8Array);
  }

  update(data: string | Uint8Array) {
    this.#h.update(data);
  }

  async digest() {
    return new Uint8Array(this.#h.digest());
  }
}

/** Signs a ListExecutions request by hand, so a test can change it after signing. */
async function signed(body: string, options: { date?: Date; service?: string; secret?: string } = {}) {
  const url = new URL(sfn.url);
  const signer = new SignatureV4({
    service: options.service ?? 'states',
    region: sfn.region,
    credentials: {
      accessKeyId: TEST_AWS.accessKeyId,
      secretAccessKey: options.secret ?? TEST_AWS.secretAccessKey,
    },
    sha256: Sha256,
  });
  const request = await signer.sign(
    new HttpRequest({
      method: 'POST',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/',
      headers: {
        host: url.host,
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'AWSStepFunctions.ListExecutions',
      },
      body,
    }),
    options.date ? { signingDate: options.date } : {},
  );
  return request.headers;
}

async function send(headers: Record<string, string>, body: string) {
  const { host: _host, ...rest } = headers;
  const res = await fetch(sfn.url, { method: 'POST', headers: rest, body });
  return { status: res.status, type: res.headers.get('x-amzn-errortype') };
}

const listBody = () => JSON.stringify({ stateMachineArn: sfn.stateMachineArn('deploy') });

describe('SigV4 at the local endpoint', () => {
  it('accepts a call the SDK signed with a configured key', async () => {
    const out = await client({ ...TEST_AWS }).send(
      new ListExecutionsCommand({ stateMachineArn: sfn.stateMachineArn('deploy') }),
    );
    assert.ok(Array.isArray(out.executions));
    const body = listBody();
    assert.equal((await send(await signed(body), body)).status, 200, 'and one signed by hand');
  });

  it('refuses a wrong secret', async () => {
    await assert.rejects(
      client({ accessKeyId: TEST_AWS.accessKeyId, secretAccessKey: 'guess' }).send(
        new ListExecutionsCommand({ stateMachineArn: sfn.stateMachineArn('deploy') }),
      ),
      { name: 'InvalidSignatureException' },
    );
  });

  it('refuses an unknown access key', async () => {
    await assert.rejects(
      client({ accessKeyId: 'AKIAUNKNOWN', secretAccessKey: TEST_AWS.secretAccessKey }).send(
        new ListExecutionsCommand({ stateMachineArn: sfn.stateMachineArn('deploy') }),
      ),
      { name: 'UnrecognizedClientException' },
    );
  });

  it('refuses a signature for another region', async () => {
    await assert.rejects(
      client({ ...TEST_AWS }, 'eu-west-1').send(
        new ListExecutionsCommand({ stateMachineArn: sfn.stateMachineArn('deploy') }),
      ),
      { name: 'InvalidSignatureException' },
    );
  });

  it('refuses a body changed after signing', async () => {
    const headers = await signed(listBody());
    const tampered = JSON.stringify({ stateMachineArn: sfn.stateMachineArn('check') });
    assert.deepEqual(await send(headers, tampered), { status: 400, type: 'InvalidSignatureException' });
  });

  it('refuses a signed header changed after signing', async () => {
    const headers = await signed(listBody());
    headers['x-amz-target'] = 'AWSStepFunctions.DescribeExecution';
    assert.equal((await send(headers, listBody())).status, 400);
  });

  it('refuses a signature for another service', async () => {
    const body = listBody();
    assert.equal(
      (await send(await signed(body, { service: 'lambda' }), body)).type,
      'InvalidSignatureException',
    );
  });

  it('refuses a replay signed 20 minutes ago', async () => {
    const body = listBody();
    const old = await signed(body, { date: new Date(Date.now() - 20 * 60 * 1000) });
    assert.equal((await send(old, body)).type, 'InvalidSignatureException');
  });

  it('refuses a request with no signature, or a forged Authorization', async () => {
    const body = listBody();
    assert.equal(
      (
        await send(
          {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': 'AWSStepFunctions.ListExecutions',
          } as never,
          body,
        )
      ).type,
      'MissingAuthenticationTokenException',
    );
    const headers = await signed(body);
    headers['authorization'] = headers['authorization']!.replace(
      /Signature=[0-9a-f]{64}/,
      `Signature=${'0'.repeat(64)}`,
    );
    assert.equal((await send(headers, body)).type, 'InvalidSignatureException');
  });

  it('refuses an x-amz-content-sha256 that does not match the body', async () => {
    const body = listBody();
    const headers = await signed(body);
    headers['x-amz-content-sha256'] = createHash('sha256').update('other').digest('hex');
    assert.equal((await send(headers, body)).status, 400);
  });

  it('STS checks signatures too, and its session credentials need their token', async () => {
    const sts = new STSClient({
      endpoint: sfn.url,
      region: sfn.region,
      credentials: { ...TEST_AWS },
      maxAttempts: 1,
    });
    const me = await sts.send(new GetCallerIdentityCommand({}));
    assert.equal(me.Account, '123456789012');
    const bad = new STSClient({
      endpoint: sfn.url,
      region: sfn.region,
      credentials: { ...TEST_AWS, secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    await assert.rejects(bad.send(new GetCallerIdentityCommand({})), { name: 'SignatureDoesNotMatch' });
  });
});
