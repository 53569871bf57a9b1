/**
 * Upgrade requests through the one pipeline. Node hands a request with `Connection: upgrade` to
 * the server's `upgrade` listener with its raw socket, never to Fastify. `routeUpgrade` gives it a
 * response on that socket and routes it through Fastify like any request (the way
 * @fastify/websocket does), so normalization, routing, authentication, policy, rate limits and
 * the audit all run; a refusal is an ordinary problem+json answer on the socket, which is then
 * closed. Only a route with `websocket: true` may take the socket over (routes/websocket.ts).
 *
 * This plugin refuses, before anyone is authenticated, every upgrade that cannot become a
 * WebSocket there: to another protocol (h2c, …), to a route without `websocket: true`, to a
 * gateway-owned endpoint, or with a handshake RFC 6455 §4.2.1 calls malformed (which `ws` would
 * otherwise answer on the socket itself, unaudited).
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { GatewayError } from '../errors.ts';

/** The socket of an upgrade request, watched until it is taken over. */
export interface PendingUpgrade {
  readonly socket: Duplex;
  /**
   * Stops watching the socket and returns the bytes read past the request's head. The socket
   * still flows: whoever takes it must listen for its data at once (synchronously).
   */
  take(): Buffer;
}

/** A client speaks first only after the 101; more than this before it is not a WebSocket. */
const MAX_EARLY_BYTES = 64 * 1024;

const PENDING = Symbol('stepgate.upgrade');

type UpgradeRequest = IncomingMessage & { [PENDING]?: PendingUpgrade };

/** The server's `upgrade` listener: routes the request through `handler` (Fastify's). */
export function routeUpgrade(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    // Node hands the socket over without its own error handling: a reset must not crash us.
    socket.on('error', () => socket.destroy());
    // Read on while the request is judged and the upstream asked, so that a client that goes
    // away is seen (the response's close aborts the request); the server is half-open, so its
    // end is the client gone. What it sends meanwhile is kept for the WebSocket, within limits.
    const early: Buffer[] = [head];
    let size = head.length;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_EARLY_BYTES) socket.destroy();
      else early.push(chunk);
    };
    const onEnd = () => socket.destroy();
    socket.on('data', onData);
    socket.on('end', onEnd);
    const take = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      return Buffer.concat(early);
    };
    (req as UpgradeRequest)[PENDING] = { socket, take };
    const res = new ServerResponse(req);
    // An answer that is not an upgrade ends the connection: the parser is gone from this socket.
    res.shouldKeepAlive = false;
    res.assignSocket(socket as never);
    res.on('finish', () => socket.end());
    handler(req, res);
  };
}

/** The request's socket when it asked for an upgrade (and nothing has taken it yet). */
export function pendingUpgrade(request: FastifyRequest): PendingUpgrade | undefined {
  return (request.raw as UpgradeRequest)[PENDING];
}

/** RFC 9110 §5.6.2 token: what a subprotocol name is (RFC 6455 §4.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** RFC 6455 §4.1: a base64 nonce of 16 bytes. */
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/;

/** Why `request` cannot be a WebSocket handshake, or undefined when it can. */
function handshakeProblem(request: FastifyRequest): string | undefined {
  const { headers } = request;
  if (request.method !== 'GET') return 'a WebSocket handshake is a GET (RFC 6455 §4.1)';
  const key = headers['sec-websocket-key'];
  if (typeof key !== 'string' || !WEBSOCKET_KEY.test(key.trim())) return 'Sec-WebSocket-Key is missing or malformed';
  if (headers['sec-websocket-version'] !== '13') return 'Sec-WebSocket-Version must be 13';
  const protocols = headers['sec-websocket-protocol'];
  if (protocols !== undefined) {
    const offered = protocols.split(',').map((p) => p.trim());
    if (!offered.every((p) => TOKEN.test(p)) || new Set(offered).size !== offered.length) {
      return 'Sec-WebSocket-Protocol must list distinct tokens';
    }
  }
  return undefined;
}

/** Why this upgrade request cannot become a WebSocket here, or undefined when it can. */
function refusal(request: FastifyRequest): GatewayError | undefined {
  const protocol = String(request.headers.upgrade ?? '').trim().toLowerCase();
  if (protocol !== 'websocket') return new GatewayError('SG_ERR_UPGRADE_REFUSED', `no upgrade to "${protocol}"`);
  if (!request.stepgate.match?.route.websocket) {
    return new GatewayError('SG_ERR_UPGRADE_REFUSED', 'this route does not accept WebSocket upgrades');
  }
  const problem = handshakeProblem(request);
  return problem === undefined ? undefined : new GatewayError('SG_ERR_UPGRADE_REFUSED', problem);
}

async function upgradePlugin(app: FastifyInstance): Promise<void> {
  // A callback hook, not an async one: every request passes here, almost none is an upgrade.
  app.addHook('onRequest', (request, _reply, done) => {
    done(pendingUpgrade(request) ? refusal(request) : undefined);
  });
}

export default fp(upgradePlugin, { name: 'stepgate-upgrade', dependencies: ['stepgate-request-context'] });
