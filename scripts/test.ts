/**
 * `npm test`: type-check, lint, then every test under test/ with Node's test runner.
 * Runs on the Node 24 that the `node` dependency brings (npm puts node_modules/.bin first on PATH).
 * The services the tests need (scripts/services/: Redis, Chromium, …) are installed when missing
 * and started while tsc and ESLint run, and stopped after. A developer without one gets a green
 * run that names what was skipped; CI (`CI=true`) gets a red one.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { services } from './services/index.ts';
import { isMissing, type MissingService, type Service, type ServiceContext, type StartedService } from './services/types.ts';

const root = join(import.meta.dirname, '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const inCi = process.env['CI'] === 'true';
const say = (line: string) => process.stdout.write(`${line}\n`);

function run(label: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  say(`\n▶ ${label}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit', env });
    child.once('exit', (code) => resolve(code ?? 1));
    child.once('error', () => resolve(1));
  });
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

const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `stepgate needs Node >= 22.18, this is ${process.version}; run it through npm (npm test)\n`,
  );
  process.exit(1);
}

const cacheDir = process.env['STEPGATE_CACHE_DIR'] ?? join(homedir(), '.cache', 'stepgate');
mkdirSync(cacheDir, { recursive: true });
const context: ServiceContext = { root, cacheDir, inCi, say };
const started: StartedService[] = [];
const stopAll = async () => {
  await Promise.all(started.map((service) => service.stop?.()));
};
process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
process.once('SIGTERM', () => void stopAll().then(() => process.exit(143)));

const only = process.argv.slice(2);
type Outcome = { name: string; result: StartedService | MissingService };
// Services start while tsc and ESLint run: Keycloak alone takes about 20 s to boot.
const starting = new Map<Service, Promise<Outcome>>(
  services.map((service) => [
    service,
    service.start(context).then(
      (result) => {
        if (!isMissing(result)) started.push(result);
        return { name: service.name, result };
      },
      (err: unknown) => ({ name: service.name, result: { missing: `${service.name} failed to start: ${String(err)}` } }),
    ),
  ]),
);
const settleAll = () => Promise.all(starting.values());
if (only.length === 0) {
  const checks = [
    await run('typecheck (tsc)', bin('tsc'), ['-p', 'tsconfig.json']),
    await run('lint (eslint)', bin('eslint'), ['.']),
  ];
  if (checks.some((code) => code !== 0)) {
    await settleAll();
    await stopAll();
    process.exit(1);
  }
}

const env: NodeJS.ProcessEnv = { ...process.env, STEPGATE_TEST: '1' };
const missing: string[] = [];
/** Reports what `group` found, adds it to the tests' environment; false when CI must stop. */
async function collect(group: readonly Service[]): Promise<boolean> {
  say('\n▶ services');
  for (const { name, result } of await Promise.all(group.map((service) => starting.get(service)!))) {
    if (isMissing(result)) {
      missing.push(name);
      say(`  ✖ ${name}: ${result.missing}`);
    } else {
      Object.assign(env, result.env);
      say(`  ✔ ${result.note}`);
    }
  }
  if (missing.length === 0) return true;
  if (inCi) {
    say(`✖ CI=true and ${missing.join(', ')} missing: the tests that need them may not be skipped in CI`);
    return false;
  }
  say(`  the tests that need ${missing.join(', ')} will be skipped, each saying so`);
  return true;
}

const files = only.length > 0 ? only : findTests(join(root, 'test')).map((f) => relative(root, f));
// A slow service (a cold Traefik build takes many minutes, Keycloak boots in up to a minute)
// holds back only the test files that use it: the rest run meanwhile, then those files.
const slow = services.filter((service) => service.usedBy);
const needsSlow = (file: string) => {
  const text = readFileSync(join(root, file), 'utf8');
  return slow.some((service) => service.usedBy!.test(text));
};
const later = files.filter(needsSlow);
const first = files.filter((file) => !later.includes(file));
let status = 0;
if (!(await collect(services.filter((service) => !service.usedBy)))) {
  await settleAll();
  await stopAll();
  process.exit(1);
}
if (first.length > 0) {
  status = await run(`tests (${first.length} files)`, process.execPath, ['--test', '--test-reporter=spec', ...first], env);
}
if (!(await collect(slow))) {
  await stopAll();
  process.exit(1);
}
if (later.length > 0) {
  const code = await run(
    `tests that waited for ${slow.map((service) => service.name).join(', ')} (${later.length} files)`,
    process.execPath,
    ['--test', '--test-reporter=spec', ...later],
    env,
  );
  status ||= code;
}
await stopAll();
if (missing.length > 0) say(`\nskipped: the tests that need ${missing.join(', ')} (see above)`);
process.exit(status);
