/**
 * Sends a request exactly as written, over a plain socket: HTTP clients normalize paths and
 * headers, and the attacks under test live in what they would normalize away.
 */
import { connect, type Socket } from 'node:net';
import { eventually, type TestGateway } from './gateway.ts';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly raw: string;
}

export function rawRequest(baseUrl: string, request: string, timeoutMs = 5000): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('raw request timed out'));
    }, timeoutMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = raw.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1] ?? 0), headers, body: rest.join('\r\n\r\n'), raw });
    });
    socket.write(request);
  });
}

/** A GET with `Connection: close` and the given extra header lines. */
export function rawGet(
  baseUrl: string,
  target: string,
  headerLines: readonly string[] = [],
): Promise<RawResponse> {
  const host = new URL(baseUrl).host;
  const lines = [`GET ${target} HTTP/1.1`, `Host: ${host}`, ...headerLines, 'Connection: close', '', ''];
  return rawRequest(baseUrl, lines.join('\r\n'));
}

/** A raw connection a test drives step by step: write, watch what comes back, reset. */
export interface RawConnection {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves once what was received satisfies `done` (or rejects after `timeoutMs`). */
  until(done: (received: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Ends the connection with a TCP RST, as a client that crashed or gave up. */
  reset(): void;
  /** Resolves once the peer has closed the connection, or after `timeoutMs` (then destroys it). */
  closed(timeoutMs?: number): Promise<void>;
}

export async function openRaw(baseUrl: string): Promise<RawConnection> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    wake();
  });
  socket.on('close', wake);
  const received = () => Buffer.concat(chunks).toString('latin1');
  return {
    socket,
    received,
    until(done, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (done(received())) {
            cleanup();
            resolve(received());
          } else if (socket.closed) {
            cleanup();
            reject(new Error(`connection closed; received ${JSON.stringify(received().slice(0, 300))}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out; received ${JSON.stringify(received().slice(0, 300))}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    reset: () => socket.resetAndDestroy(),
    closed(timeoutMs = 5000) {
      if (socket.closed) return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(() => socket.destroy(), timeoutMs);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}

/**
 * Posts a JSON `body` to an execution route and resets the connection once its intent record is
 * written (the target is about to start something); the request's id. For the client-abort tests
 * of every execution target.
 */
export async function postThenReset(gateway: TestGateway, path: string, token: string, body: string): Promise<string> {
  const conn = await openRaw(gateway.url);
  conn.socket.write(
    [
      `POST ${path} HTTP/1.1`,
      `Host: ${new URL(gateway.url).host}`,
      `Authorization: Bearer ${token}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
  const intent = await eventually(
    async () => (await gateway.auditRecords()).find((r) => r.http.path === path && r.phase === 'intent'),
    'the intent record',
  );
  conn.reset();
  return intent.requestId;
}
