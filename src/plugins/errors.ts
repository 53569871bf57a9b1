/**
 * The one place errors become HTTP: RFC 9457 problem details with the request id, and the
 * RFC 6750 challenge on 401/403. Handlers and hooks only throw.
 */
import type { Socket } from 'node:net';
import type { Http2ServerResponse } from 'node:http2';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ERRORS, GatewayError, isGatewayError } from '../errors.ts';
import { bearerChallenge } from '../identity/bearer-token.ts';

export const PROBLEM_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
}

export function problemFor(err: GatewayError, requestId: string): Problem {
  return {
    ...err.extensions,
    type: `urn:stepgate:problem:${err.reason}`,
    title: ERRORS[err.code].title,
    status: err.status,
    detail: err.detail,
    code: err.code,
    requestId,
  };
}

/** Fastify's own errors, sorted into the catalog; anything unknown is a 500 without details. */
export function toGatewayError(err: unknown): GatewayError {
  if (isGatewayError(err)) return err;
  const code = (err as FastifyError | undefined)?.code;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('SG_ERR_BODY_TOO_LARGE', undefined, { cause: err });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_BAD_URL':
      return new GatewayError('SG_ERR_BAD_REQUEST', undefined, { cause: err });
    default: {
      const status = (err as FastifyError | undefined)?.statusCode;
      if (status === 408) return new GatewayError('SG_ERR_REQUEST_TIMEOUT', undefined, { cause: err });
      return new GatewayError('SG_ERR_INTERNAL', undefined, { cause: err });
    }
  }
}

function challengeFor(err: GatewayError): string | undefined {
  if (err.status === 401) {
    // RFC 6750 §3.1: with no credentials at all, the challenge carries no error code.
    return err.code === 'SG_ERR_MISSING_TOKEN'
      ? bearerChallenge()
      : bearerChallenge('invalid_token', err.detail);
  }
  if (err.code === 'SG_ERR_INSUFFICIENT_SCOPE' || err.code === 'SG_ERR_POLICY_DENIED') {
    return bearerChallenge('insufficient_scope', err.detail);
  }
  return undefined;
}

export function sendProblem(request: FastifyRequest, reply: FastifyReply, err: GatewayError): FastifyReply {
  if (request.stepgate) request.stepgate.error = err;
  const challenge = challengeFor(err);
  if (challenge) reply.header('www-authenticate', challenge);
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  reply.header('cache-control', 'no-store');
  return reply.code(err.status).type(PROBLEM_TYPE).send(problemFor(err, request.id));
}

/** Refusals answered on a bare socket, where Fastify never sees a request. */
export interface SocketRefusals {
  /**
   * Errors the HTTP parser raises before Fastify sees a request (oversized headers, malformed
   * request lines) or while it reads one's body (broken chunked framing, the request time-out).
   */
  clientError(error: NodeJS.ErrnoException, socket: Socket): void;
  /** A request Node hands over without Fastify (CONNECT), refused with `err`. */
  refuse(err: GatewayError, socket: Socket): void;
  /** The same on HTTP/2, where CONNECT comes with a response on its own stream, not a socket. */
  refuseStream(err: GatewayError, res: Http2ServerResponse): void;
}

/**
 * Each refusal is answered with a problem document when the socket can still take one, and
 * accounted for — `account` names the request id (the request in flight, when the bytes were its
 * body).
 */
export function createSocketRefusals(
  account: (err: GatewayError, socket: Socket) => { requestId: string; respond: boolean },
): SocketRefusals {
  const refuse = (err: GatewayError, socket: Socket): void => {
    const { requestId, respond } = account(err, socket);
    // Never write a second status line into a response already under way (RFC 9112 §9.3).
    if (!respond || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify(problemFor(err, requestId));
    socket.end(
      `HTTP/1.1 ${err.status} ${ERRORS[err.code].title}\r\nContent-Type: ${PROBLEM_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
  return {
    refuse,
    refuseStream(err, res) {
      const { requestId } = account(err, res.socket as Socket);
      const body = JSON.stringify(problemFor(err, requestId));
      res.writeHead(err.status, { 'content-type': PROBLEM_TYPE, 'x-request-id': requestId }).end(body);
    },
    clientError(error, socket) {
      // A reset is the client leaving, not a request: one in flight is recorded as client_aborted.
      if (error.code === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const code =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? 'SG_ERR_HEADERS_TOO_LARGE'
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? 'SG_ERR_REQUEST_TIMEOUT'
            : 'SG_ERR_BAD_REQUEST';
      refuse(new GatewayError(code, undefined, { cause: error }), socket);
    },
  };
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err, request, reply) => {
    // A request whose client is gone fails as a consequence (its body read or upstream call was
    // cut): nothing to log or tell anyone; its audit record says client_aborted.
    const gatewayError = request.stepgate?.gone.aborted
      ? new GatewayError('SG_ERR_CLIENT_ABORTED', undefined, { cause: err })
      : toGatewayError(err);
    if (gatewayError.status >= 500) request.log.error({ err }, 'request failed');
    // Fastify asks to close the connection after a body it could not read; HTTP/2 has no such
    // field (RFC 9113 §8.2.2; Node drops it with a warning): the stream is reset instead.
    if (request.raw.httpVersionMajor === 2) reply.removeHeader('connection');
    return sendProblem(request, reply, gatewayError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(request, reply, new GatewayError('SG_ERR_NO_ROUTE')),
  );
}

export default fp(errorsPlugin, { name: 'stepgate-errors' });
