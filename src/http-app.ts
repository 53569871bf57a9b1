/**
 * `createHttpApp`: a Fastify instance on a Node HTTP server with every limit and time-out set, for
 * each public listener (the gateway, and the decision listener). Fastify and Node leave several of
 * them unset by default (`requestTimeout` is none; time-outs are checked only every 30 s). With
 * `tls` the server is Node's HTTP/2 server with `allowHTTP1`: ALPN picks `h2` or `http/1.1`, and
 * HTTP/1.1 connections are served by the same code as plain ones (runtime/server-tls.ts).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Config } from './config/schema.ts';
import { GatewayError } from './errors.ts';
import type { LogDestination } from './logger.ts';
import type { SocketRefusals } from './plugins/errors.ts';
import type { KeyPair } from './config/tls-files.ts';
import { createTlsServer, type Limits, type OnRequest } from './runtime/server-tls.ts';
import { routeUpgrade } from './plugins/upgrade.ts';

export interface HttpAppOptions {
  readonly server: Config['server'];
  readonly logLevel: Config['logging']['level'];
  /** Where the pino logger writes; default stdout. */
  readonly logStream?: LogDestination | undefined;
  /** Peers whose `X-Forwarded-For` sets `request.ip`. */
  readonly trustProxy: false | readonly string[];
  /** Fastify's `rewriteUrl`: the canonical URL the router matches. */
  readonly rewriteUrl: (req: IncomingMessage) => string;
  /** Answers (and audits) what the HTTP parser refused, and CONNECT. */
  readonly refusals: SocketRefusals;
  /** Serve HTTPS and HTTP/2 with this pair (`server.tls`, read and checked). */
  readonly tls?: KeyPair | undefined;
  /**
   * Upgrade requests go through Fastify (plugins/upgrade.ts) to be refused or taken over.
   * Without, Node serves them as plain requests (the decision listener's checks).
   */
  readonly upgrades?: boolean;
}

export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const { server, refusals } = options;
  return Fastify({
    logger: {
      level: options.logLevel,
      ...(options.logStream ? { stream: options.logStream } : {}),
      // Belt and braces: request logging is off, but nothing that carries a credential is logged.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie'],
    },
    // pino's default request log writes the raw URL, which may carry a token in its query.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    trustProxy: options.trustProxy === false ? false : [...options.trustProxy],
    bodyLimit: server.bodyLimitBytes,
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 8192, ignoreTrailingSlash: false, caseSensitive: true },
    rewriteUrl: options.rewriteUrl,
    // The listen URL says https (Fastify reads only this from it: the server is our factory's).
    ...(options.tls ? { https: { allowHTTP1: true } } : {}),
    serverFactory: (handler) => {
      const limits: Limits = {
        maxHeaderSize: server.maxHeaderBytes,
        headersTimeout: Math.min(server.headersTimeoutMs, server.requestTimeoutMs),
        requestTimeout: server.requestTimeoutMs,
        // Node checks the time-outs above only this often (30 s by default).
        connectionsCheckingInterval: Math.min(1000, server.requestTimeoutMs),
        keepAliveTimeout: server.keepAliveTimeoutMs,
        requireHostHeader: true,
      };
      const onRequest = handler as OnRequest;
      const httpServer: Server = options.tls
        ? createTlsServer(options.tls, limits, onRequest)
        : createServer(limits, onRequest);
      // Node hands CONNECT to a 'connect' listener, never to Fastify; without one it drops the
      // socket unanswered and unaudited. stepgate is no forward proxy: refuse it like a bad request.
      httpServer.on('connect', (_req: IncomingMessage, socket: Socket | Http2ServerResponse) => {
        const refusal = new GatewayError('SG_ERR_BAD_REQUEST', 'CONNECT is not supported: stepgate is no forward proxy');
        // HTTP/2 (RFC 9113 §8.5): a stream whose 200 would open the tunnel; it gets the 400 instead.
        if (socket instanceof Http2ServerResponse) return refusals.refuseStream(refusal, socket);
        // Node hands the socket over without its own error handling: a reset must not crash us.
        socket.on('error', () => socket.destroy());
        refusals.refuse(refusal, socket);
      });
      // Node answers an Expect other than 100-continue with a bare 417 that no hook sees, so the
      // request would go unaudited. It is served like any other; the expectation is not
      // forwarded (RFC 9110 §10.1.1 lets a server ignore it).
      httpServer.on('checkExpectation', onRequest);
      if (options.upgrades) httpServer.on('upgrade', routeUpgrade(onRequest));
      return httpServer;
    },
    clientErrorHandler: (error, socket) => refusals.clientError(error, socket),
  });
}
