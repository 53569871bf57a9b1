/**
 * The one error catalog. Every failure a caller can see has a stable `code`, an HTTP status and
 * the audit `reason` it is recorded under; `plugins/errors.ts` is the only place that turns these
 * into responses (RFC 9457 problem details).
 */

/** Audit reasons (DESIGN.md "Audit record"). A denied request always names one of these. */
export type Reason =
  | 'allowed'
  | 'public'
  | 'no_route'
  | 'bad_request'
  | 'missing_token'
  | 'invalid_token'
  | 'token_expired'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'insufficient_scope'
  | 'policy_denied'
  | 'csrf'
  | 'rate_limited'
  | 'rate_limit_unavailable'
  | 'upstream_error'
  | 'audit_unavailable'
  | 'idp_unavailable'
  | 'login_failed'
  | 'session_store_unavailable'
  | 'not_found'
  | 'client_aborted'
  | 'untrusted_peer'
  | 'internal_error';

interface CatalogEntry {
  readonly status: number;
  readonly reason: Reason;
  readonly title: string;
}

/** Every code, its status, its audit reason and the title a caller sees. */
export const ERRORS = {
  SG_ERR_BAD_PATH: { status: 400, reason: 'bad_request', title: 'Request path refused' },
  SG_ERR_BAD_REQUEST: { status: 400, reason: 'bad_request', title: 'Bad request' },
  SG_ERR_BAD_HEADER: { status: 400, reason: 'bad_request', title: 'Request header refused' },
  SG_ERR_METHOD_OVERRIDE: { status: 400, reason: 'bad_request', title: 'Method override refused' },
  SG_ERR_BODY_TOO_LARGE: { status: 413, reason: 'bad_request', title: 'Request body too large' },
  SG_ERR_HEADERS_TOO_LARGE: { status: 431, reason: 'bad_request', title: 'Request headers too large' },
  SG_ERR_REQUEST_TIMEOUT: { status: 408, reason: 'bad_request', title: 'Request not received in time' },
  /** Never seen by the client (it is gone): the status its audit record carries, nginx's 499. */
  SG_ERR_CLIENT_ABORTED: { status: 499, reason: 'client_aborted', title: 'Client closed the connection' },
  SG_ERR_NO_ROUTE: { status: 404, reason: 'no_route', title: 'No route' },
  SG_ERR_MISSING_TOKEN: { status: 401, reason: 'missing_token', title: 'Authentication required' },
  SG_ERR_INVALID_TOKEN: { status: 401, reason: 'invalid_token', title: 'Invalid token' },
  SG_ERR_TOKEN_EXPIRED: { status: 401, reason: 'token_expired', title: 'Token expired' },
  SG_ERR_WRONG_ISSUER: { status: 401, reason: 'wrong_issuer', title: 'Token issuer not accepted' },
  SG_ERR_WRONG_AUDIENCE: { status: 401, reason: 'wrong_audience', title: 'Token audience not accepted' },
  SG_ERR_IDP_UNAVAILABLE: {
    status: 503,
    reason: 'idp_unavailable',
    title: 'Identity provider keys unavailable',
  },
  SG_ERR_INSUFFICIENT_SCOPE: { status: 403, reason: 'insufficient_scope', title: 'Insufficient scope' },
  SG_ERR_POLICY_DENIED: { status: 403, reason: 'policy_denied', title: 'Forbidden by policy' },
  SG_ERR_CSRF: { status: 403, reason: 'csrf', title: 'Cross-site request refused' },
  SG_ERR_LOGIN_FAILED: { status: 400, reason: 'login_failed', title: 'Login failed' },
  SG_ERR_SESSION_STORE_UNAVAILABLE: {
    status: 503,
    reason: 'session_store_unavailable',
    title: 'Session store unavailable',
  },
  SG_ERR_RATE_LIMITED: { status: 429, reason: 'rate_limited', title: 'Too many requests' },
  SG_ERR_RATE_LIMIT_UNAVAILABLE: {
    status: 503,
    reason: 'rate_limit_unavailable',
    title: 'Rate-limit store unavailable',
  },
  SG_ERR_UPSTREAM_UNAVAILABLE: { status: 502, reason: 'upstream_error', title: 'Upstream unavailable' },
  SG_ERR_UPSTREAM_TIMEOUT: { status: 504, reason: 'upstream_error', title: 'Upstream timed out' },
  SG_ERR_UPGRADE_REFUSED: { status: 400, reason: 'bad_request', title: 'Upgrade refused' },
  SG_ERR_UPSTREAM_UPGRADE_REFUSED: {
    status: 502,
    reason: 'upstream_error',
    title: 'Upstream refused the WebSocket upgrade',
  },
  SG_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, reason: 'bad_request', title: 'Unsupported media type' },
  SG_ERR_INVALID_JSON: { status: 400, reason: 'bad_request', title: 'Request body is not JSON' },
  SG_ERR_JSON_TOO_DEEP: { status: 400, reason: 'bad_request', title: 'Request body nested too deeply' },
  SG_ERR_INPUT_TOO_LARGE: { status: 413, reason: 'bad_request', title: 'Execution input too large' },
  SG_ERR_BAD_IDEMPOTENCY_KEY: { status: 400, reason: 'bad_request', title: 'Idempotency-Key refused' },
  SG_ERR_IDEMPOTENCY_UNSUPPORTED: {
    status: 400,
    reason: 'bad_request',
    title: 'Idempotency-Key not supported by this target',
  },
  SG_ERR_IDEMPOTENCY_CONFLICT: { status: 409, reason: 'bad_request', title: 'Idempotency-Key reused' },
  SG_ERR_IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    reason: 'bad_request',
    title: 'Request with this Idempotency-Key in progress',
  },
  SG_ERR_IDEMPOTENCY_UNAVAILABLE: {
    status: 503,
    reason: 'upstream_error',
    title: 'Idempotency store unavailable',
  },
  SG_ERR_EXECUTION_NOT_FOUND: { status: 404, reason: 'not_found', title: 'Execution not found' },
  SG_ERR_EXECUTION_FAILED: { status: 502, reason: 'upstream_error', title: 'Execution failed' },
  SG_ERR_EXECUTION_TIMED_OUT: { status: 504, reason: 'upstream_error', title: 'Execution timed out' },
  SG_ERR_AWS_ACCESS_DENIED: { status: 502, reason: 'upstream_error', title: 'AWS refused the gateway' },
  SG_ERR_AWS_STATE_MACHINE: { status: 502, reason: 'upstream_error', title: 'State machine unavailable' },
  SG_ERR_AWS_BUSY: { status: 503, reason: 'upstream_error', title: 'AWS busy' },
  SG_ERR_AWS_TIMEOUT: { status: 504, reason: 'upstream_error', title: 'AWS timed out' },
  SG_ERR_AWS_REFUSED: { status: 502, reason: 'upstream_error', title: 'AWS refused the request' },
  SG_ERR_AWS_UNAVAILABLE: { status: 502, reason: 'upstream_error', title: 'AWS unavailable' },
  SG_ERR_BAD_PARAMETER: { status: 400, reason: 'bad_request', title: 'Body key not accepted' },
  SG_ERR_ARGO_INVALID_ARGUMENTS: {
    status: 400,
    reason: 'bad_request',
    title: 'argo-server refused the workflow arguments',
  },
  SG_ERR_ARGO_UNAUTHENTICATED: {
    status: 502,
    reason: 'upstream_error',
    title: 'argo-server refused the gateway token',
  },
  SG_ERR_ARGO_FORBIDDEN: {
    status: 502,
    reason: 'upstream_error',
    title: 'argo-server denied the gateway service account',
  },
  SG_ERR_ARGO_TEMPLATE_NOT_FOUND: { status: 502, reason: 'upstream_error', title: 'Workflow template not found' },
  SG_ERR_ARGO_REFUSED: { status: 502, reason: 'upstream_error', title: 'argo-server refused the request' },
  SG_ERR_ARGO_UNAVAILABLE: { status: 502, reason: 'upstream_error', title: 'argo-server unavailable' },
  SG_ERR_ARGO_BUSY: { status: 503, reason: 'upstream_error', title: 'argo-server busy' },
  SG_ERR_ARGO_TIMEOUT: { status: 504, reason: 'upstream_error', title: 'argo-server timed out' },
  SG_ERR_ARGO_TOKEN_UNAVAILABLE: {
    status: 503,
    reason: 'upstream_error',
    title: 'argo-server token unavailable',
  },
  SG_ERR_AUDIT_UNAVAILABLE: { status: 503, reason: 'audit_unavailable', title: 'Audit log unavailable' },
  SG_ERR_UNTRUSTED_PEER: {
    status: 403,
    reason: 'untrusted_peer',
    title: 'Only a trusted proxy may ask for a decision',
  },
  SG_ERR_DECISION_REQUEST: { status: 400, reason: 'bad_request', title: 'Decision request incomplete' },
  SG_ERR_DECISION_TARGET: {
    status: 403,
    reason: 'policy_denied',
    title: 'Route not judged in decision mode',
  },
  SG_ERR_INTERNAL: { status: 500, reason: 'internal_error', title: 'Internal error' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERRORS;

/**
 * A request-time failure. `detail` is shown to the caller, so it never holds token contents;
 * `cause` keeps the original error for logs.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly reason: Reason;
  readonly detail: string;
  /** Extra response headers, e.g. the RFC 6750 challenge. */
  readonly headers: Readonly<Record<string, string>>;
  /** RFC 9457 §3.2 extension members of the problem (a failed execution's `error` and `cause`). */
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    detail?: string,
    options: { cause?: unknown; headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
  ) {
    const entry = ERRORS[code];
    super(detail ?? entry.title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = entry.status;
    this.reason = entry.reason;
    this.detail = detail ?? entry.title;
    this.headers = options.headers ?? {};
    this.extensions = options.extensions ?? {};
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/** A problem in the configuration, with the key path it concerns (`routes[2].allow.scopes`). */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  /** Where in the file, when no key path can be named (a YAML syntax error); 1-based. */
  readonly line?: number;
  readonly column?: number;
}

function describeProblem(problem: ConfigProblem): string {
  const where =
    problem.line === undefined ? problem.path || '(root)' : `line ${problem.line}, column ${problem.column ?? 1}`;
  return `  ${where}: ${problem.message}`;
}

/** Misuse, not a request error: a bad config fails at boot with every problem listed. */
export class ConfigError extends Error {
  readonly code = 'SG_ERR_CONFIG_INVALID';
  readonly problems: readonly ConfigProblem[];
  /** The config file the problems are in, when one was read. */
  readonly file: string | undefined;

  constructor(problems: readonly ConfigProblem[], options?: { cause?: unknown; file?: string }) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      `${options?.file ? `${options.file}: ` : ''}invalid configuration: ${count}\n` +
        problems.map(describeProblem).join('\n'),
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'ConfigError';
    this.problems = problems;
    this.file = options?.file;
  }
}
