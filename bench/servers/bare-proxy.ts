/**
 * The baseline: a bare @fastify/reply-from proxy (the engine of @fastify/http-proxy) with no
 * authentication, no policy, no audit and no header rewriting — only what any Fastify proxy does.
 * Its undici pool is configured exactly as stepgate's (src/app.ts), so the difference between the
 * two is what stepgate adds. Usage: `node bench/servers/bare-proxy.ts UPSTREAM_URL`.
 */
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';

const upstream = process.argv[2];
if (!upstream) throw new TypeError('usage: bare-proxy.ts UPSTREAM_URL');

const app = Fastify({ logger: false, keepAliveTimeout: 72_000 });
await app.register(replyFrom, {
  base: upstream,
  disableRequestLogging: true,
  undici: { connections: 256, pipelining: 1, keepAliveTimeout: 30_000 },
});
app.all('/*', (request, reply) => reply.from(request.url));

const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.once('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
