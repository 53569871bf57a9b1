/**
 * The baseline: @fastify/http-proxy (reply-from and undici underneath) with no authentication,
 * no policy, no audit and no header rewriting — the bare proxy the targets name. Its undici
 * pool is configured exactly as stepgate's (src/app.ts), so the difference between the two is what
 * stepgate adds. Usage: `node bench/servers/bare-proxy.ts UPSTREAM_URL`.
 */
import httpProxy from '@fastify/http-proxy';
import Fastify from 'fastify';
import { enableProfiling } from './profiling.ts';

enableProfiling();

const upstream = process.argv[2];
if (!upstream) throw new TypeError('usage: bare-proxy.ts UPSTREAM_URL');

const app = Fastify({ logger: false, keepAliveTimeout: 72_000 });
await app.register(httpProxy, {
  upstream,
  disableRequestLogging: true,
  undici: { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 },
});

const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
