import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { awsErrorCode, mapAwsError } from '../../../src/targets/stepfunctions/aws-errors.ts';

function awsError(name: string, status?: number): Error {
  return Object.assign(new Error(name), {
    name,
    ...(status ? { $metadata: { httpStatusCode: status } } : {}),
  });
}

describe('AWS errors at the boundary', () => {
  const table: [Error, number, string, boolean][] = [
    [awsError('AccessDeniedException', 400), 502, 'SG_ERR_AWS_ACCESS_DENIED', false],
    [awsError('UnrecognizedClientException', 400), 502, 'SG_ERR_AWS_ACCESS_DENIED', false],
    [awsError('ExpiredTokenException', 400), 502, 'SG_ERR_AWS_ACCESS_DENIED', false],
    [awsError('AccessDenied', 403), 502, 'SG_ERR_AWS_ACCESS_DENIED', false],
    [awsError('StateMachineDoesNotExist', 400), 502, 'SG_ERR_AWS_STATE_MACHINE', false],
    [awsError('StateMachineTypeNotSupported', 400), 502, 'SG_ERR_AWS_STATE_MACHINE', false],
    [awsError('ThrottlingException', 400), 503, 'SG_ERR_AWS_BUSY', true],
    [awsError('ExecutionLimitExceeded', 400), 503, 'SG_ERR_AWS_BUSY', true],
    [awsError('SomethingNew', 429), 503, 'SG_ERR_AWS_BUSY', true],
    [awsError('ServiceUnavailable', 503), 503, 'SG_ERR_AWS_BUSY', true],
    [Object.assign(awsError('TimeoutError'), { code: 'ETIMEDOUT' }), 504, 'SG_ERR_AWS_TIMEOUT', false],
    [awsError('InternalServerError', 500), 502, 'SG_ERR_AWS_UNAVAILABLE', false],
    [Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), 502, 'SG_ERR_AWS_UNAVAILABLE', false],
    [awsError('InvalidExecutionInput', 400), 502, 'SG_ERR_AWS_REFUSED', false],
  ];
  for (const [err, status, code, retryAfter] of table) {
    it(`${awsErrorCode(err)} → ${status} ${code}`, () => {
      const mapped = mapAwsError(err);
      assert.equal(mapped.status, status);
      assert.equal(mapped.code, code);
      assert.equal(mapped.cause, err, 'wrapped, not replaced');
      assert.equal('retry-after' in mapped.headers, retryAfter);
    });
  }
});
