/**
 * A real WebSocket upstream (the `ws` server on a Node HTTP server, port 0) and client helpers
 * for the WebSocket tests. The upstream greets each connection, echoes every message, records
 * the handshake it saw, refuses the handshake under `/refuse` with a 403 and never answers it
 * under `/slow`.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

export interface UpstreamConnection {
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly socket: WebSocket;
  readonly received: string[];
  /** Resolves with the close code this side saw. */
  readonly closed: Promise<number>;
}

export interface WsUpstream {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly connections: UpstreamConnection[];
  /** Handshakes that reached the upstream, accepted or refused. */
  handshakes(): number;
  close(): Promise<void>;
}

export const GREETING = 'hello from upstream';

export async function startWsUpstream(): Promise<WsUpstream> {
  const connections: UpstreamConnection[] = [];
  let handshakes = 0;
  // Picks the last protocol offered, to show the upstream's choice (not the first) is relayed.
  const wss = new WebSocketServer({ noServer: true, handleProtocols: (offered) => [...offered].at(-1) ?? false });
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: IncomingMessage, socket, head) => {
    handshakes++;
    if (req.url?.startsWith('/slow')) return; // never answers: the gateway's timeoutMs decides
    if (req.url?.startsWith('/refuse')) {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const received: string[] = [];
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.on('error', () => {});
      ws.on('message', (data, binary) => {
        received.push(binary ? `<${(data as Buffer).length} bytes>` : String(data));
        ws.send(data, { binary });
      });
      connections.push({ url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, socket: ws, received, closed });
      ws.send(GREETING);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    handshakes: () => handshakes,
    async close() {
      for (const c of connections) c.socket.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export type Opened = { readonly kind: 'open'; readonly ws: WebSocket; readonly requestId: string; readonly messages: Queue };
export type Refused = {
  readonly kind: 'refused';
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
};

/** Messages as they arrive, taken one at a time. */
export class Queue {
  readonly #items: string[] = [];
  readonly #waiting: ((item: string) => void)[] = [];

  push(item: string): void {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(item);
    else this.#items.push(item);
  }

  next(): Promise<string> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 5 s')), 5000);
      this.#waiting.push((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  }
}

/** Opens a WebSocket through the gateway; a refused handshake is returned with its problem. */
export function openThrough(
  gatewayUrl: string,
  path: string,
  headers: Record<string, string> = {},
  protocols: string[] = [],
): Promise<Opened | Refused> {
  const url = `${gatewayUrl.replace(/^http/, 'ws')}${path}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers });
    const messages = new Queue();
    let requestId = '';
    ws.on('upgrade', (res) => (requestId = String(res.headers['x-request-id'])));
    ws.on('message', (data, binary) => messages.push(binary ? `<${(data as Buffer).length} bytes>` : String(data)));
    ws.on('open', () => resolve({ kind: 'open', ws, requestId, messages }));
    ws.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ kind: 'refused', status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> });
        ws.terminate();
      });
    });
    ws.on('error', (err) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(err);
    });
  });
}

/** The close code and reason the client saw. */
export function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('already closed');
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
}

/** A clock a test moves by hand: timers fire when `advance` passes them, not with the wall clock. */
export class ManualClock {
  #offset = 0;
  #timers: { at: number; fn: () => void }[] = [];

  now(): number {
    return Date.now() + this.#offset;
  }

  setTimeout(fn: () => void, ms: number): () => void {
    const timer = { at: this.now() + ms, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward and runs every timer now due (including ones those timers set). */
  advance(ms: number): void {
    this.#offset += ms;
    for (;;) {
      const due = this.#timers.find((t) => t.at <= this.now());
      if (!due) return;
      this.#timers = this.#timers.filter((t) => t !== due);
      due.fn();
    }
  }

  /** Timers waiting. */
  pending(): number {
    return this.#timers.length;
  }
}
