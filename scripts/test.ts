/**
 * `npm test`: type-check, lint, then every test under test/ with Node's test runner.
 * Runs on the Node 24 that the `node` dependency brings (npm puts node_modules/.bin first on PATH).
 * Finds Redis and Chromium for the tests that need them (starting a private redis-server, or
 * installing Debian's chromium when running as root); a developer without them gets a green run
 * that names what was skipped; CI (`CI=true`) gets a red one.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const inCi = process.env['CI'] === 'true';
const say = (line: string) => process.stdout.write(`${line}\n`);

function run(label: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  say(`\n▶ ${label}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env });
  return result.status ?? 1;
}

function findTests(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'support' ? [] : findTests(path);
      return entry.name.endsWith('.test.ts') ? [path] : [];
    })
    .sort();
}

function reachable(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.end('PING\r\n');
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Redis: REDIS_URL, else 127.0.0.1:6379, else a private redis-server on a free port. */
async function findRedis(): Promise<{ url?: string; child?: ChildProcess; note: string }> {
  if (process.env['REDIS_URL'])
    return { url: process.env['REDIS_URL'], note: `Redis at ${process.env['REDIS_URL']}` };
  if (await reachable(6379)) return { url: 'redis://127.0.0.1:6379', note: 'Redis at 127.0.0.1:6379' };
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) return { note: 'no Redis: not at 127.0.0.1:6379 and no redis-server installed' };
  const port = await freePort();
  const child = spawn(
    which.stdout.trim(),
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  for (let i = 0; i < 50 && !(await reachable(port)); i++) await new Promise((r) => setTimeout(r, 100));
  return { url: `redis://127.0.0.1:${port}`, child, note: `Redis started for this run on 127.0.0.1:${port}` };
}

/** Chromium from Debian; installed with apt-get when missing and running as root. */
function findChromium(): { path?: string; note: string } {
  const path = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
  if (existsSync(path)) return { path, note: `Chromium at ${path}` };
  if (process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    say('▶ installing Chromium (Debian package chromium) for the browser tests');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], {
      stdio: 'inherit',
      env,
    });
    if (existsSync(path)) return { path, note: `Chromium installed at ${path}` };
  }
  return { note: 'no Chromium: /usr/bin/chromium is missing (apt-get install chromium)' };
}

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `stepgate needs Node >= 22.18, this is ${process.version}; run it through npm (npm test)\n`,
  );
  process.exit(1);
}

const only = process.argv.slice(2);
if (only.length === 0) {
  if (run('typecheck (tsc)', bin('tsc'), ['-p', 'tsconfig.json']) !== 0) process.exit(1);
  if (run('lint (eslint)', bin('eslint'), ['.']) !== 0) process.exit(1);
}

const redis = await findRedis();
const chromium = findChromium();
say(`\n▶ services: ${redis.note}; ${chromium.note}`);
const missing = [!redis.url && 'Redis', !chromium.path && 'Chromium'].filter(Boolean);
if (missing.length > 0) {
  if (inCi) {
    say(`✖ CI=true and ${missing.join(' and ')} missing: the tests that need them may not be skipped in CI`);
    process.exit(1);
  }
  say(`  the tests that need ${missing.join(' and ')} will be skipped, each saying so`);
}

const files = only.length > 0 ? only : findTests(join(root, 'test')).map((f) => relative(root, f));
const status = run(
  `tests (${files.length} files)`,
  process.execPath,
  ['--test', '--test-reporter=spec', ...files],
  {
    ...process.env,
    STEPGATE_TEST: '1',
    ...(redis.url ? { STEPGATE_TEST_REDIS_URL: redis.url } : {}),
    ...(chromium.path ? { STEPGATE_TEST_CHROMIUM: chromium.path } : {}),
  },
);
redis.child?.kill();
if (missing.length > 0) say(`\nskipped: the tests that need ${missing.join(' and ')} (see above)`);
process.exit(status);
