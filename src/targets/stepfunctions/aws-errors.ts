/**
 * AWS errors (from @aws-sdk/client-sfn and client-sts, after the SDK's own retries) sorted into
 * the catalog at this one boundary: the caller sees 502 (we or AWS are misconfigured), 503 with
 * Retry-After (AWS is busy: try again), 504 (AWS did not answer in time). The AWS error code is
 * kept for the audit record, the original error as `cause` for the log.
 */
import { type ErrorCode, GatewayError } from '../../errors.ts';

/** Credentials or permissions: the gateway's role cannot do this. */
const ACCESS = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredToken',
  'ExpiredTokenException',
  'KMSAccessDeniedException',
  'KmsAccessDeniedException',
  'KmsInvalidStateException',
  'CredentialsProviderError',
  'RegionDisabledException',
]);

/** The configured state machine is not there (or cannot take this call). */
const STATE_MACHINE = new Set([
  'StateMachineDoesNotExist',
  'StateMachineDeleting',
  'StateMachineTypeNotSupported',
  'InvalidArn',
]);

/** AWS is busy: retry later. The SDK already retried throttling with back-off. */
const BUSY: Readonly<Record<string, number>> = {
  ExecutionLimitExceeded: 10,
  ThrottlingException: 2,
  Throttling: 2,
  TooManyRequestsException: 2,
  RequestLimitExceeded: 2,
  KmsThrottlingException: 2,
  ServiceUnavailable: 5,
  ServiceUnavailableException: 5,
};

const TIMEOUT = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'AbortError']);
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'ESOCKETTIMEDOUT']);

interface AwsLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

/** The AWS error code of `err` (its `name` for SDK service errors), or a transport code. */
export function awsErrorCode(err: unknown): string {
  const e = (err ?? {}) as AwsLikeError;
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
  return typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code) ? e.code : 'UnknownError';
}

function gatewayError(code: ErrorCode, detail: string, err: unknown, retryAfter?: number): GatewayError {
  return new GatewayError(code, detail, {
    cause: err,
    ...(retryAfter === undefined ? {} : { headers: { 'retry-after': String(retryAfter) } }),
  });
}

/** `what` names the call for the caller: "Step Functions" or "STS". */
export function mapAwsError(err: unknown, what = 'Step Functions'): GatewayError {
  const e = (err ?? {}) as AwsLikeError;
  const code = awsErrorCode(err);
  const status = e.$metadata?.httpStatusCode;
  if (ACCESS.has(code)) {
    return gatewayError(
      'SG_ERR_AWS_ACCESS_DENIED',
      `${what} refused the gateway's credentials (${code})`,
      err,
    );
  }
  if (STATE_MACHINE.has(code)) {
    return gatewayError(
      'SG_ERR_AWS_STATE_MACHINE',
      `the configured state machine cannot be used (${code})`,
      err,
    );
  }
  const busy = BUSY[code] ?? (status === 429 ? 2 : status === 503 ? 5 : undefined);
  if (busy !== undefined) {
    return gatewayError('SG_ERR_AWS_BUSY', `${what} is busy (${code}); retry later`, err, busy);
  }
  if (TIMEOUT.has(code) || TIMEOUT_CODES.has(code) || status === 504) {
    return gatewayError('SG_ERR_AWS_TIMEOUT', `${what} did not answer in time`, err);
  }
  if (status !== undefined && status < 500) {
    return gatewayError('SG_ERR_AWS_REFUSED', `${what} refused the request (${code})`, err);
  }
  return gatewayError('SG_ERR_AWS_UNAVAILABLE', `${what} could not be reached or failed (${code})`, err);
}
