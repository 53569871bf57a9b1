/**
 * Listening for the local stand-ins (Step Functions, argo-server): on the given host and port (a
 * free one by default), with every socket tracked so that `close()` also ends kept-alive and
 * hanging connections and a test run exits promptly.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Listening {
  /** `HOST:PORT`, with an IPv6 host in brackets. */
  readonly authority: string;
  close(): Promise<void>;
}

export async function listenTracked(server: Server, host = '127.0.0.1', port = 0): Promise<Listening> {
  const sockets = new Set<Socket>();
  // 'connection' is the TCP socket for https servers too: destroying it ends the TLS session.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const name = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    authority: `${name}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
