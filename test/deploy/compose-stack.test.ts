/**
 * The Compose stack's services started natively, the way docker-compose.yml starts them, and the
 * README's Compose curl lines ("Deploy" → "Compose") run against them in `sh` — so neither the
 * compose file nor the README can drift from what works. Only addresses differ from the file:
 *
 * - **Keycloak** is this run's real Keycloak (scripts/services/keycloak.ts). The realm files of
 *   the directory Compose mounts for `--import-realm` are imported as they are through the admin
 *   API, under a name of their own (the run's `platform` realm has 10 s tokens; this one keeps the
 *   file's lifetimes), and reached at `http://localhost:PORT` as `KC_HOSTNAME` names it in Compose.
 *   Its healthcheck command runs against its management port.
 * - **Redis, the demo upstream, Step Functions and the gateway** run each service's `command`
 *   (ports moved to free ones), and each is "healthy" when its own healthcheck command exits 0,
 *   run natively (`node /app/…` is this checkout's; ports moved), before what depends on it starts.
 * - **The gateway** gets the `stepgate` service's `environment` from the compose file, with only
 *   its addresses, ports and audit file moved, and its config through the service's volume.
 *
 * Compose's own loader is checked in compose.test.ts; the production install in
 * production-install.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse } from 'yaml';
import { KeycloakAdmin, uniqueName } from '../support/keycloak.ts';
import { type KeycloakService, keycloakManagementUrl, keycloakUrl, redisServer } from '../support/services.ts';
import { freePort } from '../support/sso.ts';
import { ROOT, type StepgateProcess, startStepgate } from '../support/stepgate-process.ts';

interface ComposeService {
  command?: string[];
  environment?: Record<string, string>;
  healthcheck: { test: string[]; timeout: string };
  volumes?: string[];
  ports?: string[];
  network_mode?: string;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const service = (name: string): ComposeService => compose.services[name]!;

/** The bind mount of `service` at `target` (`./source:target[:ro]`), as a path in this checkout. */
function mountSource(name: string, target: string): string {
  const volume = service(name).volumes?.map((v) => v.split(':')).find(([, to]) => to === target);
  assert.ok(volume, `${name} mounts something at ${target}`);
  return join(ROOT, volume[0]!);
}

/** The value after `flag` in a service's command. */
function commandOption(name: string, flag: string): string {
  const command = service(name).command!;
  assert.ok(command.includes(flag), `${name}: ${flag}`);
  return command[command.indexOf(flag) + 1]!;
}

/**
 * Runs `argv` with only PATH (and `env`) in its environment, stdin from /dev/null (bash reads
 * ~/.bashrc when its stdin is a socket), killed after `timeoutMs`.
 */
function run(argv: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}) {
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { PATH: process.env['PATH']!, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.once('error', (err) => resolve({ code: null, stdout, stderr: String(err) }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs `name`'s healthcheck (`CMD` form) natively until it exits 0, as Compose decides
 * `service_healthy`: `node` is this Node, `/app/` (the image's WORKDIR) this checkout, and
 * `nativeArgs` moves its address. Fails the test if it never does.
 */
async function healthy(
  name: string,
  nativeArgs: (argv: string[]) => string[],
  env?: Record<string, string>,
): Promise<void> {
  const { test: check, timeout } = service(name).healthcheck;
  assert.equal(check[0], 'CMD', `${name}: an exec-form healthcheck`);
  const argv = nativeArgs(check.slice(1)).map((arg) =>
    arg === 'node' ? process.execPath : arg.startsWith('/app/') ? join(ROOT, arg.slice('/app/'.length)) : arg,
  );
  const timeoutMs = Number(/^(\d+)s$/.exec(timeout)![1]) * 1000;
  let last: Awaited<ReturnType<typeof run>> | undefined;
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    last = await run(argv, { ...(env ? { env } : {}), timeoutMs });
    if (last.code === 0) return;
  }
  assert.fail(`${name}: healthcheck ${argv.join(' ')} never passed: ${last?.code} ${last?.stdout} ${last?.stderr}`);
}

/** Replaces `from` with `to` in every argument (a compose port by the native one). */
const moved = (from: string, to: string) => (argv: string[]) => argv.map((arg) => arg.replaceAll(from, to));

/**
 * Keycloak: the realm files Compose mounts for `--import-realm`, imported as they are in realms of
 * their own; returns the issuer that stands for the compose one (`KC_HOSTNAME`'s shape,
 * `http://localhost:PORT`, so a token's `iss` is the gateway's issuer).
 */
async function importRealms(kc: KeycloakService): Promise<string> {
  assert.ok(service('keycloak').command!.includes('--import-realm'));
  const importDir = mountSource('keycloak', '/opt/keycloak/data/import');
  const admin = new KeycloakAdmin(kc);
  const renamed = new Map<string, string>();
  for (const file of readdirSync(importDir).filter((f) => f.endsWith('.json'))) {
    const realm = JSON.parse(readFileSync(join(importDir, file), 'utf8')) as { realm: string };
    renamed.set(realm.realm, uniqueName(`compose-${realm.realm}`));
    await admin.call('POST', '', { ...realm, realm: renamed.get(realm.realm) });
  }
  after(() => Promise.all([...renamed.values()].map((name) => admin.call('DELETE', `/${name}`))));
  const composeIssuer = new URL(service('stepgate').environment!['STEPGATE_ISSUER']!);
  assert.equal(composeIssuer.origin, service('keycloak').environment!['KC_HOSTNAME']);
  const realm = renamed.get(/^\/realms\/([^/]+)$/.exec(composeIssuer.pathname)![1]!);
  assert.ok(realm, `the issuer's realm ${composeIssuer.pathname} is imported`);
  return `http://localhost:${new URL(kc.url).port}/realms/${realm}`;
}

/** Redis with its command line, on a free loopback port; returns its URL once healthy. */
async function startRedis(binary: string, cwd: string): Promise<string> {
  const port = String(await freePort());
  const [command, ...args] = service('redis').command!;
  assert.equal(command, 'redis-server');
  const redis = execFile(binary, [...args, '--port', port, '--bind', '127.0.0.1'], { cwd });
  after(() => redis.kill());
  const cli = join(dirname(binary), 'redis-cli');
  await healthy('redis', ([name, ...rest]) => (name === 'redis-cli' ? [cli, '-p', port, ...rest] : [name!, ...rest]));
  return `redis://127.0.0.1:${port}`;
}

const listening = /listening on http:\/\/[^:]+:(\d+)/;

/** `stepgate dev upstream|stepfunctions` with its command line on port 0, once healthy. */
async function startDev(name: string): Promise<{ child: StepgateProcess; url: string }> {
  const composePort = commandOption(name, '--port');
  const command = service(name).command!.map((arg, i, all) => (all[i - 1] === '--port' ? '0' : arg));
  const child = await startStepgate(command, { ready: listening });
  const port = listening.exec(child.readyLine)![1]!;
  await healthy(name, moved(`127.0.0.1:${composePort}`, `127.0.0.1:${port}`));
  return { child, url: `http://127.0.0.1:${port}` };
}

/** The ```sh blocks of README "Deploy" → "Compose". */
function readmeComposeBlocks(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const deploy = readme.slice(readme.indexOf('\n## Deploy\n'));
  const section = /\n### Compose\n([\s\S]*?)\n###? /.exec(deploy)![1]!;
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/**
 * Runs `lines` in one `sh` (variables carry from line to line) with only PATH in its
 * environment, as a user's shell would; returns each command line's output and exit status.
 */
async function runLines(lines: string[]): Promise<{ line: string; output: string; exit: number }[]> {
  const script = lines.map((line, i) => (line.startsWith('#') ? line : `${line}\nprintf '\\n@@line %s %s\\n' ${i} "$?"`));
  const { code, stdout, stderr } = await run(['sh', '-c', script.join('\n')], { timeoutMs: 60_000 });
  assert.equal(code, 0, stderr);
  const parts = stdout.split(/\n@@line (\d+) (\d+)\n/);
  const results = [];
  for (let i = 0; i + 2 < parts.length; i += 3) {
    results.push({ line: lines[Number(parts[i + 1])]!, output: parts[i]!, exit: Number(parts[i + 2]) });
  }
  return results;
}

/** An HTTP response as `curl -i` prints it (headers lower-cased). */
interface Curl {
  status: number;
  headers: string;
  body: string;
}

function curlResponse(output: string): Curl {
  const end = output.lastIndexOf('\r\n\r\n');
  const status = /^HTTP\/[\d.]+ (\d{3})/.exec(output)?.[1];
  assert.ok(status && end > 0, `not an HTTP response: ${output}`);
  return { status: Number(status), headers: output.slice(0, end).toLowerCase(), body: output.slice(end + 4) };
}

describe('the Compose stack, natively', () => {
  test("Keycloak's healthcheck command passes against the real Keycloak's management interface", async (t) => {
    const management = keycloakManagementUrl(t);
    if (!management) return;
    const { port } = new URL(management);
    // The image has no curl: bash /dev/tcp to Keycloak's default management port, 9000.
    await healthy('keycloak', moved('/dev/tcp/127.0.0.1/9000', `/dev/tcp/127.0.0.1/${port}`));
  });

  test("the README's Compose curl lines against the services started as docker-compose.yml starts them", async (t) => {
    const kc = keycloakUrl(t);
    const redisBinary = redisServer(t);
    if (!kc || !redisBinary) return;
    const work = await mkdtemp(join(tmpdir(), 'stepgate-compose-stack-'));
    after(() => rm(work, { recursive: true, force: true }));
    const composeEnv = service('stepgate').environment!;

    // The README's first line names the stack's addresses: those of docker-compose.yml.
    const [first, ...lines] = readmeComposeBlocks()[1]!.trimEnd().split('\n');
    const named = Object.fromEntries(first!.split(' ').map((word) => word.split('=') as [string, string]));
    assert.deepEqual(named, {
      ISSUER: composeEnv['STEPGATE_ISSUER'],
      GATEWAY: composeEnv['STEPGATE_PUBLIC_URL'],
      ADMIN: 'http://localhost:9090',
    });
    // ...and each is published on loopback by the service whose network the gateway shares.
    const namespace = /^service:(\w+)$/.exec(service('stepgate').network_mode!)![1]!;
    for (const url of Object.values(named)) {
      const { port } = new URL(url);
      assert.ok(service(namespace).ports!.includes(`127.0.0.1:${port}:${port}`), `${url} is published`);
    }

    // As Compose does: Keycloak, Redis and the dev servers at once, the gateway once all are healthy.
    const [issuer, redisUrl, upstream, stepfunctions] = await Promise.all([
      importRealms(kc),
      startRedis(redisBinary, work),
      startDev('upstream'),
      startDev('stepfunctions'),
    ]);

    // The gateway: its command, its environment with the addresses moved, its config by its volume.
    const [port, adminPort] = [await freePort(), await freePort()];
    const env = {
      ...composeEnv,
      STEPGATE_CONFIG: mountSource('stepgate', composeEnv['STEPGATE_CONFIG']!),
      STEPGATE_ISSUER: issuer,
      STEPGATE_PUBLIC_URL: `http://localhost:${port}`,
      STEPGATE_REDIS_URL: redisUrl,
      STEPGATE_UPSTREAM_URL: upstream.url,
      STEPGATE_SFN_ENDPOINT: stepfunctions.url,
      STEPGATE_PORT: String(port),
      STEPGATE_ADMIN_PORT: String(adminPort),
      STEPGATE_AUDIT_FILE: join(work, 'audit.jsonl'),
    };
    const gateway = await startStepgate(service('stepgate').command!, { ready: /stepgate listening/, env });
    await healthy('stepgate', (argv) => argv, env);

    // The README's lines, only the addresses of the first one changed.
    const native = `ISSUER=${issuer} GATEWAY=http://localhost:${port} ADMIN=http://localhost:${adminPort}`;
    const results = await runLines([native, ...lines]);
    for (const { line, exit } of results) assert.equal(exit, 0, line);

    // Each `curl -i` answers with the status its comment promises.
    const promised = lines.flatMap((line, i) => {
      if (!line.startsWith('curl -i')) return [];
      const comment = lines.slice(0, i).findLast((l) => l.startsWith('#'))!;
      return [Number(/\b([2-5]\d\d)\b/.exec(comment)![1])];
    });
    assert.deepEqual(promised, [200, 403, 401, 202]);
    const responses = results.filter(({ line }) => line.startsWith('curl -i')).map(({ output }) => curlResponse(output));
    assert.deepEqual(responses.map((r) => r.status), promised, responses.map((r) => r.headers + r.body).join('\n\n'));
    const [read, write, anonymous, deploy] = responses as [Curl, Curl, Curl, Curl];

    const echoed = (JSON.parse(read.body) as { headers: Record<string, string> }).headers;
    assert.equal(echoed['x-stepgate-client'], 'reader');
    assert.equal(echoed['x-stepgate-scopes'], 'orders:read');
    assert.match(echoed['x-stepgate-assertion'] ?? '', /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal((JSON.parse(write.body) as { code: string }).code, 'SG_ERR_INSUFFICIENT_SCOPE');
    assert.equal((JSON.parse(anonymous.body) as { code: string }).code, 'SG_ERR_MISSING_TOKEN');
    assert.match(anonymous.headers, /^www-authenticate: bearer/m);
    const execution = JSON.parse(deploy.body) as { executionArn: string; statusUrl: string };
    assert.match(execution.executionArn, /^arn:aws:states:us-east-1:123456789012:execution:deploy:/);
    assert.ok(execution.statusUrl, deploy.body);

    const metrics = results.at(-1)!.output;
    for (const [route, decision, reason, status] of [
      ['orders-read', 'allow', 'allowed', 200],
      ['orders-write', 'deny', 'insufficient_scope', 403],
      ['orders-read', 'deny', 'missing_token', 401],
      ['deploy', 'allow', 'allowed', 202],
    ]) {
      const line = `stepgate_requests_total{route="${route}",decision="${decision}",reason="${reason}",status="${status}"} 1`;
      assert.ok(metrics.split('\n').includes(line), `${line} in:\n${metrics}`);
    }

    assert.deepEqual(await Promise.all([gateway.stop(), upstream.child.stop(), stepfunctions.child.stop()]), [0, 0, 0]);
    const verified = await run([process.execPath, join(ROOT, 'bin', 'stepgate.js'), 'audit', 'verify', env.STEPGATE_AUDIT_FILE]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });
});
