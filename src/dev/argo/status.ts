/**
 * argo-server's errors as its grpc-gateway (v1, `runtime.DefaultHTTPProtoErrorHandler`) writes
 * them: the gRPC status as `{"code": <number>, "message": "…", "details": []}` with the HTTP
 * status grpc-gateway maps the code to (`runtime.HTTPStatusFromCode`).
 */

const CODES = {
  Canceled: [1, 408],
  Unknown: [2, 500],
  InvalidArgument: [3, 400],
  DeadlineExceeded: [4, 504],
  NotFound: [5, 404],
  AlreadyExists: [6, 409],
  PermissionDenied: [7, 403],
  ResourceExhausted: [8, 429],
  FailedPrecondition: [9, 400],
  Aborted: [10, 409],
  Unimplemented: [12, 501],
  Internal: [13, 500],
  Unavailable: [14, 503],
  Unauthenticated: [16, 401],
} as const;

export type ArgoStatus = keyof typeof CODES;

export class ArgoStatusError extends Error {
  readonly status: ArgoStatus;
  readonly grpcCode: number;
  readonly httpStatus: number;
  constructor(status: ArgoStatus, message: string) {
    super(message);
    this.name = 'ArgoStatusError';
    this.status = status;
    [this.grpcCode, this.httpStatus] = CODES[status];
  }

  /** The response body. */
  body(): string {
    return JSON.stringify({ code: this.grpcCode, message: this.message, details: [] });
  }
}

export function argoError(status: ArgoStatus, message: string): ArgoStatusError {
  return new ArgoStatusError(status, message);
}
