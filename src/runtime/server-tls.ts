/**
 * The public listener with `server.tls`: Node's HTTP/2 server with `allowHTTP1` (ALPN picks `h2`
 * or `http/1.1`), made to behave as the plain HTTP/1 server does, and its certificate kept
 * current: the pair is read again when its files change (or on `reload()`: SIGHUP) and swapped in
 * with `setSecureContext`, so a renewed certificate (cert-manager, certbot, a mounted Secret) is
 * served to new connections without a restart. A pair that does not load — half-written,
 * mismatched, unreadable — is logged and the pair in use kept: a bad renewal never takes the
 * listener down.
 */
import { type IncomingMessage, Server, type ServerOptions, type ServerResponse } from 'node:http';
import { constants as h2, createSecureServer, type Http2ServerRequest, type Http2Session } from 'node:http2';
import type { SecureContextOptions } from 'node:tls';
import type { ServerConfig } from '../config/schema.ts';
import { type KeyPair, readKeyPair, TlsFileError } from '../config/tls-files.ts';
import { watchFiles } from '../config/watch-files.ts';
import type { ReloadLog } from './live-runtime.ts';

/** The limits a plain server is created with (http-app.ts). */
export type Limits = Required<
  Pick<
    ServerOptions,
    'maxHeaderSize' | 'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval' | 'keepAliveTimeout' | 'requireHostHeader'
  >
>;

export type OnRequest = (req: IncomingMessage, res: ServerResponse) => void;

/** What Node's HTTP/1 parser raises for a request not received in time, for HTTP/2. */
const requestTimedOut = () =>
  Object.assign(new Error('request not received in time'), { code: 'ERR_HTTP_REQUEST_TIMEOUT', statusCode: 408 });

/**
 * What HTTP/2 needs before Fastify sees a request. A body's presence is a stream not ended with
 * its headers (RFC 9113 §8.1), not `Content-Length` or `Transfer-Encoding` as in HTTP/1.1 — and
 * Fastify, reading neither, would skip the body of a request that has no `Content-Type` either and
 * forward it empty. Such a body is marked as of unknown length the way HTTP/1.1 says it, chunked
 * (no HTTP/2 client can send that field: it is connection-specific, §8.2.2, and never forwarded).
 * A body not received whole within `requestTimeout` fails the read with a 408, as Node's HTTP/1
 * parser does; only while Fastify reads it — a body no one reads holds nothing up.
 */
function prepareHttp2(req: IncomingMessage, res: ServerResponse, requestTimeout: number): void {
  const { stream } = req as unknown as Http2ServerRequest;
  if (stream.endAfterHeaders) return;
  if (req.headers['content-length'] === undefined) req.headers['transfer-encoding'] = 'chunked';
  // Answered before the body was all in (a refusal, the 408): the client is told to stop sending
  // (RFC 9113 §8.1, RST_STREAM NO_ERROR after a complete response). Until the stream closes Node
  // does not finish the response, and the request would wait that long for its audit record.
  stream.once('finish', () => {
    if (!req.readableEnded) stream.close(h2.NGHTTP2_NO_ERROR);
  });
  const timer = setTimeout(() => {
    if (!req.readableEnded && req.listenerCount('error') > 0) req.emit('error', requestTimedOut());
  }, requestTimeout);
  timer.unref();
  res.once('close', () => clearTimeout(timer));
}

/**
 * Node's HTTP/2 server with `allowHTTP1`, typed as the HTTP/1 server Fastify is given. Node hands
 * an HTTP/1.1 connection to its HTTP/1 code with this server as `this`, which reads the limits
 * from its properties (set here as on a plain server); HTTP/2 gets them its own way (a header
 * list bound in SETTINGS, `prepareHttp2`, and the checks in plugins/request-context.ts).
 * `closeIdleConnections`/`closeAllConnections` (Fastify's and `serve`'s graceful stop) cover
 * both: HTTP/1 through Node's own, sessions by GOAWAY or destroy.
 */
export function createTlsServer(pair: KeyPair, limits: Limits, onRequest: OnRequest): Server {
  const serve: OnRequest = (req, res) => {
    if (req.httpVersionMajor === 2) prepareHttp2(req, res, limits.requestTimeout);
    onRequest(req, res);
  };
  // HPACK-decoded size (each field + 32 bytes): a hard bound, a stream past it is reset unanswered.
  // `maxHeaderBytes` itself is checked per request, for its 431 and its audit record.
  const settings = { maxHeaderListSize: limits.maxHeaderSize * 4 };
  const server = createSecureServer({ cert: pair.cert, key: pair.key, allowHTTP1: true, settings }, serve as never);
  Object.assign(server, limits);
  const sessions = new Set<Http2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.setTimeout(limits.keepAliveTimeout, () => session.close());
  });
  return Object.assign(server, {
    closeIdleConnections() {
      Server.prototype.closeIdleConnections.call(server);
      for (const session of sessions) session.close();
    },
    closeAllConnections() {
      Server.prototype.closeAllConnections.call(server);
      for (const session of sessions) session.destroy();
    },
  }) as unknown as Server;
}

/** The part of a TLS server this needs (`tls.Server`, and Node's HTTP/2 server). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export interface ServerTls {
  /** Reads the pair again now; true when a new pair is being served. */
  reload(): boolean;
  close(): void;
}

export function keepServerTls(
  tls: NonNullable<ServerConfig['tls']>,
  first: KeyPair,
  server: SecureContextTarget,
  log: () => ReloadLog,
): ServerTls {
  let current = first;
  const reload = (): boolean => {
    let next: KeyPair;
    try {
      next = readKeyPair(tls.certFile, tls.keyFile);
    } catch (err) {
      const problem = err instanceof TlsFileError ? { path: `server.tls.${err.key}`, message: err.message } : { path: 'server.tls', message: String(err) };
      log().error({ problems: [problem], serial: current.serial }, 'TLS certificate reload refused: keeping the one in use');
      return false;
    }
    if (next.cert === current.cert && next.key === current.key) return false;
    server.setSecureContext({ cert: next.cert, key: next.key });
    log().info({ serial: next.serial, previous: current.serial }, 'TLS certificate reloaded');
    current = next;
    return true;
  };
  const watcher = watchFiles([tls.certFile, tls.keyFile], reload);
  return { reload, close: () => watcher.close() };
}
