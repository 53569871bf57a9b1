/**
 * argo-server's answers and transport failures, mapped into the catalog at this one boundary
 * (the original error kept as `cause`, for logs; never its text for the gateway's own faults).
 * grpc-gateway turns gRPC codes into HTTP statuses: Unauthenticated 401, PermissionDenied 403,
 * NotFound 404, AlreadyExists 409, InvalidArgument 400, ResourceExhausted 429, Unavailable 503,
 * DeadlineExceeded 504, Internal 500.
 */
import { GatewayError, isGatewayError } from '../../errors.ts';
import { ArgoApiError, ArgoProtocolError } from './client.ts';

export type ArgoOperation = 'submit' | 'get' | 'list';

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function isTimeout(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { name?: string }).name === 'TimeoutError') return true;
    if (TIMEOUT_CODES.has((e as { code?: string }).code ?? '')) return true;
  }
  return false;
}

/** A short name for the failure, for the audit record's `target.error`: never a message. */
export function argoErrorCode(err: unknown): string {
  if (isGatewayError(err)) return err.code;
  if (err instanceof ArgoApiError) return err.grpcCode;
  if (err instanceof ArgoProtocolError) return 'BadResponse';
  if (isTimeout(err)) return 'Timeout';
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code.slice(0, 64);
  }
  return 'Error';
}

const MAX_DETAIL = 500;

export function mapArgoError(err: unknown, operation: ArgoOperation): GatewayError {
  if (isGatewayError(err)) return err;
  const cause = { cause: err };
  if (err instanceof ArgoApiError) {
    switch (err.status) {
      case 401:
        return new GatewayError('SG_ERR_ARGO_UNAUTHENTICATED', 'argo-server did not accept the gateway’s service-account token', cause);
      case 403:
        return new GatewayError(
          'SG_ERR_ARGO_FORBIDDEN',
          `the gateway’s service account may not ${operation === 'submit' ? 'submit this workflow' : `${operation} workflows`} (Kubernetes RBAC)`,
          cause,
        );
      case 404:
        return operation === 'submit'
          ? new GatewayError('SG_ERR_ARGO_TEMPLATE_NOT_FOUND', 'the workflow template this route starts does not exist', cause)
          : new GatewayError('SG_ERR_EXECUTION_NOT_FOUND', 'no workflow with this name is visible to you', cause);
      case 400:
        // Argo judged the arguments against the template (a required parameter, an enum): its
        // words are about the values the caller sent, so they are the caller's to read.
        if (operation === 'submit') {
          return new GatewayError(
            'SG_ERR_ARGO_INVALID_ARGUMENTS',
            `argo-server refused the workflow: ${err.apiMessage.slice(0, MAX_DETAIL)}`,
            cause,
          );
        }
        break;
      case 429:
      case 503:
        return new GatewayError('SG_ERR_ARGO_BUSY', 'argo-server is busy; try again', {
          ...cause,
          headers: { 'retry-after': '1' },
        });
      case 504:
        return new GatewayError('SG_ERR_ARGO_TIMEOUT', 'argo-server did not answer in time', cause);
      default:
    }
    return err.status >= 500
      ? new GatewayError('SG_ERR_ARGO_UNAVAILABLE', `argo-server failed (${err.grpcCode})`, cause)
      : new GatewayError('SG_ERR_ARGO_REFUSED', `argo-server refused the request (${err.grpcCode})`, cause);
  }
  if (isTimeout(err)) return new GatewayError('SG_ERR_ARGO_TIMEOUT', 'argo-server did not answer in time', cause);
  if (err instanceof ArgoProtocolError) {
    return new GatewayError('SG_ERR_ARGO_UNAVAILABLE', 'argo-server answered with something that is not a workflow', cause);
  }
  return new GatewayError('SG_ERR_ARGO_UNAVAILABLE', 'argo-server could not be reached', cause);
}
