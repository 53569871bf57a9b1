/**
 * The body the caller sent is the input the execution gets (issue 8, items 5 and 6): numbers
 * arrive as written, in `input: body` and in the envelope's `body`; a name twice in one object
 * and nesting deeper than 64 are refused with a 400 before AWS is called, cheaply; an
 * Idempotency-Key compares bodies with their numbers as written, for async targets (AWS keeps
 * executions by name) and for sync targets deduplicated in Redis.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { redisUrl } from '../../support/services.ts';
import { auditOf, call, stepFunctionsConfig, uniqueId } from '../../support/stepfunctions.ts';
import { withGateway } from '../../support/with-gateway.ts';

let bodyOnly: TestGateway;
const stack = withGateway({
  // deploy's Task answers with a number JSON.parse could not keep: the status shows it as written.
  sfn: { functions: { deploy: () => ({ waitSeconds: 0, fail: false, big: JSON.rawJSON('12345678901234567891') }) } },
  config: ({ issuer, sfn }) => stepFunctionsConfig(issuer, sfn),
  setup: async () => {
    bodyOnly = await stack.startGateway(stepFunctionsConfig(stack.issuer, stack.sfn, { deploy: { input: 'body' } }));
  },
});

const token = () => stack.issuer.sign({ sub: 'ci-bot', scope: 'deploy:start' });
const startCalls = () => stack.sfn.calls.filter((c) => c.operation.startsWith('Start')).length;

async function post(gateway: TestGateway, body: string, headers: Record<string, string> = {}, path = '/workflows/deploy') {
  return call(gateway, path, {
    method: 'POST',
    token: await token(),
    body,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

async function inputOf(result: Awaited<ReturnType<typeof post>>): Promise<string> {
  assert.equal(result.res.status, 202, result.text);
  return (await stack.sfn.finished(result.json<{ executionArn: string }>().executionArn)).input;
}

describe('numbers reach the execution as written', () => {
  const numbers = '{"orderId":12345678901234567891,"limit":1e400,"price":10.50,"tiny":-0.0,"list":[1E+2,9007199254740993]}';

  it('input: body', async () => {
    assert.equal(await inputOf(await post(bodyOnly, numbers)), numbers);
  });

  it('input: envelope, in its body', async () => {
    const input = await inputOf(await post(stack.gateway, ` ${numbers.replace(/,/g, ' ,\n ')} `));
    assert.ok(input.startsWith(`{"body":${numbers},"caller":{`), input);
  });

  it('names like __proto__ stay data', async () => {
    const body = '{"__proto__":{"admin":true},"constructor":1}';
    assert.equal(await inputOf(await post(bodyOnly, body)), body);
  });
});

describe('the status shows the output as AWS wrote it', () => {
  it('GET /executions/{arn}', async () => {
    const started = await post(stack.gateway, '{}');
    const { executionArn, statusUrl } = started.json<{ executionArn: string; statusUrl: string }>();
    await stack.sfn.finished(executionArn);
    const read = await call(stack.gateway, statusUrl, { token: await token() });
    assert.equal(read.res.status, 200);
    assert.match(read.text, /"output":\{"deployment":\{"waitSeconds":0,"fail":false,"big":12345678901234567891\}\}/);
  });
});

describe('what cannot be kept is refused before AWS is called', () => {
  it('a name twice in one object: 400 SG_ERR_INVALID_JSON naming it', async () => {
    for (const body of [
      '{"orderId":1,"amount":1,"amount":1000}',
      '{"a":{"b":1,"\\u0062":2}}',
      '[{"x":1},{"y":{"z":[{"k":1,"k":1}]}}]',
    ]) {
      const calls = startCalls();
      const result = await post(bodyOnly, body);
      assert.equal(result.res.status, 400, body);
      const problem = result.json<{ code: string; detail: string; requestId: string }>();
      assert.equal(problem.code, 'SG_ERR_INVALID_JSON');
      assert.match(problem.detail, /twice in one object/);
      assert.equal(problem.requestId, result.res.headers.get('x-request-id'));
      assert.equal(startCalls(), calls, 'AWS was not called');
      const { outcome } = await auditOf(bodyOnly, problem.requestId);
      assert.equal(outcome.status, 400);
      assert.equal(outcome.reason, 'bad_request');
    }
  });

  it('the same name in different objects is fine', async () => {
    const body = '{"a":{"id":1},"b":{"id":2},"id":[{"id":3}]}';
    assert.equal(await inputOf(await post(bodyOnly, body)), body);
  });

  it('64 levels are taken; 65 are a 400 SG_ERR_JSON_TOO_DEEP', async () => {
    const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
    assert.equal(await inputOf(await post(bodyOnly, nested(64))), nested(64));
    const objects = (depth: number) => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);
    assert.ok((await inputOf(await post(stack.gateway, objects(64)))).startsWith(`{"body":${objects(64)},`));
    const calls = startCalls();
    const deep = await post(bodyOnly, nested(65));
    assert.equal(deep.res.status, 400);
    assert.equal(deep.json<{ code: string }>().code, 'SG_ERR_JSON_TOO_DEEP');
    assert.equal(startCalls(), calls);
  });

  it('the 256 KiB limit counts the input as it is sent, numbers as written', async () => {
    // JSON.parse reads this as Infinity, which would be sent as `null`: four bytes, not 270 000.
    const calls = startCalls();
    const huge = await post(bodyOnly, `{"n":1${'0'.repeat(270_000)}}`);
    assert.equal(huge.res.status, 413);
    assert.equal(huge.json<{ code: string }>().code, 'SG_ERR_INPUT_TOO_LARGE');
    assert.equal(startCalls(), calls);
  });

  it('a megabyte of nesting is refused quickly, never a 5xx', async () => {
    const huge = '['.repeat(400_000) + ']'.repeat(400_000);
    const deepObjects = '{"a":'.repeat(150_000) + '1' + '}'.repeat(150_000);
    for (const body of [huge, deepObjects, '['.repeat(1_000_000)]) {
      const started = performance.now();
      const result = await post(stack.gateway, body);
      const ms = performance.now() - started;
      assert.equal(result.res.status, 400, result.text.slice(0, 200));
      assert.equal(result.json<{ code: string }>().code, 'SG_ERR_JSON_TOO_DEEP');
      // Generous for a loaded machine; before the fix this was a 500 after about a second.
      assert.ok(ms < 1000, `took ${ms} ms`);
    }
  });
});

describe('an Idempotency-Key compares bodies with their numbers as written', () => {
  it('async: 9007199254740993 then 9007199254740992 is a 409, not a replay', async () => {
    const key = `k-${uniqueId()}`;
    const first = await post(bodyOnly, '{"id":9007199254740993}', { 'idempotency-key': key });
    assert.equal(first.res.status, 202);
    const same = await post(bodyOnly, '{ "id" : 9007199254740993 }', { 'idempotency-key': key });
    assert.equal(same.res.status, 202, 'whitespace does not matter');
    assert.equal(same.res.headers.get('idempotent-replayed'), 'true');
    const other = await post(bodyOnly, '{"id":9007199254740992}', { 'idempotency-key': key });
    assert.equal(other.res.status, 409);
    assert.equal(other.json<{ code: string }>().code, 'SG_ERR_IDEMPOTENCY_CONFLICT');
  });

  it('async envelope: 1.0 and 1 are different bodies', async () => {
    const key = `k-${uniqueId()}`;
    assert.equal((await post(stack.gateway, '{"n":1.0,"m":2}', { 'idempotency-key': key })).res.status, 202);
    const reordered = await post(stack.gateway, '{"m":2,"n":1.0}', { 'idempotency-key': key });
    assert.equal(reordered.res.status, 202, 'key order does not matter');
    assert.equal((await post(stack.gateway, '{"n":1,"m":2}', { 'idempotency-key': key })).res.status, 409);
  });

  it('sync with redis: the dedupe store compares numbers as written too', async (t) => {
    const url = redisUrl(t);
    if (!url) return;
    const withRedis = await startGateway(
      stepFunctionsConfig(stack.issuer, stack.sfn, { extra: { redis: { url, keyPrefix: `stepgate-test:${uniqueId()}:` } } }),
    );
    try {
      await waitReady(withRedis);
      const key = `k-${uniqueId()}`;
      const send = (body: string) => post(withRedis, body, { 'idempotency-key': key }, '/workflows/check');
      const first = await send('{"name":"n","id":9007199254740993}');
      assert.equal(first.res.status, 200, first.text);
      const replay = await send('{"id":9007199254740993,"name":"n"}');
      assert.equal(replay.res.headers.get('idempotent-replayed'), 'true');
      const other = await send('{"name":"n","id":9007199254740992}');
      assert.equal(other.res.status, 409);
      assert.equal(other.json<{ code: string }>().code, 'SG_ERR_IDEMPOTENCY_CONFLICT');
    } finally {
      await withRedis.close();
    }
  });
});
