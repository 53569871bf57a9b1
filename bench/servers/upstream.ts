/**
 * The benchmark's upstream: as fast as Node's HTTP server goes, so what the table measures is the
 * proxy in front of it. Answers every request with a small JSON body and keeps connections alive.
 * Prints `{"url": …}` on stdout once listening; exits on SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = Buffer.from('{"ok":true,"items":[1,2,3]}');

const server = createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  // Drain a body, if any, before answering: a proxy must see the whole exchange.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': BODY.length,
    });
    res.end(BODY);
  });
});
server.headersTimeout = 10_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(
    `${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`,
  );
});
process.once('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
