/**
 * The upstream half of a WebSocket: the opening handshake (RFC 6455 §4.1) to an HTTP target,
 * sent with the same scrubbed headers, identity headers and assertion as any forwarded request.
 * The gateway answers its client only once the upstream has accepted, so an upstream that refuses
 * is an ordinary 502 to the client rather than a socket that opens and closes at once.
 *
 * The handshake's own headers are the `ws` client's to write: the client's `Sec-WebSocket-Key`,
 * `-Version` and `-Extensions` are not forwarded. Its `Sec-WebSocket-Protocol` list is offered
 * as is, and the upstream's choice is what the client is answered with. No extension is
 * negotiated on either side: the gateway relays messages, and permessage-deflate (RFC 7692)
 * would make it inflate whatever a peer sends, a decompression bomb within one message limit.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import type { ClientTls } from '../config/tls-files.ts';
import { GatewayError } from '../errors.ts';
import { mapUpstreamError } from './upstream-relay.ts';

export interface UpstreamSocketOptions {
  /** `http:`/`https:` origin, and the path and query exactly as forwarded. */
  readonly origin: string;
  readonly pathAndQuery: string;
  /** As `forwardedHeaders` made them (targets/headers.ts). */
  readonly headers: OutgoingHttpHeaders;
  /** The client's `Sec-WebSocket-Protocol`, as received. */
  readonly protocols: string | undefined;
  /** The target's `timeoutMs`, for the opening handshake. */
  readonly timeoutMs: number;
  /** The largest message relayed, either way. */
  readonly maxPayload: number;
  /** The client went away: abandon the handshake. */
  readonly signal: AbortSignal;
  /** The target's private CA and client certificate (`caFile`, `certFile`/`keyFile`), when set. */
  readonly tls?: ClientTls | undefined;
}

/** The handshake headers `ws` writes itself. */
const HANDSHAKE = /^sec-websocket-/;

/** `Sec-WebSocket-Protocol` items (RFC 6455 §4.1: comma-separated tokens). */
export function offeredProtocols(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The WHATWG URL of `pathAndQuery`, which must spell it exactly (its parser re-escapes some queries). */
function exactUrl(origin: string, pathAndQuery: string): URL {
  const url = new URL(pathAndQuery, origin);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  if (url.pathname + url.search !== pathAndQuery) {
    throw new GatewayError('SG_ERR_UPGRADE_REFUSED', 'the request target cannot be sent unchanged as a WebSocket URL');
  }
  return url;
}

/** Resolves with the open upstream socket, paused, or rejects with 502/504 (or the client gone). */
export function openUpstreamSocket(options: UpstreamSocketOptions): Promise<WebSocket> {
  const url = exactUrl(options.origin, options.pathAndQuery);
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(options.headers)) if (!HANDSHAKE.test(name)) headers[name] = value;
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, offeredProtocols(options.protocols), {
      headers,
      perMessageDeflate: false,
      followRedirects: false,
      handshakeTimeout: options.timeoutMs,
      maxPayload: options.maxPayload,
      ...options.tls,
      rejectUnauthorized: true,
    });
    let settled = false;
    const fail = (err: GatewayError) => {
      if (settled) return;
      settled = true;
      options.signal.removeEventListener('abort', onAbort);
      socket.terminate();
      reject(err);
    };
    const onAbort = () => fail(new GatewayError('SG_ERR_CLIENT_ABORTED'));
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('unexpected-response', (_req, res) => {
      res.resume();
      fail(new GatewayError('SG_ERR_UPSTREAM_UPGRADE_REFUSED', `the upstream answered ${res.statusCode} instead of 101`));
    });
    socket.on('error', (err) => {
      const timedOut = /handshake has timed out/.test(err.message);
      fail(
        timedOut
          ? new GatewayError('SG_ERR_UPSTREAM_TIMEOUT', 'the upstream did not accept the WebSocket in time', { cause: err })
          : mapUpstreamError(err),
      );
    });
    socket.once('open', () => {
      if (settled) return;
      settled = true;
      // Held until the client side is open too: nothing the upstream sends first is lost.
      socket.pause();
      options.signal.removeEventListener('abort', onAbort);
      resolve(socket);
    });
  });
}
