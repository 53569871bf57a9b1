/**
 * Real proxies in front of an upstream, with stepgate's decision listener deciding: nginx
 * (`auth_request`) and Traefik (`forwardAuth`), each a child process on free ports with a
 * generated config, stopped with the test. The configs are the ones docs/mesh.md shows.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, reachable, waitFor } from '../../scripts/services/util.ts';

export interface RunningProxy {
  readonly url: string;
  /** What the proxy wrote to stderr (its error log). */
  output(): string;
  close(): Promise<void>;
}

/** The identity headers a proxy copies from the allow answer onto the upstream request. */
export const IDENTITY_HEADERS = [
  'X-Stepgate-Subject',
  'X-Stepgate-Issuer',
  'X-Stepgate-Client',
  'X-Stepgate-Scopes',
  'X-Stepgate-Groups',
  'X-Stepgate-Email',
  'X-Stepgate-Assertion',
  'X-Request-Id',
];

async function run(command: string, args: string[], port: number, cleanup: () => void): Promise<RunningProxy> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    child.kill('SIGTERM');
    await exited;
    cleanup();
  };
  if (!(await waitFor(() => reachable(port), 20_000, 50))) {
    await close();
    throw new Error(`${command} did not listen on ${port}:\n${output}`);
  }
  return { url: `http://127.0.0.1:${port}`, output: () => output, close };
}

const variable = (header: string) => `$stepgate_${header.toLowerCase().replaceAll('-', '_')}`;
const upstreamVariable = (header: string) => `$upstream_http_${header.toLowerCase().replaceAll('-', '_')}`;

/** The nginx config of docs/mesh.md: auth_request to the decision listener, identity headers copied. */
export function nginxConfig(options: {
  prefix: string;
  port: number;
  decisionUrl: string;
  upstreamUrl: string;
}): string {
  const { prefix } = options;
  const copy = IDENTITY_HEADERS.map((h) => `      auth_request_set ${variable(h)} ${upstreamVariable(h)};\n`).join('');
  const set = IDENTITY_HEADERS.map((h) => `      proxy_set_header ${h} ${variable(h)};\n`).join('');
  return `daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  merge_slashes on;
  server {
    listen 127.0.0.1:${options.port};
    location / {
      auth_request /.stepgate-decision;
${copy}      auth_request_set $stepgate_location $upstream_http_location;
      error_page 401 = @stepgate_401;
${set}      proxy_pass ${options.upstreamUrl};
    }
    location = /.stepgate-decision {
      internal;
      proxy_pass ${options.decisionUrl}/nginx;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
    location @stepgate_401 {
      if ($stepgate_location) { return 302 $stepgate_location; }
      return 401;
    }
  }
}
`;
}

export async function startNginx(
  nginxPath: string,
  options: { decisionUrl: string; upstreamUrl: string },
): Promise<RunningProxy> {
  const prefix = mkdtempSync(join(tmpdir(), 'stepgate-nginx-'));
  const port = await freePort();
  writeFileSync(join(prefix, 'nginx.conf'), nginxConfig({ prefix, port, ...options }));
  return run(nginxPath, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', 'stderr'], port, () =>
    rmSync(prefix, { recursive: true, force: true }),
  );
}

/** Traefik's dynamic config of docs/mesh.md: forwardAuth to the decision listener on every route. */
export function traefikDynamicConfig(options: { decisionUrl: string; upstreamUrl: string }): string {
  return `http:
  routers:
    app:
      rule: PathPrefix(\`/\`)
      entryPoints: [web]
      middlewares: [stepgate]
      service: upstream
    # Test only: answers once the file provider has loaded, without asking stepgate.
    ready:
      rule: Path(\`/.traefik-ready\`)
      entryPoints: [web]
      service: upstream
  middlewares:
    stepgate:
      forwardAuth:
        address: ${options.decisionUrl}/traefik
        trustForwardHeader: false
        authResponseHeadersRegex: ^X-Stepgate-
        authResponseHeaders: [X-Request-Id]
        maxResponseBodySize: 65536
  services:
    upstream:
      loadBalancer:
        servers:
          - url: ${options.upstreamUrl}
`;
}

export async function startTraefik(
  traefikPath: string,
  options: { decisionUrl: string; upstreamUrl: string },
): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-traefik-'));
  const port = await freePort();
  writeFileSync(join(dir, 'dynamic.yml'), traefikDynamicConfig(options));
  const args = [
    `--entryPoints.web.address=127.0.0.1:${port}`,
    `--providers.file.filename=${join(dir, 'dynamic.yml')}`,
    '--log.level=ERROR',
    '--global.checkNewVersion=false',
    '--global.sendAnonymousUsage=false',
  ];
  const proxy = await run(traefikPath, args, port, () => rmSync(dir, { recursive: true, force: true }));
  const loaded = await waitFor(async () => (await fetch(`${proxy.url}/.traefik-ready`)).status === 200, 20_000, 50);
  if (!loaded) {
    await proxy.close();
    throw new Error(`Traefik did not load its routes:\n${proxy.output()}`);
  }
  return proxy;
}
