/**
 * WebSockets (RFC 6455) on routes with `websocket: true`. The upgrade request has come through
 * the whole pipeline (plugins/upgrade.ts routes it through Fastify); here the upstream's
 * handshake is sent first (targets/websocket-upstream.ts), and only once the upstream has
 * accepted is the client answered `101` with the subprotocol the upstream chose — so a refusal
 * upstream is a 502 problem+json, never a socket that opens and dies. Then messages are relayed
 * both ways with back-pressure, close frames are passed on, and the connection is closed with
 * 1008 (policy violation, §7.4.1) when the caller's token expires or its browser session ends,
 * and with 1001 (going away) when the gateway shuts down.
 *
 * The audit has an `open` record (the decision, counted once in `stepgate_requests_total`) and a
 * `close` record with the bytes and messages each way (plugins/audit.ts).
 *
 * `@fastify/http-proxy`'s WebSocket support is not used: it answers the client's handshake
 * before it connects upstream (an upstream refusal becomes an open-then-closed socket), forwards
 * only the subprotocol its own server picked, sends only the cookie header upstream unless
 * rewritten, registers its own routes and wraps `server.close`, and offers message hooks with no
 * request to tie them to — no open/close record, no per-caller expiry.
 */
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import WebSocket, { WebSocketServer } from 'ws';
import type { AuditWebSocket, WebSocketEnd } from '../audit/record.ts';
import { GatewayError } from '../errors.ts';
import type { BrowserSso } from '../identity/sessions/index.ts';
import type { Accounting } from '../plugins/audit.ts';
import { requestCookies } from '../plugins/session.ts';
import { pendingUpgrade } from '../plugins/upgrade.ts';
import type { ForwardCall, Target } from '../targets/target.ts';

/** When things happen: the system clock, or a test's. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms`; returns what cancels it. */
  setTimeout(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface WebSocketOptions {
  readonly accounting: Accounting;
  /** Present with `sso`: a session's WebSocket is closed when the session ends. */
  readonly sso: BrowserSso | undefined;
  readonly clock?: Clock | undefined;
  /** How often a session's WebSocket checks that the session is still on (default 30 s). */
  readonly sessionCheckMs?: number | undefined;
}

export interface WebSockets {
  /** Takes the upgrade request to `target` and, once both sides are open, relays it. */
  serve(request: FastifyRequest, reply: FastifyReply, target: Target, call: ForwardCall): Promise<void>;
  /** Closes every open WebSocket (1001) and resolves once their close records are written. */
  closeAll(): Promise<void>;
}

/** Node's timers hold at most 2^31 - 1 ms; a later expiry is reached in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;
/** Relaying pauses the sending side while this much waits to be written to the other. */
const HIGH_WATER_BYTES = 1024 * 1024;
/** A peer that does not answer a close frame is cut after this long at shutdown. */
const SHUTDOWN_GRACE_MS = 2000;

/** RFC 6455 §7.4: codes that may be sent in a close frame (1005, 1006 and 1015 may not). */
const sendable = (code: number) =>
  (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

/** Passes a close on to the other side: its code when it may be sent, else a bare close or a cut. */
function passClose(to: WebSocket, code: number, reason: Buffer): void {
  // Already closing: its own close handshake (or ws's time-out) finishes it.
  if (to.readyState === WebSocket.CLOSING || to.readyState === WebSocket.CLOSED) return;
  if (code === 1006) to.terminate();
  else if (sendable(code)) to.close(code, reason.subarray(0, 123));
  else to.close();
}

/** ws's errors for a peer that broke the protocol, as close codes (RFC 6455 §7.4.1). */
const PROTOCOL_ERRORS: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_INVALID_CLOSE_CODE: 1002,
  WS_ERR_INVALID_OPCODE: 1002,
  WS_ERR_EXPECTED_MASK: 1002,
  WS_ERR_UNEXPECTED_MASK: 1002,
  WS_ERR_EXPECTED_FIN: 1002,
  WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH: 1002,
  WS_ERR_UNEXPECTED_RSV_1: 1002,
  WS_ERR_UNEXPECTED_RSV_2_3: 1002,
};

const sizeOf = (data: WebSocket.RawData) =>
  Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;

export function createWebSockets(options: WebSocketOptions): WebSockets {
  const clock = options.clock ?? systemClock;
  const sessionCheckMs = options.sessionCheckMs ?? 30_000;
  /** Each open WebSocket's way to be closed, and its close record written. */
  const open = new Map<WebSocket, { stop: (end: WebSocketEnd) => void; finished: Promise<void> }>();

  /** Runs `fn` at `when` (ms since the epoch), in steps past Node's longest timer. */
  const at = (when: number, fn: () => void): (() => void) => {
    let cancel = clock.setTimeout(() => {
      if (clock.now() >= when) fn();
      else cancel = at(when, fn);
    }, Math.min(Math.max(0, when - clock.now()), MAX_DELAY_MS));
    return () => cancel();
  };

  function relay(request: FastifyRequest, client: WebSocket, upstream: WebSocket): void {
    const closeRecord = options.accounting.upgraded(request);
    const counts = { bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0 };
    let end: WebSocketEnd | undefined;
    let clientCode: number | undefined;
    let settled = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    /** The pending expiry or session check: one at a time, cancelled when the socket ends. */
    let cancelTimer = () => {};
    let ended = false;

    const stop = (why: WebSocketEnd) => {
      end ??= why;
      passClose(client, why === 'shutdown' ? 1001 : 1008, Buffer.from(why.replace('_', ' ')));
      passClose(upstream, 1001, Buffer.from('going away'));
    };
    const settle = () => {
      if (++settled < 2) return;
      ended = true;
      cancelTimer();
      open.delete(client);
      const record: AuditWebSocket = { ...counts, end: end ?? 'client_gone', ...(clientCode ? { closeCode: clientCode } : {}) };
      closeRecord(record);
      finish();
    };
    const pipe = (from: WebSocket, to: WebSocket, count: (bytes: number) => void) => {
      from.on('message', (data, binary) => {
        count(sizeOf(data));
        if (to.readyState !== WebSocket.OPEN) return;
        to.send(data, { binary }, () => {
          if (from.isPaused && to.bufferedAmount < HIGH_WATER_BYTES / 2) from.resume();
        });
        if (to.bufferedAmount > HIGH_WATER_BYTES) from.pause();
      });
      // ws closes a side that broke the protocol itself ('close' follows); the other side is told
      // why before that side's close arrives, perhaps without a code (RFC 6455 §7.4.1).
      from.on('error', (err: Error & { code?: string }) => {
        const code = PROTOCOL_ERRORS[err.code ?? ''];
        if (code) passClose(to, code, Buffer.alloc(0));
      });
    };
    pipe(client, upstream, (n) => {
      counts.bytesIn += n;
      counts.messagesIn++;
    });
    pipe(upstream, client, (n) => {
      counts.bytesOut += n;
      counts.messagesOut++;
    });
    client.on('close', (code, reason) => {
      clientCode = code;
      end ??= code === 1006 ? 'client_gone' : 'client';
      passClose(upstream, code, reason);
      settle();
    });
    upstream.on('close', (code, reason) => {
      end ??= code === 1006 ? 'upstream_gone' : 'upstream';
      passClose(client, code, reason);
      settle();
    });
    open.set(client, { stop, finished });
    upstream.resume();

    const state = request.stepgate;
    const identity = state.identity;
    if (identity?.authMethod === 'bearer' && Number.isFinite(identity.expiresAt)) {
      cancelTimer = at(identity.expiresAt * 1000, () => stop('token_expired'));
    } else if (identity?.authMethod === 'session' && options.sso) {
      const sso = options.sso;
      const cookies = requestCookies(request);
      const issuers = state.match?.route.issuers;
      const later = () => {
        if (!ended) cancelTimer = clock.setTimeout(check, sessionCheckMs);
      };
      const check = () => {
        sso.sessions.resume(cookies, issuers).then(
          (session) => (session.kind === 'active' ? later() : stop('session_ended')),
          // The store or the IdP is down for now: the session has not ended, look again later.
          later,
        );
      };
      later();
    }
  }

  return {
    async serve(request, reply, target, call) {
      const state = request.stepgate;
      const pending = pendingUpgrade(request);
      if (!pending || !target.openWebSocket) throw new GatewayError('SG_ERR_INTERNAL');
      const opening = target.openWebSocket(call);
      state.forwarding = opening;
      const upstream = await opening;
      if (state.gone.aborted) {
        upstream.terminate();
        throw new GatewayError('SG_ERR_CLIENT_ABORTED');
      }
      reply.hijack();
      const server = new WebSocketServer({
        noServer: true,
        clientTracking: false,
        perMessageDeflate: false,
        maxPayload: state.runtime.config.server.bodyLimitBytes,
        // The upstream chose among the client's offers; the client is told its choice, or none.
        handleProtocols: () => upstream.protocol || false,
      });
      server.on('headers', (headers) => {
        // The reply's own headers (`X-Request-Id`, a refreshed session's cookie).
        for (const [name, value] of Object.entries(reply.getHeaders())) {
          for (const v of [value].flat()) if (v !== undefined) headers.push(`${name}: ${String(v)}`);
        }
      });
      let upgraded = false;
      // Synchronous without `verifyClient`; not called at all when the client's socket has gone,
      // and then the response's close records the request as the client gone (plugins/audit.ts).
      server.handleUpgrade(request.raw, pending.socket, pending.take(), (client) => {
        upgraded = true;
        // The socket is the WebSocket's now: its close is no longer the response's.
        reply.raw.detachSocket(pending.socket as Socket);
        relay(request, client, upstream);
      });
      if (!upgraded) upstream.terminate();
    },

    async closeAll() {
      const all = [...open.entries()];
      for (const [, socket] of all) socket.stop('shutdown');
      const timer = setTimeout(() => {
        for (const [client] of all) client.terminate();
      }, SHUTDOWN_GRACE_MS);
      await Promise.all(all.map(([, socket]) => socket.finished));
      clearTimeout(timer);
    },
  };
}
