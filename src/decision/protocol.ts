/**
 * The proxy protocols of decision mode, as plain data and functions: which check requests each
 * proxy sends, how it names the original request, and what it must receive back. No Fastify here,
 * so the listener that uses them can change without touching the protocols.
 */
import { METHODS } from 'node:http';
import type { DecisionHeader } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';

export type ProtocolName = 'envoy' | 'nginx' | 'traefik';

/** A check request as it reached the decision listener. */
export interface CheckRequest {
  readonly method: string;
  /** The request target as received (path and query). */
  readonly url: string;
  /** Node's `rawHeaders` (name, value, name, value …): duplicates are kept so they can be refused. */
  readonly rawHeaders: readonly string[];
}

/** The request a proxy asks about, as the proxy names it (not yet normalized). */
export interface OriginalRequest {
  readonly method: string;
  /** The original request target, origin form (`/path?query`). */
  readonly target: string;
}

export interface DecisionProtocol {
  readonly name: ProtocolName;
  /** Identity headers an allow answer carries for the proxy to pass upstream. */
  readonly upstreamHeaders: readonly DecisionHeader[];
  /** Whether `path` (the check request's path, without its query) is this protocol's endpoint. */
  handles(path: string): boolean;
  /** The original request; throws `SG_ERR_DECISION_REQUEST` when the check does not name it. */
  original(check: CheckRequest): OriginalRequest;
  /** The status a refusal must have for this proxy to pass it on to the client. */
  refusalStatus(status: number): number;
}

/** The value of a header the check must carry exactly once (a second copy could be the client's). */
export function singleHeader(check: CheckRequest, name: string): string {
  let found: string | undefined;
  for (let i = 0; i < check.rawHeaders.length; i += 2) {
    if (check.rawHeaders[i]!.toLowerCase() !== name) continue;
    if (found !== undefined) throw new GatewayError('SG_ERR_DECISION_REQUEST', `more than one ${name} header`);
    found = check.rawHeaders[i + 1]!;
  }
  if (found === undefined || found === '') {
    throw new GatewayError('SG_ERR_DECISION_REQUEST', `the proxy sent no ${name} header`);
  }
  return found;
}

/** Node parses only these methods; CONNECT is refused as gateway mode refuses it. */
const KNOWN_METHODS = new Set(METHODS.filter((method) => method !== 'CONNECT'));

/**
 * An original method as gateway mode would have received it: a method Node's parser accepts
 * (RFC 9110 §9: case-sensitive), so `get` or `FOO` is refused rather than matched or guessed.
 */
export function checkedMethod(method: string): string {
  if (!KNOWN_METHODS.has(method)) {
    throw new GatewayError('SG_ERR_DECISION_REQUEST', `the original method ${JSON.stringify(method.slice(0, 32))} is not accepted`);
  }
  return method;
}

/** An original request target: origin form, as a client's request line would carry it. */
export function checkedTarget(target: string): string {
  if (!target.startsWith('/')) {
    throw new GatewayError('SG_ERR_DECISION_REQUEST', 'the original URI must start with "/"');
  }
  return target;
}

/** The check request's path without its query. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/** A protocol whose check is sent to one `path` and names the original method and URI in headers. */
export function headerProtocol(
  name: ProtocolName,
  config: { readonly path: string; readonly upstreamHeaders: readonly DecisionHeader[] },
  headers: { readonly method: string; readonly uri: string },
  refusalStatus: (status: number) => number = (status) => status,
): DecisionProtocol {
  return {
    name,
    upstreamHeaders: config.upstreamHeaders,
    handles: (path) => path === config.path,
    original: (check) => ({
      method: checkedMethod(singleHeader(check, headers.method)),
      target: checkedTarget(singleHeader(check, headers.uri)),
    }),
    refusalStatus,
  };
}
