/**
 * The execution's `traceHeader` (X-Ray format) from the request's trace context, so a workflow
 * joins the caller's trace. W3C `traceparent` is converted the way X-Ray maps W3C trace ids
 * (`Root=1-<first 8 hex>-<other 24 hex>;Parent=<span id>;Sampled=<flag>`); without one, a
 * well-formed `X-Amzn-Trace-Id` is passed as it is. Anything malformed is ignored, never an error:
 * tracing must not refuse a request.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** W3C Trace Context §3.2: version 00 (later versions keep these fields first). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** StartExecution's limit for traceHeader: 256 printable characters. */
const X_RAY = /^(?=.*Root=1-[0-9a-f]{8}-[0-9a-f]{24})[\x21-\x7e]{1,256}$/;

function one(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value.trim() : undefined;
}

export function fromTraceparent(value: string): string | undefined {
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  const sampled = Number.parseInt(flags, 16) & 1;
  return `Root=1-${traceId.slice(0, 8)}-${traceId.slice(8)};Parent=${parentId};Sampled=${sampled}`;
}

export function traceHeaderFor(headers: IncomingHttpHeaders): string | undefined {
  const traceparent = one(headers['traceparent']);
  const converted = traceparent === undefined ? undefined : fromTraceparent(traceparent);
  if (converted) return converted;
  const amzn = one(headers['x-amzn-trace-id']);
  return amzn !== undefined && X_RAY.test(amzn) ? amzn : undefined;
}
